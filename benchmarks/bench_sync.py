"""The event-log sync rate from a virtual lock: events per second into the fleet store.

Prints figures; passes or fails nothing. Run: .venv/bin/python benchmarks/bench_sync.py

The lock's flash is given a full log before it boots (7 segments of 64 records, written in
the firmware's own record format), so the first sync moves a whole log over the virtual radio
(LOG_READ pages of wire.MAX_LOG_RECORDS) into SQLite. Then an incremental sync after a few new
events, as a field connection does. The virtual link has no connection interval: on a real
radio each page is about one ATT write and one notification per 30 ms interval, projected
in the last line.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from hemlas.client import LockClient
from hemlas.firmware import wire
from hemlas.fleet.store import FleetStore
from hemlas.keyfile import StaffKey
from hemlas.radio.config import ENV_VAR
from hemlas.sim import VirtualBoard, VirtualRadio
from hemlas.sim.flashlog import write_event_log
from hemlas.sync import sync_log

SEGMENTS, PER_SEGMENT = 7, 64
CONNECTION_INTERVAL_S = 0.030
RUNS = 3


def write_log(flash: Path, key_id: int, start: int) -> int:
    """A full log in the firmware's segment files; returns the number of records."""
    count = SEGMENTS * PER_SEGMENT
    return write_event_log(flash, ((start + 600 * seq, wire.EVENT_UNLOCKED if seq % 2 else wire.EVENT_LOCKED,
                                    (900, 3100, 1, key_id)) for seq in range(1, count + 1)), PER_SEGMENT)


async def sync_once(vb, key, store):
    async with LockClient(vb.lock_id, key=key) as lock:
        t0 = time.perf_counter()
        result = await sync_log(lock, store)
        return result, time.perf_counter() - t0


def one_run() -> dict:
    with tempfile.TemporaryDirectory() as home, VirtualRadio() as radio:
        os.environ[ENV_VAR] = radio.spec
        flash = Path(home) / "flash"
        vb = VirtualBoard("virtual", flash_dir=flash, radio=radio)
        with FleetStore(f"{home}/fleet.sqlite3") as store:
            now = int(time.time())
            written = write_log(flash, 1, now - 600 * SEGMENTS * PER_SEGMENT)
            vb.start()
            try:
                vb.provision(store)
                key = StaffKey.from_issued(store.issue_key(vb.lock_id, "benchmark", wire.ROLE_STAFF,
                                                           now - 60, now + 3600))
                full, full_s = asyncio.run(sync_once(vb, key, store))
                for _ in range(3):
                    vb.command("unlock")
                    vb.command("lock")
                new, new_s = asyncio.run(sync_once(vb, key, store))
            finally:
                vb.close()
        return {"written": written, "full": full, "full_s": full_s, "new": new, "new_s": new_s}


def main() -> None:
    runs = [one_run() for _ in range(RUNS)]
    rates = [r["full"].stored / r["full_s"] for r in runs]
    first = runs[0]
    print(f"full sync: {first['full'].stored} events (the lock's whole log, {first['written']} written "
          f"before boot plus its own), median {statistics.median(r['full_s'] for r in runs):.2f} s: "
          f"{statistics.median(rates):.0f} events/s (min {min(rates):.0f}, max {max(rates):.0f}; {RUNS} runs)")
    print(f"incremental sync after 3 unlocks and 3 locks: {first['new'].stored} new events, "
          f"median {1000 * statistics.median(r['new_s'] for r in runs):.0f} ms")
    pages = -(-first["full"].stored // wire.MAX_LOG_RECORDS)
    projected = pages * 2 * CONNECTION_INTERVAL_S
    print(f"projected on a real link at a {1000 * CONNECTION_INTERVAL_S:.0f} ms connection interval: "
          f"{pages} pages, about {projected:.1f} s for the whole log "
          f"({first['full'].stored / projected:.0f} events/s)")


if __name__ == "__main__":
    main()
