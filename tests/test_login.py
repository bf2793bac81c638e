"""`hemlas login URL` and `hemlas logout` against the service on a real socket: the device's
token and the service's address kept owner-only (never the password), its keys fetched into
the key file, refusals in the service's words and the user's language, a logout that revokes
the token at the service and removes the fetched keys, and waits for the outbox."""

from __future__ import annotations

import io
import json
import stat
import time

import httpx
import pytest

from hemlas import cli
from hemlas.field.outbox import Outbox
from hemlas.firmware import wire
from hemlas.fleet.store import FleetStore
from hemlas.keyfile import KeyFile

from outbox_helpers import ThreadServer, field_env
from service_helpers import PASSWORD, populate


@pytest.fixture
def served(tmp_path):
    with FleetStore(str(tmp_path / "fleet.sqlite3")) as store:
        populate(store)
        now = int(time.time())
        store.mine = store.issue_key("HL-NORR01", "Anna Andersson", wire.ROLE_STAFF, now - 60, now + 3600)
        with ThreadServer(store) as server:
            server.store = store
            yield server


@pytest.fixture
def device(tmp_path, monkeypatch):
    env = field_env(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _cli(capsys, monkeypatch, *argv, stdin="") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_login_keeps_the_token_owner_only_fetches_keys_and_logout_revokes(served, device, capsys,
                                                                          monkeypatch):
    code, out, err = _cli(capsys, monkeypatch, "login", served.url + "/api/v1/", "--user", "carer-a",
                          "--device", "Annas telefon", "--password-stdin", "--json",
                          stdin=PASSWORD + "\n")
    assert code == 0, err
    said = json.loads(out)
    assert said["login"] == "carer-a" and said["keys"] == [served.store.mine.record.key_id]
    login_file = KeyFile(device["HEMLAS_KEYS"]).path.parent / "service.json"
    assert stat.S_IMODE(login_file.stat().st_mode) == 0o600
    saved = json.loads(login_file.read_text())
    assert saved["url"] == served.url and PASSWORD not in login_file.read_text() + out + err
    [key] = KeyFile().keys()
    assert key.key == served.store.mine.key  # the lock opens with it, no network needed
    with httpx.Client(base_url=served.url + "/api/v1",
                      headers={"Authorization": f"Bearer {saved['token']}"}) as http:
        assert http.get("/me").json()["device"] == "Annas telefon"
        again = _cli(capsys, monkeypatch, "login", served.url, "--user", "carer-a",
                     "--password-stdin", stdin=PASSWORD + "\n")
        assert again[0] == 1 and "hemlas logout first" in again[2]
        code, out, err = _cli(capsys, monkeypatch, "logout")
        assert code == 0 and "revoked" in out, err
        assert http.get("/me").status_code == 401  # revoked at the service, not only forgotten
    assert not login_file.exists() and KeyFile().keys() == []
    assert _cli(capsys, monkeypatch, "logout")[0] == 1


def test_a_refusal_is_the_services_problem_detail_in_the_users_language(served, device, capsys,
                                                                        monkeypatch):
    code, _, err = _cli(capsys, monkeypatch, "login", served.url, "--user", "carer-a",
                        "--password-stdin", stdin="not the password at all\n")
    assert code == 1 and "wrong login name or password" in err
    assert "not the password" not in err
    assert not KeyFile(device["HEMLAS_KEYS"]).path.exists()
    code, _, err = _cli(capsys, monkeypatch, "login", "http://127.0.0.1:9", "--user", "carer-a",
                        "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 1 and "did not answer" in err
    assert _cli(capsys, monkeypatch, "login", "ftp://x", "--user", "a", stdin="")[0] == 1
    # Logged in, an upload the service refuses is said in its words, in the user's language.
    assert _cli(capsys, monkeypatch, "login", served.url, "--user", "carer-a", "--password-stdin",
                stdin=PASSWORD + "\n")[0] == 0
    with Outbox() as outbox:
        outbox.enqueue("HL-NOSUCH", "battery-reading", {"at": 1, "idle_mv": 1, "loaded_mv": 1,
                                                        "state": 0})
    code, out, _ = _cli(capsys, monkeypatch, "--lang", "sv", "outbox", "send")
    assert code == 0 and "1 väntar, varav 1 avvisade" in out, out
    code, out, _ = _cli(capsys, monkeypatch, "outbox", "--json")
    assert json.loads(out)[0]["last_error"] == "låset HL-NOSUCH finns inte i låsregistret"


def test_the_account_name_is_asked_for_and_the_password_by_getpass(served, device, capsys,
                                                                    monkeypatch):
    asked = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or PASSWORD)
    code, out, err = _cli(capsys, monkeypatch, "login", served.url, stdin="carer-a\n")
    assert code == 0, err
    assert asked == ["password for carer-a: "] and "account name: " in err
    assert "Anna Andersson" in out


def test_logout_waits_for_the_outbox_unless_forced(served, device, capsys, monkeypatch):
    assert _cli(capsys, monkeypatch, "login", served.url, "--user", "carer-a", "--password-stdin",
                stdin=PASSWORD + "\n")[0] == 0
    with Outbox() as outbox:  # an upload the service cannot take (an unknown lock): refused
        outbox.enqueue("HL-NOSUCH", "battery-reading", {"at": 1, "idle_mv": 1, "loaded_mv": 1,
                                                        "state": 0})
    code, _, err = _cli(capsys, monkeypatch, "logout")
    assert code == 1 and "1 upload(s) in the outbox" in err and "HL-NOSUCH" in err
    code, out, _ = _cli(capsys, monkeypatch, "outbox")
    assert "HL-NOSUCH" in out and "refused" in out
    assert _cli(capsys, monkeypatch, "logout", "--force")[0] == 0
    with Outbox() as outbox:
        assert len(outbox.uploads()) == 1  # kept: nothing lost by logging out


def test_keys_fetch_forgets_a_key_revoked_at_the_service_and_keeps_local_ones(served, device,
                                                                             capsys, monkeypatch):
    from hemlas.keyfile import StaffKey

    assert _cli(capsys, monkeypatch, "login", served.url, "--user", "carer-a", "--password-stdin",
                stdin=PASSWORD + "\n")[0] == 0
    now = int(time.time())
    local = served.store.issue_key("HL-NORR02", "Anna Andersson", wire.ROLE_STAFF, now, now + 60)
    served.store.revoke_key(local.record.key_id)  # not handed out by the service...
    KeyFile().add(StaffKey.from_issued(local))  # ...but issued here by hand: left alone
    later = served.store.issue_key("HL-NORR02", "Anna Andersson", wire.ROLE_STAFF, now + 7200,
                                   now + 9000)
    code, out, _ = _cli(capsys, monkeypatch, "keys", "fetch", "--hours", "3", "--json")
    assert code == 0 and json.loads(out)["added"] == [later.record.key_id]
    served.store.revoke_key(served.store.mine.record.key_id)  # a lost phone, a moved carer...
    code, out, _ = _cli(capsys, monkeypatch, "keys", "fetch", "--json")
    assert json.loads(out)["forgotten"] == [served.store.mine.record.key_id]
    assert {k.key_id for k in KeyFile().keys()} == {local.record.key_id, later.record.key_id}
