"""`hemlas accounts`, `hemlas devices`, `hemlas providers`: the same domain functions as the
API, from the CLI (in-process main(), the user's store through HEMLAS_STORE)."""

from __future__ import annotations

import io
import json

from hemlas import cli
from hemlas.firmware import wire
from hemlas.fleet import audit
from hemlas.fleet.store import FleetStore

from service_helpers import PASSWORD, logged_in

LOGIN = "/api/v1/login"


def _run(monkeypatch, capsys, *argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_accounts_and_a_lost_phone_from_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "fleet.sqlite3"))
    assert _run(monkeypatch, capsys, "providers", "add", "Omsorg  AB")[0] == 0
    code, out, _ = _run(monkeypatch, capsys, "accounts", "add", "anna", "--name", "Anna Andersson",
                        "--role", "carer", "--provider", "Omsorg AB", "--password-stdin",
                        stdin=PASSWORD + "\n")
    assert code == 0 and "account anna added" in out
    code, _, err = _run(monkeypatch, capsys, "accounts", "add", "anna", "--name", "Other",
                        "--role", "carer", "--provider", "Omsorg AB", "--password-stdin",
                        stdin=PASSWORD + "\n")  # the same form twice: refused, nothing lost
    assert code == 1 and "already exists" in err
    code, _, err = _run(monkeypatch, capsys, "accounts", "add", "bo", "--name", "Bo",
                        "--role", "carer", "--provider", "Omsorg AB", "--password-stdin",
                        stdin="short\n")
    assert code == 1 and "15 to 256 characters" in err
    with FleetStore() as store:
        store.add_lock("HL-1", "virtual", "1.0", bytes(32))
        key = store.issue_key("HL-1", "Anna Andersson", wire.ROLE_STAFF, 0, 2**32 - 1).record
        phone = logged_in(store, "anna", device="Annas telefon")
        code, out, _ = _run(monkeypatch, capsys, "devices", "list", "--json")
        (device,) = json.loads(out)
        assert device["device_name"] == "Annas telefon" and device["login"] == "anna"
        code, out, _ = _run(monkeypatch, capsys, "devices", "revoke", str(device["token_id"]))
        assert code == 0 and f"#{key.key_id}" in out and "hemlas keys push" in out
        assert phone.get("/api/v1/me").status_code == 401
        assert store.key(key.key_id).revoked_at is not None
        code, out, _ = _run(monkeypatch, capsys, "accounts", "password", "anna",
                            "--password-stdin", stdin="a new long passphrase\n")
        assert code == 0
        assert phone.post(LOGIN, json={"login": "anna", "password": "a new long passphrase"}).status_code == 200
        code, out, _ = _run(monkeypatch, capsys, "accounts", "disable", "anna")
        assert code == 0 and "disabled" in out
        assert phone.post(LOGIN, json={"login": "anna", "password": "a new long passphrase"}).status_code == 403
        with store.unit_of_work() as uow:
            actions = [(e.actor.startswith("local:"), e.action) for e in audit.entries(uow)]
    assert (True, "devices.revoke") in actions and (True, "accounts.disable") in actions
    assert (True, "accounts.add") in actions and (False, "devices.enrol") in actions
