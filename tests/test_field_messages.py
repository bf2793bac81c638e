"""What the field commands say (issue 11, "Safety guidance is never lost" and "Output people
can read and tools can parse"): each failure its own message and next step, the battery's
state in every answer, "no move needed", the guidance never hidden by a broken settings file.
Driven as a carer would: the real CLI against a virtual lock."""

from __future__ import annotations

import json
import time

import pytest

from fleet_helpers import issue
from hemlas import cli
from hemlas.firmware import wire

pytestmark = pytest.mark.virtual_board

# The routine (/work/shared/seed/rutiner-smarta-las.sv.txt), as the guidance must carry it.
ROUTINE = ("Do NOT swap the battery", "self-test", "green LED", "red LED", "service desk")


def _run(capsys, *args):
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def lock(radio, boot_board, fleet):
    """A provisioned virtual lock, unlocked, with one staff key in the key file."""
    def make(bolt=0.0, battery=None):
        vb = boot_board(radio=radio, bolt=bolt, battery=battery)
        vb.provision(fleet)
        vb.key = issue(fleet, vb.lock_id, wire.ROLE_STAFF)
        return vb
    return make


# ---- A1: settings errors never hide the guidance ---------------------------------------------

def test_a_malformed_settings_file_is_a_warning_and_the_discharge_guidance_is_printed(
        lock, capsys, tmp_path, monkeypatch):
    settings = tmp_path / "config.toml"
    settings.write_text("[service_desk\nname = 'Servicedesk'\n")  # a TOML error
    monkeypatch.setenv("HEMLAS_CONFIG", str(settings))
    vb = lock(bolt=1.0, battery="discharged")
    code, _out, err = _run(capsys, "unlock", vb.lock_id)
    assert code == 1
    warnings = [line for line in err.splitlines() if "warning" in line and str(settings) in line]
    assert len(warnings) == 1
    for step in ROUTINE:
        assert step in err
    assert "the municipality's service desk" in err  # the default, since the file is unreadable


def test_settings_of_the_wrong_type_are_a_warning_and_the_defaults(tmp_path, monkeypatch, capsys):
    from hemlas.commands.output import discharged_guidance

    settings = tmp_path / "config.toml"
    monkeypatch.setenv("HEMLAS_CONFIG", str(settings))
    settings.write_text('service_desk = "Servicedesk Nacka"\n')  # a string, not a table
    guidance = discharged_guidance("no answer")
    assert "Contact the municipality's service desk." in guidance
    assert "service_desk must be a table" in capsys.readouterr().err
    settings.write_text('[service_desk]\nname = 5\nphone = "08-718 92 50"\n')
    assert "Contact the municipality's service desk, 08-718 92 50." in discharged_guidance("no answer")
    err = capsys.readouterr().err
    assert "service_desk.name must be text" in err and len(err.splitlines()) == 1


# ---- A2/A4: no move needed, and the battery in every answer ----------------------------------

def test_unlock_of_an_unlocked_door_says_no_move_needed_and_warns_of_a_low_battery(lock, capsys, fleet):
    vb = lock(bolt=0.0, battery="low")
    code, out, _ = _run(capsys, "unlock", vb.lock_id)
    assert code == 0
    assert f"{vb.lock_id}: already unlocked — no move needed" in out
    assert " ms)" not in out  # no stale travel time
    assert "battery LOW" in out
    code, out, _ = _run(capsys, "unlock", vb.lock_id, "--json")
    answer = json.loads(out)
    assert code == 0 and answer["moved"] is False and answer["travel_ms"] == 0
    assert (answer["lock_id"], answer["state"], answer["state_code"]) == (vb.lock_id, "unlocked", wire.LOCK_UNLOCKED)
    assert (answer["battery"], answer["battery_code"]) == ("low", wire.BATTERY_LOW)
    assert "LOW" in answer["battery_warning"] and answer["key_id"] == vb.key.key_id
    # The lock logged both requests as unlocks by this key, with attempts 0: no motor run.
    code, out, _ = _run(capsys, "log", vb.lock_id, "--json")
    unlocks = [e for e in json.loads(out)["events"] if e["type"] == "unlocked"]
    assert [(e["fields"]["attempts"], e["fields"]["travel_ms"], e["fields"]["key_id"]) for e in unlocks] == [
        (0, 0, vb.key.key_id), (0, 0, vb.key.key_id)]


def test_status_lock_and_log_say_critical_with_the_routine(lock, capsys):
    vb = lock(bolt=1.0, battery="discharged")  # already locked: the lock needs no motor run
    code, out, _ = _run(capsys, "lock", vb.lock_id)
    assert code == 0 and "already locked — no move needed" in out
    for step in ROUTINE:
        assert step in out
    for command in ("status", "log"):
        code, out, _ = _run(capsys, command, vb.lock_id, "--json")
        answer = json.loads(out)
        assert code == 0 and answer["battery"] == "critical", command
        assert "Do NOT swap the battery" in answer["battery_warning"]


def test_a_real_move_still_says_its_travel_time(lock, capsys):
    vb = lock(bolt=0.0)
    code, out, _ = _run(capsys, "lock", vb.lock_id, "--json")
    answer = json.loads(out)
    assert code == 0 and answer["moved"] is True and answer["travel_ms"] > 300
    assert answer["battery"] == "ok" and answer["battery_warning"] is None


