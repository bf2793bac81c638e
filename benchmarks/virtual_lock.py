"""A provisioned virtual lock on a virtual radio with a key, for the benchmarks."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time

from hemlas.firmware import wire
from hemlas.radio.config import ENV_VAR


@contextlib.contextmanager
def provisioned_lock(role: int = wire.ROLE_TECHNICIAN, board: str = "virtual", power_policy="board",
                     power: dict | None = None, interpreter: str | None = None):
    """Yields (VirtualBoard, StaffKey): the lock provisioned over its console, a key for it.
    After provisioning the lock follows its power policy (it may sleep)."""
    from hemlas.fleet.store import FleetStore
    from hemlas.keyfile import StaffKey
    from hemlas.sim import VirtualBoard, VirtualRadio

    with tempfile.TemporaryDirectory() as home, VirtualRadio() as radio:
        os.environ[ENV_VAR] = radio.spec
        vb = VirtualBoard(board, radio=radio, power_policy=power_policy, power=power, interpreter=interpreter)
        vb.start()
        try:
            vb.command("power stay")  # bench mode: awake for its console across the restart
            with FleetStore(f"{home}/fleet.sqlite3") as store:
                vb.provision(store)
                vb.command("power auto")  # then its policy
                now = int(time.time())
                key = StaffKey.from_issued(store.issue_key(vb.lock_id, "benchmark", role, now - 60, now + 3600))
            yield vb, key
        finally:
            vb.close()
