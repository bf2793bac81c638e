"""A day of home care under each power policy: average current, battery life, unlock latency.

Prints figures; passes or fails nothing. Run: .venv/bin/python benchmarks/power_policy.py
(about six minutes; --quick for fewer trials and settings).

Composed from what the virtual board measures, never from typed durations:
- per wake cycle: the firmware sleeps and wakes by itself; the battery model integrates the
  current of every power state it enters (deep sleep, the chip's start-up, awake, advertising)
  over whole cycles, giving the charge per cycle and the cycle's period;
- per operation: a client starts looking for the lock at a random moment of its cycle, finds
  it in a window, connects, opens a session and unlocks (or locks); the time to the confirmed
  result is the latency, and the charge the model delivered until the lock sleeps again, less
  what idle cycling would have drawn in that time, is the operation's own charge.
A day is 24 h of idle cycling plus --ops operations. The board's figures (board file "power")
set the currents; the firmware's own start-up runs on the host CPU here, faster than on an
ESP32, and the board's boot_ms stands for the chip's ROM and MicroPython start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from virtual_lock import provisioned_lock

from hemlas.client import LockClient
from hemlas.firmware import wire

DAYS_PER_MONTH = 30.44


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("the lock did not reach the expected power state")
        time.sleep(0.005)


def idle_cycle(vb, policy, cycles: int) -> tuple[float, float]:
    """(average mA while idle, cycle period s), from whole sleep/wake cycles of the model."""
    if not policy:
        start_q, start_t = vb.charge_used_mah(), time.monotonic()
        time.sleep(3.0)
        return (vb.charge_used_mah() - start_q) / ((time.monotonic() - start_t) / 3600), 0.0
    _wait(lambda: vb.pins.asleep, 10)
    first = vb.wakes
    _wait(lambda: vb.wakes > first, policy["sleep_ms"] / 1000 + 5)  # a cycle starts at a wake
    start_q, start_t, start_w = vb.charge_used_mah(), time.monotonic(), vb.wakes
    _wait(lambda: vb.wakes >= start_w + cycles, cycles * (policy["sleep_ms"] / 1000 + 5))
    hours = (time.monotonic() - start_t) / 3600
    return (vb.charge_used_mah() - start_q) / hours, hours * 3600 / cycles


async def _operate(vb, key, action: str) -> None:
    async with LockClient(vb.lock_id, key=key, scan_timeout=60) as lock:
        result = await (lock.unlock() if action == "unlock" else lock.lock())
        if result.state not in (wire.LOCK_LOCKED, wire.LOCK_UNLOCKED):
            raise RuntimeError(f"the {action} did not complete: {result}")


def at_wake(vb, key, policy) -> float:
    """Seconds from the chip running again after a sleep to a confirmed unlock: the part of
    the worst case that is not the sleep and the chip's start-up."""
    _wait(lambda: vb.pins.asleep, policy["awake_ms"] / 1000 + 5)
    woken = vb.wakes
    _wait(lambda: vb.wakes > woken, policy["sleep_ms"] / 1000 + 5)
    start = time.monotonic()
    asyncio.run(_operate(vb, key, "unlock"))
    return time.monotonic() - start


def operations(vb, key, policy, idle_ma: float, period_s: float, trials: int, rng) -> tuple[list, list]:
    """(latencies s, extra mAh per operation) over trials started at random cycle phases."""
    latencies, charges = [], []
    for i in range(trials):
        time.sleep(rng.uniform(0, period_s) if policy else rng.uniform(0, 0.5))
        q0, t0 = vb.charge_used_mah(), time.monotonic()
        asyncio.run(_operate(vb, key, "unlock" if i % 2 == 0 else "lock"))
        latencies.append(time.monotonic() - t0)
        if policy:
            _wait(lambda: vb.pins.asleep, policy["awake_ms"] / 1000 + 5)  # its window is over
        else:
            time.sleep(0.5)
        spent_h = (time.monotonic() - t0) / 3600
        charges.append(vb.charge_used_mah() - q0 - idle_ma * spent_h)
    return latencies, charges


def measure(board: str, policy, trials: int, cycles: int, ops_per_day: int, rng) -> dict:
    with provisioned_lock(wire.ROLE_STAFF, board, policy) as (vb, key):
        policy = vb.board["power"].get("policy")  # the board's own, or the one asked for
        capacity = vb.board["battery"]["capacity_mah"]
        idle_ma, period = idle_cycle(vb, policy, cycles)
        latencies, charges = operations(vb, key, policy, idle_ma, period, trials, rng)
        if policy:
            bound = policy["sleep_ms"] / 1000 + vb.board["power"]["boot_ms"] / 1000 + at_wake(vb, key, policy)
        else:
            bound = max(latencies)
    day_mah = idle_ma * 24 + ops_per_day * statistics.mean(charges)
    return {
        "board": board, "policy": "always awake" if not policy else f"{policy['awake_ms']} ms awake / {policy['sleep_ms'] / 1000:g} s asleep",
        "period_s": period, "idle_ma": idle_ma, "op_mah": statistics.mean(charges), "avg_ma": day_mah / 24,
        "months": capacity / day_mah / DAYS_PER_MONTH, "median_s": statistics.median(latencies),
        "worst_s": max(latencies), "bound_s": bound, "trials": len(latencies),
    }


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'board':14} {'policy':28} {'idle mA':>8} {'mAh/op':>7} {'avg mA':>8} {'months':>7} "
          f"{'median s':>9} {'worst s':>8} {'bound s':>8}")
    for r in rows:
        print(f"{r['board']:14} {r['policy']:28} {r['idle_ma']:8.3f} {r['op_mah']:7.4f} {r['avg_ma']:8.3f} "
              f"{r['months']:7.1f} {r['median_s']:9.2f} {r['worst_s']:8.2f} {r['bound_s']:8.2f}")


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        ax.scatter(r["bound_s"], r["months"], color="tab:blue")
        ax.annotate(r["policy"], (r["bound_s"], r["months"]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("worst-case time to a confirmed unlock (s)")
    ax.set_ylabel("battery life (months)")
    ax.set_title("esp32c3 lock: power policy trade-off (virtual board)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10, help="lock operations a day (the routine: visits)")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer trials and settings")
    parser.add_argument("--plot", default="/tmp/hemlas-power-policy.png")
    args = parser.parse_args()
    rng = random.Random(5)
    trials = 3 if args.quick else args.trials
    print(f"a day of home care: 24 h idle plus {args.ops} lock operations, each a connection of its own")
    print("idle mA: average over whole sleep/wake cycles; mAh/op: an operation's own charge;\n"
          "median/worst: measured from random moments of the cycle; bound: the sleep + the chip's "
          "start-up + a client starting at the wake")

    boards = [measure(name, "board", trials, args.cycles, args.ops, rng)
              for name in ("virtual", "esp32-devkitc", "esp32c3")]
    print_table("each board's own policy", boards)

    settings = [None] + [{"awake_ms": awake, "sleep_ms": sleep, "adv_interval_ms": 100}
                         for awake, sleep in ((600, 2000), (600, 5000), (600, 12000), (300, 12000), (600, 30000))]
    if args.quick:
        settings = settings[1:4]
    tradeoff = [measure("esp32c3", policy, trials, args.cycles, args.ops, rng) for policy in settings]
    print_table("trade-off on the esp32c3 lock (5800 mAh Li-SOCl2)", tradeoff)
    plot(tradeoff, args.plot)
    print(f"\nplot: {args.plot}")
    print("reference: Nuki 'several months' on 4xAA at 8-10 operations a day; Kwikset more than a year at 10")


if __name__ == "__main__":
    main()