# ---- A3: a lock refused on a critical battery ------------------------------------------------

def test_a_lock_refused_on_a_critical_battery_says_what_to_do_with_the_door(lock, capsys):
    vb = lock(bolt=0.0, battery="discharged")
    code, _, err = _run(capsys, "lock", vb.lock_id)
    assert code == 1
    assert "could not be locked" in err
    for step in ROUTINE:
        assert step in err
    assert "Do NOT leave the customer's door unlocked" in err and "physical" in err
    assert "register the visit manually" in err


# ---- A5: each failure its own message and next step -------------------------------------------

def test_a_jammed_bolt_says_so_and_what_to_do(lock, capsys):
    vb = lock(bolt=0.0)
    vb.jam(0.5)
    code, _, err = _run(capsys, "lock", vb.lock_id)
    assert code == 1
    assert "jammed" in err and "nothing blocks the bolt" in err and "physical key" in err


def test_a_missing_key_file_says_so(lock, capsys, tmp_path, monkeypatch):
    vb = lock()
    missing = tmp_path / "elsewhere" / "keys.json"
    monkeypatch.setenv("HEMLAS_KEYS", str(missing))
    code, _, err = _run(capsys, "unlock", vb.lock_id)
    assert code == 1 and f"no key file at {missing}" in err and "HEMLAS_KEYS" in err


def test_a_key_not_yet_valid_says_from_when(lock, capsys, fleet):
    vb = lock()
    fleet.keyfile.remove(vb.key.key_id)
    later = int(time.time()) + 7200
    key = issue(fleet, vb.lock_id, wire.ROLE_STAFF, not_before=later, not_after=later + 3600)
    code, _, err = _run(capsys, "unlock", vb.lock_id)
    assert code == 1
    assert f"key {key.key_id}" in err and "not valid yet" in err
    assert time.strftime("%Y-%m-%d %H:%M", time.localtime(later)) in err


def test_a_revoked_key_says_it_was_revoked(lock, capsys, fleet, monkeypatch):
    """A key revoked and pushed to the lock, still in this device's key file (a coordinator's
    store did the revoking; this device has no store that knows): the lock refuses it, and
    the message says revoked."""
    from hemlas.commands.keys import push_revocations

    vb = lock()
    fleet.revoke_key(vb.key.key_id)
    push_revocations(fleet, vb.lock_id)
    fleet.keyfile.add(vb.key)  # this device never heard
    monkeypatch.setenv("HEMLAS_STORE", str(fleet.url.database) + ".elsewhere")
    code, _, err = _run(capsys, "unlock", vb.lock_id)
    assert code == 1
    assert f"key {vb.key.key_id}: it was revoked" in err and "new key" in err


def test_a_lower_case_lock_id_is_taken_as_the_lock_id(lock, capsys):
    vb = lock()
    code, out, _ = _run(capsys, "status", vb.lock_id.lower(), "--json")
    assert code == 0 and json.loads(out)["lock_id"] == vb.lock_id


def test_a_customer_number_for_a_lock_id_names_the_customers_lock(lock, capsys, fleet):
    vb = lock()
    fleet.add_customer("1001", "Customer One")
    fleet.assign_lock(vb.lock_id, "1001")
    code, _, err = _run(capsys, "unlock", "1001")
    assert code == 1
    assert "1001 is a customer number" in err and "Customer One" in err and vb.lock_id in err


# ---- C: one vocabulary; log names its events and fields; searching is said ----------------------

def test_log_shows_event_names_and_named_fields(lock, capsys):
    vb = lock(bolt=0.0)
    assert _run(capsys, "lock", vb.lock_id)[0] == 0
    code, out, _ = _run(capsys, "log", vb.lock_id)
    assert code == 0
    locked = [line for line in out.splitlines() if " locked " in line]
    assert locked and "travel_ms=" in locked[0] and "attempts=1" in locked[0]
    assert f"key_id={vb.key.key_id}" in locked[0]
    boot = next(line for line in out.splitlines() if " boot " in line)
    assert "lock_state=" in boot and "boot_count=" in boot
    code, out, _ = _run(capsys, "log", vb.lock_id, "--json")
    events = json.loads(out)["events"]
    session = next(e for e in events if e["type"] == "session")
    assert session["type_code"] == wire.EVENT_SESSION
    assert session["fields"] == {"key_id": vb.key.key_id, "role": "staff", "role_code": wire.ROLE_STAFF}
    assert session["time"][4] == "-" and session["time"][-6] in "+-"  # ISO 8601 with offset


def test_scan_and_a_search_for_an_absent_lock_say_they_are_searching(lock, capsys, fleet, monkeypatch):
    from hemlas import client

    vb = lock()
    code, out, err = _run(capsys, "scan", "--timeout", "1.5", "--json")
    assert code == 0 and vb.lock_id in {row["lock_id"] for row in json.loads(out)}
    assert "scanning for locks" in err
    monkeypatch.setattr(client, "SCAN_TIMEOUT_S", 4.0)  # the notice comes after 3 s unheard
    vb.power_cut()  # it does not answer
    code, out, err = _run(capsys, "status", vb.lock_id, "--json")
    assert code == 1 and f"{vb.lock_id} not heard yet: knock on the door to wake it (searching up to 4 s)" in err
    assert json.loads(out)["error"]
