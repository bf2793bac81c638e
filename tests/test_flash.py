"""`hemlas flash` end to end against the virtual board's serial port, with the real mpremote.

One unit goes through a technician's whole bench life in one test: a fresh flash, a re-flash
that keeps it, a re-provisioning, a cable pulled mid-copy and the run that recovers it, a
fleet store that does not know it, and the command line.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from fleet_helpers import issue
from hemlas import cli
from hemlas.client import LockClient
from hemlas.errors import AuthError
from hemlas.firmware import wire
from hemlas.fleet.store import FleetStore
from hemlas.flashing import FlashError, flash

pytestmark = pytest.mark.virtual_board


def test_a_unit_through_the_bench(boot_board, radio, fleet, tmp_path, capsys):
    unit = boot_board(serial=True, factory_image=False, power_policy=None, radio=radio)

    # A fresh unit: flashed with a progress bar, verified, provisioned, recorded.
    steps = []
    first = flash(unit.serial_port, "virtual", fleet, progress=lambda name, done, total: steps.append((done, total)))
    assert first.provisioning == "new" and first.ready["provisioned"] is True
    assert first.files[-1] == "main.py" and "board.py" in first.files
    on_flash = {p.name for p in unit.flash_dir.iterdir()}
    assert set(first.files) <= on_flash and "secret.bin" in on_flash
    assert steps[-1] == (first.bytes, first.bytes)
    assert fleet.lock(first.lock_id).board == "virtual"
    assert unit.command("status")["lock_id"] == first.lock_id

    # Re-flashed: the same identity and secret; a key issued before still works.
    secret = fleet.lock_secret(first.lock_id)
    key = issue(fleet, first.lock_id, wire.ROLE_STAFF)

    async def status():
        async with LockClient(first.lock_id, key=key) as lock:
            return await lock.status()

    again = flash(unit.serial_port, "virtual", fleet)
    assert (again.provisioning, again.lock_id) == ("kept", first.lock_id)
    assert fleet.lock_secret(first.lock_id) == secret
    asyncio.run(status())

    # Re-provisioned: a new secret, and the old keys stop working.
    renewed = flash(unit.serial_port, "virtual", fleet, reprovision=True)
    assert (renewed.provisioning, renewed.lock_id) == ("reprovisioned", first.lock_id)
    assert fleet.lock_secret(first.lock_id) != secret
    with pytest.raises(AuthError):
        asyncio.run(status())

    # A store that does not know the unit may not take it over without --reprovision.
    with FleetStore(str(tmp_path / "other.sqlite3")) as other:
        with pytest.raises(FlashError, match="--reprovision"):
            flash(unit.serial_port, "virtual", other)
        assert other.locks() == []

        # The cable pulled mid-copy (USB power and data go together): a clear error, nothing
        # in the store, no main.py to boot half a firmware; the next run recovers the unit.
        def pull_at_half(name, done, total):
            if done > total // 2 and unit.running:
                unit.power_cut()

        with pytest.raises(FlashError, match="run the command again"):
            flash(unit.serial_port, "virtual", other, reprovision=True, progress=pull_at_half)
        assert other.locks() == []
        assert not (unit.flash_dir / "main.py").exists()
        unit.power_on()
        recovered = flash(unit.serial_port, "virtual", other, reprovision=True)
        assert [lock.lock_id for lock in other.locks()] == [recovered.lock_id]

    # The command line.
    assert cli.main(["flash", "--port", unit.serial_port, "--board", "virtual", "--reprovision",
                     "--lock-id", "HL-BENCH1", "--json"]) == 0
    captured = capsys.readouterr()
    answer = json.loads(captured.out.strip().splitlines()[-1]) if captured.out.strip() else pytest.fail(f"no answer: {captured}")
    assert answer["lock"] == "HL-BENCH1" and answer["provisioning"] == "reprovisioned"
    assert cli.main(["flash", "--port", "/dev/hemlas-no-such-port", "--board", "virtual"]) == 1
    assert "cannot open" in capsys.readouterr().err
