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
from hemlas.errors import AuthError, LockNotFoundError
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
    assert first.confirmed["by"] == "ble" and first.confirmed["address"] == unit.ble.current_address  # heard on the air, from its private address
    assert unit.command("status")["lock_id"] == first.lock_id

    # Re-flashed: the same identity and secret; a key issued before still works.
    secret = fleet.lock_secret(first.lock_id)
    key = issue(fleet, first.lock_id, wire.ROLE_STAFF)

    async def status(scan_timeout=None):
        async with LockClient(first.lock_id, key=key, scan_timeout=scan_timeout) as lock:
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
    # The old key's advertising key came from the old secret: it no longer even finds the
    # lock, whose private advertisement only the new one's holders recognise.
    with pytest.raises(LockNotFoundError):
        asyncio.run(status(scan_timeout=2))

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
    assert answer["lock_id"] == "HL-BENCH1" and answer["provisioning"] == "reprovisioned"
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


def _asleep(unit, timeout_s=60.0):
    """Until the unit is in its power policy's deep sleep (its UART hears nothing then)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not unit.asleep:
        assert time.monotonic() < deadline, "the unit never went to sleep"
        time.sleep(0.02)


def test_an_esp32c3_unit_asleep_between_visits_is_flashed_and_reflashed(boot_board, radio, fleet, capsys):
    """The esp32c3 board sleeps 12 s between 0.6 s awake windows. Flashing catches it in a window
    (or after the technician's button press), run exactly as `hemlas sim --board esp32c3` prints it."""
    unit = boot_board("esp32c3", serial=True, radio=radio)  # factory firmware, the board's policy
    _asleep(unit)
    capsys.readouterr()
    assert cli.main(["flash", "--port", unit.serial_port, "--board", "esp32c3", "--json"]) == 0
    captured = capsys.readouterr()
    lock_id = json.loads(captured.out.strip().splitlines()[-1])["lock_id"]
    assert fleet.lock(lock_id).board == "esp32c3"
    assert "waiting for the unit" in captured.err and "could not enter raw repl" not in captured.out

    said = []

    def technician(message):  # told to wake it, presses its button
        said.append(message)
        unit.press_button()

    _asleep(unit)  # provisioned, back in its sleep cycle
    wakes = unit.wakes
    again = flash(unit.serial_port, "esp32c3", fleet, waiting=technician)
    assert (again.provisioning, again.lock_id) == ("kept", lock_id)
    assert said and "wakes it now" in said[0] and unit.wakes > wakes
    assert again.confirmed["by"] == "ble"  # heard in one of its windows


def test_the_board_on_record_and_a_customer_are_not_flashed_over_unasked(boot_board, radio, fleet, capsys,
                                                                         monkeypatch):
    unit = boot_board(serial=True, factory_image=False, power_policy=None, radio=radio)
    first = flash(unit.serial_port, "virtual", fleet, ble=False)
    secret = fleet.lock_secret(first.lock_id)

    # Another board file than the store records: refused before anything is written.
    with pytest.raises(FlashError, match=f"records {first.lock_id} as a virtual unit, not esp32c3.*--board-change"):
        flash(unit.serial_port, "esp32c3", fleet, ble=False)
    assert "\"name\": \"virtual\"" in (unit.flash_dir / "board.py").read_text()
    assert fleet.lock(first.lock_id).board == "virtual"

    # Re-provisioning a lock at a customer's door names the customer and needs a yes.
    fleet.add_customer("1001", "Karin Berg", "Storgatan 1")
    fleet.assign_lock(first.lock_id, "1001")
    with pytest.raises(FlashError, match="mounted at customer 1001 \\(Karin Berg, Storgatan 1\\).*--yes"):
        flash(unit.serial_port, "virtual", fleet, reprovision=True, ble=False)
    asked = []
    with pytest.raises(FlashError, match="not re-provisioned"):
        flash(unit.serial_port, "virtual", fleet, reprovision=True, ble=False,
              confirm=lambda question: asked.append(question) or False)
    assert "Karin Berg" in asked[0] and fleet.lock_secret(first.lock_id) == secret

    # The command line: no terminal to ask at means a refusal naming --yes; --yes goes ahead.
    monkeypatch.setattr("sys.stdin", open("/dev/null"))
    assert cli.main(["flash", "--port", unit.serial_port, "--board", "virtual", "--reprovision", "--no-ble"]) == 1
    assert "give --yes" in capsys.readouterr().err
    assert fleet.lock_secret(first.lock_id) == secret
    assert cli.main(["flash", "--port", unit.serial_port, "--board", "virtual", "--reprovision", "--yes",
                     "--no-ble"]) == 0
    assert fleet.lock_secret(first.lock_id) != secret
