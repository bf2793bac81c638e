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
from hemlas.radio.config import ENV_VAR

pytestmark = pytest.mark.virtual_board


def test_a_unit_through_the_bench(boot_board, radio, fleet, tmp_path, capsys, monkeypatch):
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
    assert first.confirmed["by"] == "ble" and first.confirmed["address"] == unit.address  # heard on the air
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

    # Without a radio the unit is confirmed over serial alone, and says so; unless BLE was asked for.
    monkeypatch.setenv(ENV_VAR, f"virtual:{tmp_path}/no-radio.sock")
    no_radio = flash(unit.serial_port, "virtual", fleet)
    assert no_radio.confirmed["by"] == "serial" and "no virtual radio" in no_radio.confirmed["why"]
    with pytest.raises(FlashError, match="flashed and provisioned and answers over serial, but no Bluetooth radio"):
        flash(unit.serial_port, "virtual", fleet, ble=True)
    monkeypatch.setenv(ENV_VAR, radio.spec)

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
    assert answer["confirmed"]["by"] == "ble"
    assert cli.main(["flash", "--port", "/dev/hemlas-no-such-port", "--board", "virtual"]) == 1
    assert "cannot open" in capsys.readouterr().err


def test_a_unit_not_heard_on_the_air_fails_the_flash(boot_board, radio, fleet):
    """Flashed and provisioned, answering over serial, but its advertisement never reaches the
    technician's radio (here: it is on another radio, as a unit with a broken antenna is)."""
    from hemlas.sim import VirtualRadio

    with VirtualRadio() as elsewhere:
        unit = boot_board(serial=True, factory_image=False, power_policy=None, radio=elsewhere)
        with pytest.raises(FlashError, match="not heard advertising within 2 s"):
            flash(unit.serial_port, "virtual", fleet, ble_timeout=2.0)
        # It is provisioned (the store rightly has it); the error is about the unit, not the flash.
        assert fleet.lock(unit.command("status")["lock_id"]) is not None
