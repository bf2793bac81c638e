"""Connect-to-confirmed-unlock on the virtual radio: where the time goes, and ATT round trips.

Prints figures; passes or fails nothing. Run: .venv/bin/python benchmarks/ble_unlock_latency.py

Each run: find the lock by id (discovery), connect (link + MTU exchange + service discovery +
subscribing to responses), then one unlock request until the confirmed answer (request), of
which motor travel is the lock's own figure. ATT round trips are counted in Bumble's GATT
client (every request that waits for a response); notifications are counted separately.
The virtual link has no connection intervals, so its milliseconds are not radio timings: the
last table projects the same exchange onto a 30 ms connection interval (round trips x
interval + the processing measured here).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import att_counter
from virtual_lock import provisioned_lock

from hemlas.client import LockClient, find_lock
from hemlas.firmware import wire

CONNECTION_INTERVAL_S = 0.030


async def one_run(vb, key, mtu) -> dict:
    vb.set_bolt(1.0)  # locked: each run unlocks for real
    t0 = time.perf_counter()
    device = await find_lock(vb.lock_id, adv_keys=[key.adv_key])
    t1 = time.perf_counter()
    before = att_counter.snapshot()
    lock = LockClient(vb.lock_id, key=key, mtu=mtu)
    await lock.connect(device)  # link, MTU, discovery, subscribe, and the HELLO of the session
    t2 = time.perf_counter()
    connect_att = att_counter.since(before)
    before = att_counter.snapshot()
    result = await lock.unlock()
    t3 = time.perf_counter()
    unlock_att = att_counter.since(before)
    await lock.disconnect()
    await asyncio.sleep(0.3)  # let the lock advertise again
    return {"discovery": t1 - t0, "connection": t2 - t1, "request": t3 - t2,
            "travel": result.travel_ms / 1000, "connect_rt": connect_att["round_trips"],
            "connect_notifications": connect_att["notifications"],
            "unlock_rt": unlock_att["round_trips"], "unlock_notifications": unlock_att["notifications"]}


def minimum_round_trips(mtu: int) -> int:
    """Each fragment of the request is one write and its response."""
    return len(wire.fragment(wire.encode_frame(wire.OP_UNLOCK, 0, 1), mtu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with provisioned_lock() as (vb, key):
        for label, mtu, att_mtu in (("MTU 247", 247, 247), ("MTU 23 ", None, 23)):
            runs = [asyncio.run(one_run(vb, key, mtu)) for _ in range(args.runs)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            processing = med["request"] - med["travel"]
            print(f"{label}: median of {args.runs} unlocks on the virtual link")
            print(f"  discovery  {med['discovery'] * 1000:7.1f} ms   (find by id; advertising every "
                  f"{vb.board['ble']['adv_interval_ms']} ms)")
            print(f"  connection {med['connection'] * 1000:7.1f} ms   ({med['connect_rt']:.0f} ATT round trips:"
                  f" MTU, lock service discovery, subscribe, HELLO)")
            print(f"  request    {med['request'] * 1000:7.1f} ms   = motor travel {med['travel'] * 1000:.0f} ms"
                  f" + processing {processing * 1000:.1f} ms")
            print(f"  unlock ATT round trips: {med['unlock_rt']:.0f} (protocol minimum "
                  f"{minimum_round_trips(att_mtu)}), response notifications: {med['unlock_notifications']:.0f}")
            rt_total = (med["connect_rt"] + med["connect_notifications"] + med["unlock_rt"]
                        + med["unlock_notifications"])
            projected = rt_total * CONNECTION_INTERVAL_S + med["travel"] + processing
            print(f"  at a 30 ms connection interval: connect+unlock ~ {projected * 1000:.0f} ms "
                  f"({rt_total:.0f} exchanges x 30 ms + travel + processing), plus discovery\n")


if __name__ == "__main__":
    main()
