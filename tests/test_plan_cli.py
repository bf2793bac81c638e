"""`hemlas plan ...` and `hemlas alarm ...` on the store's own machine (in-process main(), the
real store and key file): the same rules as the API, answers and refusals as the CLI says
them, keys into the key file."""

from __future__ import annotations

import json
import os
import sys

import pytest

from hemlas.cli import main
from hemlas.fleet.store import FleetStore
from hemlas.keyfile import KeyFile

sys.path.insert(0, os.path.dirname(__file__))
from service_helpers import A_CUSTOMERS, A_LOCKS, PROVIDER_A, populate  # noqa: E402

A1 = sorted(A_CUSTOMERS)[0]


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "fleet.sqlite3"))
    monkeypatch.setenv("HEMLAS_KEYS", str(tmp_path / "keys.json"))
    monkeypatch.setenv("HEMLAS_CONFIG", str(tmp_path / "none.toml"))
    with FleetStore(create=True) as store:
        populate(store)
    return tmp_path


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_refuses_a_bad_file_line_by_line_then_takes_the_good_one(world, capsys):
    plan = world / "plan.csv"
    plan.write_text("kund;personal;starttid;sluttid;besöks_id\n"
                    f"{A1};carer-a;2030-10-27T02:30;2030-10-27T03:10;V1\n", encoding="utf-8-sig")
    code, _out, err = _run(capsys, "plan", "import", str(plan), "--provider", PROVIDER_A)
    assert code == 1 and "1 bad row, nothing imported" in err
    assert "line 2 (time-ambiguous)" in err and "2030-10-27T02:30+02:00" in err
    plan.write_text(plan.read_text(encoding="utf-8-sig").replace("02:30", "02:30+01:00"),
                    encoding="utf-8-sig")
    code, out, _err = _run(capsys, "plan", "import", str(plan), "--provider", PROVIDER_A, "--json")
    assert code == 0 and json.loads(out)["added"] == 1
    code, out, _err = _run(capsys, "plan", "import", str(plan), "--provider", PROVIDER_A)
    assert "0 visits added" in out and "1 already imported" in out


def test_a_file_over_the_bound_is_refused_unread(world, capsys):
    big = world / "big.csv"
    with big.open("wb") as f:
        f.truncate(10 * 1024 * 1024)
    code, _out, err = _run(capsys, "plan", "import", str(big), "--provider", PROVIDER_A)
    assert code == 1 and "larger than" in err


def test_plan_keys_and_alarm_keys_go_into_the_key_file(world, capsys, monkeypatch):
    from hemlas.fleet import plan_csv

    now = plan_csv.parse_local_time("2030-05-02T07:00")
    monkeypatch.setattr("time.time", lambda: now)
    plan = world / "plan.csv"
    plan.write_text(f"customer,carer,start,end\n{A1},carer-a,2030-05-02T08:00,2030-05-02T08:45\n")
    _run(capsys, "plan", "import", str(plan), "--provider", PROVIDER_A)
    code, out, _err = _run(capsys, "plan", "keys", "--carer", "carer-a", "--json")
    assert code == 0
    (key,) = json.loads(out)["keys"]
    assert key["lock_id"] in A_LOCKS and key["not_before"].startswith("2030-05-02")
    assert [k.key_id for k in KeyFile().keys()] == [key["key_id"]]
    code, out, _err = _run(capsys, "alarm", "request", A1, "--carer", "carer-a",
                           "--reason", "-larm 07:02", "--minutes", "15")
    assert code == 0 and "logged as alarm access" in out
    assert len(KeyFile().keys()) == 2
    report = world / "alarm.csv"
    code, out, _err = _run(capsys, "alarm", "list", "--csv", str(report), "--csv-delimiter", "semicolon")
    assert code == 0 and "'-larm 07:02" in report.read_text(encoding="utf-8-sig")
    code, out, _err = _run(capsys, "plan", "cancel", "1")
    assert code == 0 and f"key #{key['key_id']} revoked" in out
    code, _out, err = _run(capsys, "plan", "cancel", "77")
    assert code == 1 and "planned visit 77 is not in the fleet store" in err
