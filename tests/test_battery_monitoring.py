"""Every connection keeps the lock's battery reading in the fleet store, and the coordinators'
battery report lists exactly the locks that need attention (virtual lock, real CLI)."""

from __future__ import annotations

import json

import pytest

from fleet_helpers import issue
from hemlas import cli
from hemlas.firmware import wire

pytestmark = pytest.mark.virtual_board


def test_each_connection_stores_a_reading_and_the_report_follows_them(radio, boot_board, fleet, capsys):
    vb = boot_board(radio=radio, bolt=1.0)
    vb.provision(fleet)
    issue(fleet, vb.lock_id, wire.ROLE_STAFF)
    fleet.add_customer("1001", "Customer One")
    fleet.assign_lock(vb.lock_id, "1001")

    assert cli.main(["unlock", vb.lock_id]) == 0
    first = fleet.last_battery_reading(vb.lock_id)
    assert first is not None and first.state == wire.BATTERY_OK and first.loaded_mv > 3000
    assert first.charge_used_mah is not None and first.percent is not None
    capsys.readouterr()
    assert cli.main(["report", "batteries", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # a fresh reading of a good battery

    vb.set_battery("low")
    assert cli.main(["status", vb.lock_id]) == 0  # any connection, not only "battery"
    assert fleet.last_battery_reading(vb.lock_id).state == wire.BATTERY_LOW
    capsys.readouterr()
    assert cli.main(["report", "batteries", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["lock_id"], r["level"], r["customer_number"]) for r in rows] == [(vb.lock_id, "LOW", "1001")]


def test_a_refused_unlock_still_stores_its_reading(radio, boot_board, fleet):
    vb = boot_board(radio=radio, bolt=1.0)
    vb.provision(fleet)
    issue(fleet, vb.lock_id, wire.ROLE_STAFF)
    vb.set_battery("discharged")
    assert cli.main(["unlock", vb.lock_id]) == 1  # refused: the routine's guidance
    assert fleet.last_battery_reading(vb.lock_id).state == wire.BATTERY_CRITICAL
