"""The fleet store is never silently wrong: a store that is not there is not made up by a
reading command, and one that is not a fleet store says so in one line (docs/fleet.md)."""

from __future__ import annotations

import os
import secrets
import sqlite3

import pytest
from sqlalchemy import create_engine, text

from fleet_helpers import issue
from hemlas import cli
from hemlas.firmware import wire
from hemlas.fleet.store import FleetError, FleetStore

READING_COMMANDS = [["report", "batteries"], ["locks", "list"], ["customers", "list"], ["keys", "list"]]


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hemlas: "), err
    assert "Traceback" not in err and "sqlalche.me" not in err and "sqlite://" not in err, err
    return lines[0]


@pytest.mark.parametrize("argv", READING_COMMANDS, ids=lambda a: " ".join(a))
def test_a_mistyped_store_is_refused_and_not_created(tmp_path, monkeypatch, capsys, argv):
    typo = tmp_path / "fleeet" / "fleet.sqlite3"
    monkeypatch.setenv("HEMLAS_STORE", str(typo))
    code, out, err = _run(capsys, *argv)
    line = _one_error_line(err)
    assert code == 1 and out == ""
    assert f"there is no fleet store at {typo}" in line and "HEMLAS_STORE" in line
    assert "hemlas flash" in line and "hemlas customers add" in line  # how one is made
    assert not typo.parent.exists()  # neither the file nor its directory


def test_the_commands_that_fill_a_store_create_it_owner_only(tmp_path, monkeypatch, capsys):
    path = tmp_path / "new" / "fleet.sqlite3"
    monkeypatch.setenv("HEMLAS_STORE", str(path))
    assert _run(capsys, "customers", "add", "1001", "--name", "Anna Andersson")[0] == 0
    assert path.is_file() and (path.stat().st_mode & 0o777) == 0o600
    code, out, _ = _run(capsys, "customers", "list")
    assert code == 0 and "Anna Andersson" in out


def test_the_api_creates_only_when_asked_or_given_a_url(tmp_path, monkeypatch):
    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "a.sqlite3"))
    with pytest.raises(FleetError, match="there is no fleet store"):
        FleetStore()
    with pytest.raises(FleetError, match="there is no fleet store"):
        FleetStore(str(tmp_path / "b.sqlite3"), create=False)
    assert not (tmp_path / "a.sqlite3").exists() and not (tmp_path / "b.sqlite3").exists()
    FleetStore(create=True).close()
    FleetStore(str(tmp_path / "b.sqlite3")).close()  # an explicit URL: as before
    with FleetStore() as store:
        assert store.locks() == []


def test_an_empty_sqlite_file_counts_as_missing(tmp_path, monkeypatch, capsys):
    path = tmp_path / "fleet.sqlite3"
    path.touch(mode=0o600)
    monkeypatch.setenv("HEMLAS_STORE", str(path))
    assert "there is no fleet store" in _one_error_line(_run(capsys, "report", "batteries")[2])


def _truncated_store(path):
    with FleetStore(str(path)) as store:
        for n in range(40):
            store.add_lock(f"HL-{n:06X}", "virtual", "1.0", secrets.token_bytes(32))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize("kind", ["text", "truncated", "short", "directory", "other tables"])
def test_a_corrupt_store_gives_one_clear_line(tmp_path, monkeypatch, capsys, kind):
    path = tmp_path / "fleet.sqlite3"
    if kind == "text":
        path.write_text("customer;lock\n1001;HL-1\n")
    elif kind == "truncated":
        _truncated_store(path)
    elif kind == "short":
        path.write_bytes(b"SQLite format 3\x00" + bytes(20))
    elif kind == "directory":
        path.mkdir(mode=0o755)
    else:
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    monkeypatch.setenv("HEMLAS_STORE", str(path))
    for argv in (["report", "batteries"], ["customers", "add", "1001", "--name", "A"]):
        code, out, err = _run(capsys, *argv)
        line = _one_error_line(err)
        assert code == 1 and line.startswith(f"hemlas: the fleet store {path} is not a fleet store ("), line
    if kind == "directory":
        assert (path.stat().st_mode & 0o777) == 0o755  # not made "owner-only" as if a file
    if kind == "other tables":
        with sqlite3.connect(path) as conn:  # nothing migrated into someone else's database
            assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["invoices"]


def test_a_postgresql_url_with_a_password_never_shows_it(tmp_path, monkeypatch, capsys):
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed")
    monkeypatch.setenv("HEMLAS_STORE",
                       f"postgresql+psycopg://hemlas:s3cret-pw@/fleet?host={tmp_path}/no-server")
    code, _out, err = _run(capsys, "report", "batteries")
    line = _one_error_line(err)
    assert code == 1 and "s3cret-pw" not in err and "cannot open the fleet store postgresql database fleet" in line


def test_an_empty_postgresql_database_counts_as_missing(postgres_url, monkeypatch, capsys):
    monkeypatch.setenv("HEMLAS_STORE", postgres_url)
    code, _out, err = _run(capsys, "report", "batteries")
    assert code == 1 and "there is no fleet store" in _one_error_line(err)
    engine = create_engine(postgres_url)
    with engine.connect() as conn:  # nothing was created in it
        assert conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar() == 0
    engine.dispose()
    with FleetStore(postgres_url) as store:  # an explicit URL creates the schema, as before
        store.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
    code, out, _ = _run(capsys, "locks", "list")
    assert code == 0 and "HL-1" in out


@pytest.mark.virtual_board
def test_a_field_command_answers_but_does_not_sync_into_a_missing_store(radio, boot_board, fleet, tmp_path,
                                                                       monkeypatch, capsys):
    vb = boot_board(radio=radio, bolt=1.0)
    vb.provision(fleet)
    issue(fleet, vb.lock_id, wire.ROLE_STAFF)
    typo = tmp_path / "typo" / "fleet.sqlite3"
    monkeypatch.setenv("HEMLAS_STORE", str(typo))
    code, out, err = _run(capsys, "unlock", vb.lock_id)
    assert code == 0 and "unlocked" in out  # the lock's answer
    assert "there is no fleet store" in err and "not kept" in err
    assert not typo.parent.exists()
    code, _out, err = _run(capsys, "sync", vb.lock_id)  # a sync is nothing without the store
    assert code == 1 and "there is no fleet store" in _one_error_line(err.strip().splitlines()[-1])
    assert not typo.parent.exists()


def test_opening_errors_are_fleet_errors(tmp_path):
    (tmp_path / "x").write_text("not a database")
    with pytest.raises(FleetError, match="is not a fleet store") as caught:
        FleetStore(str(tmp_path / "x"))
    assert caught.value.why == "it is not an SQLite database"
    assert os.path.getsize(tmp_path / "x") == len("not a database")  # left as it was
