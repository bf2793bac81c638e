"""Keys a lock administrator can trust (issue 11, "Keys and the swap"): superseded keys are
listed as such and never chosen, a refused key gives way to the next, keys for dismantled or
stock locks are not issued silently, a second revocation says it was one, and a key file
others can read is refused."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time

import pytest

from fleet_helpers import issue
from hemlas import cli
from hemlas.client import LockClient
from hemlas.firmware import wire
from hemlas.keyfile import KeyFile, KeyFileError, StaffKey


def _run(capsys, *args):
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _key(lock_id="HL-1A2B3C", key_id=1, not_after=None):
    now = int(time.time())
    return StaffKey(lock_id, key_id, wire.ROLE_STAFF, now - 60, not_after or now + 3600, bytes(32), bytes(16))


# ---- The key file ---------------------------------------------------------------------------

@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_key_file_readable_by_group_or_others_is_refused_saying_how_to_fix(tmp_path):
    keyfile = KeyFile(tmp_path / "keys.json")
    keyfile.add(_key())
    os.chmod(keyfile.path, 0o644)
    with pytest.raises(KeyFileError) as refused:
        keyfile.keys()
    assert f"chmod 600 {keyfile.path}" in str(refused.value) and "0644" in str(refused.value)
    os.chmod(keyfile.path, 0o600)
    assert [k.key_id for k in keyfile.keys()] == [1]


def test_re_provisioning_supersedes_a_locks_keys_in_the_key_file(tmp_path):
    keyfile = KeyFile(tmp_path / "keys.json")
    for key in (_key("HL-1A2B3C", 1), _key("HL-1A2B3C", 2), _key("HL-OTHER1", 3)):
        keyfile.add(key)
    assert keyfile.supersede("HL-1A2B3C") == 2
    assert [k.key_id for k in keyfile.keys()] == [3]


def test_candidates_leave_out_the_keys_the_store_calls_unusable(tmp_path):
    keyfile = KeyFile(tmp_path / "keys.json")
    now = int(time.time())
    keyfile.add(_key(key_id=1, not_after=now + 7200))  # the one pick() prefers
    keyfile.add(_key(key_id=2))
    assert [k.key_id for k in keyfile.candidates("HL-1A2B3C", wire.ROLE_STAFF, now)] == [1, 2]
    assert [k.key_id for k in keyfile.candidates("HL-1A2B3C", wire.ROLE_STAFF, now, {1})] == [2]


# ---- The store and the CLI --------------------------------------------------------------------

def test_keys_list_marks_superseded_keys_and_cuts_no_name(fleet, capsys):
    fleet.add_lock("HL-1A2B3C", "virtual", "1.0", bytes(range(32)))
    long_name = "Anna-Karin Andersson Lindqvist-Öberg"
    old = issue(fleet, "HL-1A2B3C", wire.ROLE_STAFF, person=long_name)
    fleet.add_lock("HL-1A2B3C", "virtual", "1.0", bytes(range(1, 33)), replace=True)
    new = issue(fleet, "HL-1A2B3C", wire.ROLE_STAFF)
    code, out, _ = _run(capsys, "keys", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["KEY", "LOCK", "PERSON"]
    row = next(line for line in lines if line.startswith(str(old.key_id)))
    assert long_name in row and row.rstrip().endswith("superseded")
    assert next(line for line in lines if line.startswith(str(new.key_id))).rstrip().endswith("valid")
    code, out, _ = _run(capsys, "keys", "list", "--json")
    rows = {r["key_id"]: r for r in json.loads(out)}
    assert rows[old.key_id]["superseded"] is True and rows[old.key_id]["state"] == "superseded"
    assert rows[new.key_id]["superseded"] is False and rows[new.key_id]["lock_id"] == "HL-1A2B3C"
    assert rows[new.key_id]["not_after"][-6] in "+-"  # ISO 8601 with its offset


def test_revoking_a_revoked_key_says_it_already_was(fleet, capsys):
    fleet.add_lock("HL-1A2B3C", "virtual", "1.0", bytes(range(32)))
    key = issue(fleet, "HL-1A2B3C", wire.ROLE_STAFF)
    code, out, _ = _run(capsys, "keys", "revoke", str(key.key_id))
    assert code == 0 and "already" not in out
    first = fleet.key(key.key_id).revoked_at
    code, out, _ = _run(capsys, "keys", "revoke", str(key.key_id))
    assert code == 0 and f"key {key.key_id} was already revoked" in out
    assert time.strftime("%Y-%m-%d %H:%M", time.localtime(first)) in out
    assert f"not yet on the lock: hemlas keys push HL-1A2B3C" in out
    code, out, _ = _run(capsys, "keys", "revoke", str(key.key_id), "--json")
    answer = json.loads(out)
    assert answer["already_revoked"] is True and answer["pushed"] is False
    assert fleet.key(key.key_id).revoked_at == first


def test_keys_for_a_dismantled_lock_are_refused_unless_forced_and_for_stock_said(fleet, capsys):
    fleet.add_lock("HL-1A2B3C", "virtual", "1.0", bytes(range(32)))
    fleet.add_customer("1001", "Customer One", "Storgatan 1", provider="Omsorg AB")
    code, _, err = _run(capsys, "keys", "issue", "HL-1A2B3C", "--person", "Anna")
    assert code == 0 and "in stock" in err and "hemlas locks mount HL-1A2B3C" in err
    now = int(time.time())
    fleet.mount_lock("HL-1A2B3C", "1001", None, "Fitter", now - 300)
    code, _, err = _run(capsys, "keys", "issue", "HL-1A2B3C", "--person", "Anna")
    assert code == 0 and "warning" not in err  # mounted: the ordinary case
    fleet.sign_out_key("HL-1A2B3C", "Fitter", now - 200)
    fleet.dismantle_lock("HL-1A2B3C", "Fitter", now - 100)
    issued = len(fleet.keys("HL-1A2B3C"))
    code, _, err = _run(capsys, "keys", "issue", "HL-1A2B3C", "--person", "Anna")
    assert code == 1 and "dismantled" in err and "--force" in err and "1001" in err
    assert len(fleet.keys("HL-1A2B3C")) == issued  # nothing issued
    code, out, err = _run(capsys, "keys", "issue", "HL-1A2B3C", "--person", "Bench", "--force", "--json")
    assert code == 0 and json.loads(out)["lock_status"] == "dismantled" and "dismantled" in err


# ---- On the lock: superseded keys never chosen; a refused key gives way to the next -----------

@pytest.mark.virtual_board
def test_after_re_provisioning_the_bench_key_file_drops_the_old_keys_and_the_client_skips_them(
        radio, boot_board, fleet, capsys, tmp_path, monkeypatch):
    vb = boot_board(radio=radio, bolt=0.0)
    vb.provision(fleet)
    now = int(time.time())
    old = issue(fleet, vb.lock_id, wire.ROLE_STAFF, not_after=now + 7200)  # pick()'s favourite
    carers = tmp_path / "carer-keys.json"
    shutil.copy(fleet.keyfile.path, carers)  # a carer's device, which hears of nothing
    vb.provision(fleet, reprovision=True)
    assert fleet.keyfile.keys(vb.lock_id) == []  # the bench device's key file learnt it
    new = issue(fleet, vb.lock_id, wire.ROLE_STAFF, keyfile=False)
    KeyFile(carers).add(new)
    monkeypatch.setenv("HEMLAS_KEYS", str(carers))
    code, out, err = _run(capsys, "unlock", vb.lock_id, "--json")  # the store knows: old skipped
    answer = json.loads(out)
    assert code == 0 and answer["key_id"] == new.key_id and answer["refused_keys"] == []
    assert "refused" not in err

    # Without a store that knows, the lock refuses the superseded key (BAD_TAG) and the
    # client tries the next, and says which was refused.
    async def unlock():
        async with LockClient(vb.lock_id, keyfile=KeyFile(carers)) as lock:
            await lock.unlock()
            return lock.key.key_id, lock.refused_keys

    used, refused = asyncio.run(unlock())
    # The old key's advertising key came from the old secret: its HELLO reads as another lock's.
    assert used == new.key_id and refused == [(old.key_id, wire.STATUS_KEY_WRONG_LOCK)]


@pytest.mark.virtual_board
def test_a_revoked_key_gives_way_to_the_next_and_all_refused_names_each(radio, boot_board, fleet):
    from hemlas.commands.keys import push_revocations
    from hemlas.errors import KeysRefusedError  # new with this behaviour

    vb = boot_board(radio=radio, bolt=0.0)
    vb.provision(fleet)
    now = int(time.time())
    revoked = issue(fleet, vb.lock_id, wire.ROLE_STAFF, not_after=now + 7200)
    good = issue(fleet, vb.lock_id, wire.ROLE_STAFF)
    fleet.revoke_key(revoked.key_id)
    push_revocations(fleet, vb.lock_id)

    async def status(keyfile):
        async with LockClient(vb.lock_id, keyfile=keyfile) as lock:
            await lock.status()
            return lock.key.key_id, lock.refused_keys

    assert asyncio.run(status(fleet.keyfile)) == (good.key_id, [(revoked.key_id, wire.STATUS_KEY_REVOKED)])
    fleet.revoke_key(good.key_id)
    push_revocations(fleet, vb.lock_id)
    with pytest.raises(KeysRefusedError) as refused:
        asyncio.run(status(fleet.keyfile))
    assert refused.value.refusals == [(revoked.key_id, wire.STATUS_KEY_REVOKED),
                                      (good.key_id, wire.STATUS_KEY_REVOKED)]
