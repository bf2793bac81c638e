"""Connect-to-confirmed-unlock on the virtual radio: ATT round trips and where the time goes,
cold and warm side by side.

Prints figures; passes or fails nothing. Run: .venv/bin/python benchmarks/ble_unlock_latency.py

Cold: a client that knows nothing (an empty handle cache): it scans for the lock by its
advertising key, connects, discovers the lock service, subscribes and opens the session.
Warm: the same client a moment later: it connects straight to the address it saw, takes the
handles it verified there from the platform's cache (bleak's use_cached_services, as the
virtual radio honours it), subscribes and opens the session; requests go without response.

Each run ends with one unlock, to the confirmed answer (motor travel is the lock's own figure).
ATT round trips are counted in Bumble's GATT client (benchmarks/att_counter.py: every request
that waits for a response, by what it is for); commands and notifications are one-way. The
virtual link has no connection intervals, so its milliseconds are not radio timings: the last
line projects each exchange onto a 30 ms connection interval (round trips + notifications,
each ~one interval, + the travel and processing measured here).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import att_counter
from virtual_lock import provisioned_lock

import hemlas.client
from hemlas.client import LockClient
from hemlas.handle_cache import HandleCache

CONNECTION_INTERVAL_S = 0.030
GOAL_ROUND_TRIPS = 4  # issue 14: connect to the first request, at MTU 247
_find_lock = hemlas.client.find_lock
_scan_s: list[float] = []


async def _timed_find_lock(*args, **kwargs):
    start = time.perf_counter()
    try:
        return await _find_lock(*args, **kwargs)
    finally:
        _scan_s.append(time.perf_counter() - start)


hemlas.client.find_lock = _timed_find_lock  # to split the scan out of connect()


async def one_run(vb, key, mtu, cache: HandleCache) -> dict:
    vb.set_bolt(1.0)  # locked: each run unlocks for real
    _scan_s.clear()
    before = att_counter.snapshot()
    t0 = time.perf_counter()
    lock = LockClient(vb.lock_id, key=key, mtu=mtu, handle_cache=cache)
    await lock.connect()  # find, link, MTU, discovery, subscribe, and the HELLO of the session
    t1 = time.perf_counter()
    connect = att_counter.since(before)
    before = att_counter.snapshot()
    result = await lock.unlock()
    t2 = time.perf_counter()
    unlock = att_counter.since(before)
    await lock.disconnect()
    await asyncio.sleep(0.3)  # let the lock advertise again
    return {"scan": sum(_scan_s), "scans": len(_scan_s), "connect": t1 - t0, "request": t2 - t1,
            "travel": result.travel_ms / 1000,
            **{f"c_{k}": v for k, v in connect.items()}, **{f"u_{k}": v for k, v in unlock.items()}}


def _median(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _rows(cold: dict, warm: dict) -> list[tuple[str, str, str]]:
    def both(fmt, value):
        return fmt(cold, value(cold)), fmt(warm, value(warm))

    def n(_m, v):
        return f"{v:.0f}"

    def ms(_m, v):
        return f"{v * 1000:.1f} ms"

    def scan(m, v):
        return f"{v * 1000:.1f} ms" if m["scans"] else "none (direct)"

    def projected(m):
        exchanges = m["c_round_trips"] + m["c_notifications"] + m["u_round_trips"] + m["u_notifications"]
        return exchanges * CONNECTION_INTERVAL_S + m["request"]

    return [
        ("ATT round trips to the first request", "", ""),
        ("  link / MTU exchange", *both(n, lambda m: m["c_mtu"])),
        ("  service discovery", *both(n, lambda m: m["c_discovery"])),
        ("  subscribe (CCCD write)", *both(n, lambda m: m["c_subscribe"])),
        ("  HELLO (writes with response)", *both(n, lambda m: m["c_write"] + m["c_read"] + m["c_other"])),
        ("  total", *both(n, lambda m: m["c_round_trips"])),
        ("first request (unlock)", "", ""),
        ("  ATT round trips", *both(n, lambda m: m["u_round_trips"])),
        ("  writes without response", *both(n, lambda m: m["u_commands"])),
        ("  answer notifications", *both(n, lambda m: m["u_notifications"])),
        ("time on the virtual link", "", ""),
        ("  scan", *both(scan, lambda m: m["scan"])),
        ("  connect (scan included)", *both(ms, lambda m: m["connect"])),
        ("  request - motor travel", *both(ms, lambda m: m["request"] - m["travel"])),
        ("30 ms interval: connect+unlock", *both(ms, projected)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with provisioned_lock() as (vb, key):
        for label, mtu in (("MTU 247", 247), ("MTU 23", None)):
            # Cold: a new, empty cache every run, so every run scans and discovers.
            cold = _median([asyncio.run(one_run(vb, key, mtu, HandleCache(in_memory=True)))
                            for _ in range(args.runs)])
            warm_cache = HandleCache(in_memory=True)
            asyncio.run(one_run(vb, key, mtu, warm_cache))  # learns the address and handles
            warm = _median([asyncio.run(one_run(vb, key, mtu, warm_cache)) for _ in range(args.runs)])
            print(f"{label}: median of {args.runs} unlocks on the virtual link "
                  f"(advertising every {vb.board['ble']['adv_interval_ms']} ms)")
            print(f"  {'':38} {'cold: no cache, a scan':>24} {'warm: cached handles, known address':>37}")
            for name, c, w in _rows(cold, warm):
                print(f"  {name:38} {c:>24} {w:>37}")
            if mtu == 247:
                verdict = "met" if warm["c_round_trips"] <= GOAL_ROUND_TRIPS else "NOT met"
                print(f"  goal: connect to first request <= {GOAL_ROUND_TRIPS} ATT round trips at MTU 247: "
                      f"{verdict} ({warm['c_round_trips']:.0f} warm, {cold['c_round_trips']:.0f} cold)")
            print(f"  travel {cold['travel'] * 1000:.0f} ms in both; the projection is round trips + "
                  "notifications x 30 ms + the measured request\n")


if __name__ == "__main__":
    main()
