"""Retention (fleet/retention.py, retention_rules.py; docs/privacy.md): random records of every
kind, a random now, periods and batch size; exactly the records an oracle written here calls
old and removable go, the rest stay, the warnings read the same, and each kind's removal is
in the audit log without anyone's data. Two runs at once remove each record once; wrong
settings remove nothing; `hemlas privacy retain` and the service's daily hook run it."""

from __future__ import annotations

import datetime
import os
import re
import threading

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from hemlas.firmware import wire
from hemlas.fleet import accounts, retention
from hemlas.fleet.models import (AuditEntry, AuthToken, BatteryReading, BatterySwap,
                                 CompensationHour, CompensationHourCorrection, Customer,
                                 LockAssignment, LockEvent, LockLifecycle, LoginFailure,
                                 IssuedKeyRow, ManualVisit, ManualVisitCorrection, PlannedVisit,
                                 SwapCycle, VisitKey)
from hemlas.fleet.roles import ForbiddenError, local_caller
from hemlas.fleet.store import FleetStore

DAY = 86_400
LOCKS = ("HL-R0", "HL-R1", "HL-R2")
VISIT = (wire.EVENT_LOCKED, wire.EVENT_UNLOCKED, wire.EVENT_BATTERY_SWAP, wire.EVENT_SWAP_REFUSED)
DOOR_STATE = (wire.EVENT_DOOR_OPENED, wire.EVENT_DOOR_CLOSED, wire.EVENT_DOOR_LEFT_OPEN)
DOOR = DOOR_STATE + (wire.EVENT_FORCED,)
OTHER = (wire.EVENT_BOOT, wire.EVENT_FAULT, wire.EVENT_SESSION, wire.EVENT_BATTERY)
FORCED_LISTED_S = 7 * DAY  # the door report lists a forced entry this long (doors.py)
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with FleetStore(str(tmp_path_factory.mktemp("retention") / "fleet.sqlite3")) as s:
        _base(s)
        yield s


def _base(s: FleetStore) -> None:
    """Locks, a customer and an account: what the records refer to."""
    for lock_id in LOCKS:
        s.add_lock(lock_id, "virtual", "1.0", os.urandom(32), now=1)
    s.add_customer("1", "Test Kund", None, 1, provider="P")
    with s.unit_of_work() as uow:
        accounts.add_provider(uow, local_caller(), "P", now=1)
        accounts.add_account(uow, local_caller(), "carer", "Carer One", "coordinator",
                             PASSWORD, "P", hasher=CHEAP, now=1)


# ---- the oracle: the rules of docs/privacy.md, written again ------------------------------------

def _oldest_open_month(now: int, open_months: int) -> int:
    first = datetime.date.fromtimestamp(now).replace(day=1)
    for _ in range(open_months - 1):
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    return int(datetime.datetime(first.year, first.month, 1).timestamp())


def _year_cut(now: int, years: int) -> int:
    return int(datetime.datetime(datetime.date.fromtimestamp(now).year - years, 1, 1).timestamp())


def _components(ids, links):
    """Correction chains: {id: chain number} from (corrected, replacement) links."""
    chain = {i: {i} for i in ids}
    for corrected, replacement, _at in links:
        if replacement is not None and chain[corrected] is not chain[replacement]:
            merged = chain[corrected] | chain[replacement]
            for i in merged:
                chain[i] = merged
    return chain


def _chains_kept(rows, links, correction_old):
    """Rows (id: old enough) kept: a chain goes only if all its rows and corrections are old."""
    chain = _components(rows, links)
    bad = set()
    for i, is_old in rows.items():
        if not is_old:
            bad.add(id(chain[i]))
    for corrected, _replacement, at in links:
        if not correction_old(at):
            bad.add(id(chain[corrected]))
    return {i for i in rows if id(chain[i]) in bad}


def oracle(records: dict, now: int, policy: retention.Policy) -> dict[str, set]:
    """What stays of each kind."""
    p, days = policy.periods, lambda kind: now - policy.periods[kind] * DAY
    open_from = _oldest_open_month(now, policy.open_months)
    kept = {}
    visit_cut = min(days("visit_events"), open_from)
    newest_door = {}
    for e in records["events"]:
        if e["type"] in DOOR_STATE:
            key = (e["log_epoch"], e["seq"])
            newest_door[e["lock_id"]] = max(newest_door.get(e["lock_id"], key), key)
    events = set()
    for e in records["events"]:
        key = (e["lock_id"], e["log_epoch"], e["seq"])
        latest = max(e["at"], e["synced_at"])
        if e["type"] in VISIT:
            gone = latest < visit_cut
        elif e["type"] in DOOR:
            gone = (latest < days("door_events")
                    and not (e["type"] == wire.EVENT_FORCED and e["at"] >= now - FORCED_LISTED_S)
                    and newest_door.get(e["lock_id"]) != (e["log_epoch"], e["seq"]))
        else:
            gone = latest < days("lock_events")
        if not gone:
            events.add(key)
    kept["events"] = events
    newest_reading = {}
    for r in records["readings"]:
        newest_reading[r["lock_id"]] = max(newest_reading.get(r["lock_id"], (0, 0)),
                                           (r["at"], r["reading_id"]))
    kept["readings"] = {r["reading_id"] for r in records["readings"]
                        if not r["at"] < days("battery_readings")
                        or newest_reading[r["lock_id"]] == (r["at"], r["reading_id"])}
    last_swap = {}
    for s in records["swaps"]:
        if s["registered_at"] is not None:
            last_swap[s["lock_id"]] = max(last_swap.get(s["lock_id"], 0), s["registered_at"])
    cut = days("battery_swaps")
    kept["swaps"] = {s["swap_id"] for s in records["swaps"]
                     if s["status"] == "pending" or max(s["started_at"], s["finished_at"] or 0,
                                                        s["registered_at"] or 0) >= cut
                     or (s["registered_at"] is not None and s["registered_at"] == last_swap[s["lock_id"]])}
    manual_cut = min(days("manual_visits"), open_from)
    kept["visits"] = _chains_kept(
        {v["visit_id"]: max(v["at"], v["out_at"] or 0, v["registered_at"]) < manual_cut
         for v in records["visits"]},
        records["visit_links"], lambda at: at < manual_cut)
    planned_cut = min(days("planned_visits"), open_from)
    kept["planned"] = {v["visit_id"] for v in records["planned"]
                       if max(v["planned_end"], v["created_at"], v["changed_at"] or 0) >= planned_cut}
    kept["failures"] = {f["failure_id"] for f in records["failures"] if f["at"] >= days("login_failures")}
    cut = days("ended_sessions")
    kept["tokens"] = {t["token_id"] for t in records["tokens"]
                      if not (t["expires_at"] < cut or (t["revoked_at"] is not None and t["revoked_at"] < cut))}
    cut = min(_year_cut(now, p["compensation_hours"]), open_from)
    kept["hours"] = _chains_kept(
        {h["hour_id"]: h["day"] < datetime.date.fromtimestamp(cut) and h["registered_at"] < cut
         for h in records["hours"]}, records["hour_links"], lambda at: at < cut)
    cut = min(_year_cut(now, p["lifecycle"]), open_from)
    latest = {}
    for pl in records["placements"]:  # in time order: a lock's last is its latest
        latest[pl["lock_id"]] = pl["assignment_id"]
    kept["placements"] = {pl["assignment_id"] for pl in records["placements"]
                          if pl["ended_at"] is None or max(pl["ended_at"], pl["assigned_at"]) >= cut
                          or latest[pl["lock_id"]] == pl["assignment_id"]}
    return kept


# ---- random records ------------------------------------------------------------------------------

# Ages around every cut-off: days, months, years (Hypothesis alone favours the small ones).
ages = st.one_of(st.integers(0, 40 * DAY), st.integers(0, 1200 * DAY), st.integers(300 * DAY, 1200 * DAY))
long_ages = st.one_of(st.integers(0, 400 * DAY), st.integers(0, 12 * 366 * DAY),
                      st.integers(5 * 366 * DAY, 12 * 366 * DAY))


@st.composite
def scenario(draw):
    now = draw(st.integers(1_600_000_000, 1_900_000_000))
    t = lambda age: max(2, now - age)  # noqa: E731
    events, seqs = [], {}
    for _ in range(draw(st.integers(0, 30))):
        lock_id = draw(st.sampled_from(LOCKS))
        seqs[lock_id] = seqs.get(lock_id, 0) + draw(st.integers(1, 3))
        events.append({"lock_id": lock_id, "log_epoch": draw(st.integers(0, 1)), "seq": seqs[lock_id],
                       "type": draw(st.sampled_from(VISIT + DOOR + OTHER)),
                       "at": t(draw(ages)), "synced_at": t(draw(ages))})
    readings = [{"reading_id": i + 1, "lock_id": draw(st.sampled_from(LOCKS)), "at": t(draw(ages))}
                for i in range(draw(st.integers(0, 12)))]
    swaps = []
    for i in range(draw(st.integers(0, 8))):
        status = draw(st.sampled_from(("pending", "passed", "failed", "abandoned")))
        registered = draw(st.none() | ages.map(t))
        swaps.append({"swap_id": i + 1, "lock_id": draw(st.sampled_from(LOCKS)), "status": status,
                      "started_at": t(draw(ages)), "registered_at": registered,
                      "finished_at": None if status == "pending" else t(draw(ages))})
    pending = {}  # a lock has at most one pending swap
    for s in swaps:
        if s["status"] == "pending":
            pending.setdefault(s["lock_id"], s["swap_id"])
    swaps = [s for s in swaps if s["status"] != "pending" or pending[s["lock_id"]] == s["swap_id"]]
    visits = [{"visit_id": i + 1, "at": t(draw(ages)), "out_at": None, "registered_at": t(draw(ages))}
              for i in range(draw(st.integers(0, 8)))]
    visit_links = _links(draw, [v["visit_id"] for v in visits], ages.map(t))
    planned = []
    for i in range(draw(st.integers(0, 6))):
        start = t(draw(ages))
        planned.append({"visit_id": i + 1, "planned_start": start,
                        "planned_end": start + draw(st.integers(60, 12 * 3600)),
                        "created_at": t(draw(ages)), "changed_at": draw(st.none() | ages.map(t)),
                        "alarm": draw(st.booleans())})
    failures = [{"failure_id": i + 1, "at": t(draw(ages))} for i in range(draw(st.integers(0, 5)))]
    tokens = [{"token_id": i + 1, "expires_at": t(draw(st.integers(-400 * DAY, 1200 * DAY))),
               "revoked_at": draw(st.none() | ages.map(t))} for i in range(draw(st.integers(0, 5)))]
    hours = [{"hour_id": i + 1, "day": datetime.date.fromtimestamp(t(draw(long_ages))),
              "registered_at": t(draw(long_ages))} for i in range(draw(st.integers(0, 8)))]
    hour_links = _links(draw, [h["hour_id"] for h in hours], long_ages.map(t))
    placements = []
    for lock_id in LOCKS:  # each lock's placements in time order; only its last may be open
        times = sorted(draw(st.lists(long_ages.map(t), max_size=6)))
        for i in range(0, len(times), 2):
            ended = times[i + 1] if i + 1 < len(times) else None
            placements.append({"assignment_id": len(placements) + 1, "lock_id": lock_id,
                               "assigned_at": times[i], "ended_at": ended})
    periods = {k.name: draw(st.integers(1, 12) if k.years else
                            st.one_of(st.integers(1, 30), st.integers(1, 800)))
               for k in retention.KINDS}
    policy = retention.Policy(periods, draw(st.integers(1, 4)))
    return now, policy, draw(st.integers(1, 6)), {
        "events": events, "readings": readings, "swaps": swaps, "visits": visits,
        "visit_links": visit_links, "planned": planned, "failures": failures, "tokens": tokens, "hours": hours,
        "hour_links": hour_links, "placements": placements}


def _links(draw, ids, when):
    """Corrections: each row corrected at most once, by a later row (never a row already
    replacing another) or withdrawn."""
    links, replacements = [], set()
    for i in ids:
        choice = draw(st.sampled_from(("none", "none", "withdraw", "correct")))
        later = [j for j in ids if j > i and j not in replacements]
        if choice == "withdraw":
            links.append((i, None, draw(when)))
        elif choice == "correct" and later:
            j = draw(st.sampled_from(later))
            replacements.add(j)
            links.append((i, j, draw(when)))
    return links


TABLES = (SwapCycle, BatterySwap, ManualVisitCorrection, ManualVisit, VisitKey, PlannedVisit,
          LockEvent, BatteryReading,
          LoginFailure, AuthToken, CompensationHourCorrection, CompensationHour, LockLifecycle,
          LockAssignment)


def _fill(store, records, account_id):
    with store.unit_of_work() as uow:
        for model in TABLES:
            uow.execute(delete(model))
    with store.unit_of_work() as uow:
        uow.add_all(LockEvent(fields=[0, 0, 0, 0], key_id=None, **e) for e in records["events"])
        uow.add_all(BatteryReading(idle_mv=4000, loaded_mv=3900, state=0, source="t", **r)
                    for r in records["readings"])
        uow.add_all(BatterySwap(person="Carer", customer_number=None,
                                stage="done" if s["status"] != "pending" else "confirmed", **s)
                    for s in records["swaps"])
        uow.add_all(ManualVisit(customer_number="1", person="Carer", note="n", **v)
                    for v in records["visits"])
        uow.add_all(LoginFailure(subject="account:x", **f) for f in records["failures"])
        for v in records["planned"]:
            alarm = v["alarm"]
            uow.add(PlannedVisit(provider="P", customer_number="1", carer_account_id=account_id,
                                 kind="alarm" if alarm else "planned", status="active",
                                 reason="fell" if alarm else None, created_by="K",
                                 visit_id=v["visit_id"], planned_start=v["planned_start"],
                                 planned_end=v["planned_end"], created_at=v["created_at"],
                                 changed_at=v["changed_at"]))
            if alarm:  # its key: the link goes with the visit, the key's record stays
                key = IssuedKeyRow(lock_id=LOCKS[0], person="Carer One", role=wire.ROLE_STAFF,
                                   not_before=v["planned_start"], not_after=v["planned_end"],
                                   issued_at=v["created_at"], superseded=False)
                uow.add(key)
                uow.flush()
                uow.add(VisitKey(key_id=key.key_id, visit_id=v["visit_id"], lock_id=LOCKS[0],
                                 alarm=True, issued_at=v["created_at"]))
        uow.add_all(AuthToken(token_sha256=f"{t['token_id']:064x}", account_id=account_id,
                              kind="browser", created_at=1, **t) for t in records["tokens"])
        uow.add_all(CompensationHour(provider="P", customer_number="1", lock_id=None,
                                     registered_by="K", source="cli", source_ref=None,
                                     row_key=f"{h['hour_id']:064x}", **h) for h in records["hours"])
        uow.add_all(LockAssignment(customer_number="1", **p) for p in records["placements"])
        uow.flush()
        for p in records["placements"]:
            uow.add(LockLifecycle(lock_id=p["lock_id"], assignment_id=p["assignment_id"],
                                  action="mount", customer_number="1", address=None,
                                  person="F", at=p["assigned_at"], provider="P", note=None,
                                  recorded_at=p["assigned_at"]))
            if p["ended_at"] is not None:
                uow.add(LockLifecycle(lock_id=p["lock_id"], assignment_id=p["assignment_id"],
                                      action="dismantle", customer_number="1", address=None,
                                      person="F", at=p["ended_at"], provider="P", note=None,
                                      recorded_at=p["ended_at"]))
            uow.flush()
        for model, links in ((ManualVisitCorrection, records["visit_links"]),
                             (CompensationHourCorrection, records["hour_links"])):
            key = "visit_id" if model is ManualVisitCorrection else "hour_id"
            uow.add_all(model(**{key: c}, action="correct" if r else "withdraw", replacement_id=r,
                              by="K", reason="r", recorded_at=at) for c, r, at in links)


def _remaining(store) -> dict[str, set]:
    with store.unit_of_work() as uow:
        return {
            "events": set(uow.execute(select(LockEvent.lock_id, LockEvent.log_epoch, LockEvent.seq)).all()),
            "readings": set(uow.scalars(select(BatteryReading.reading_id))),
            "swaps": set(uow.scalars(select(BatterySwap.swap_id))),
            "visits": set(uow.scalars(select(ManualVisit.visit_id))),
            "planned": set(uow.scalars(select(PlannedVisit.visit_id))),
            "failures": set(uow.scalars(select(LoginFailure.failure_id))),
            "tokens": set(uow.scalars(select(AuthToken.token_id))),
            "hours": set(uow.scalars(select(CompensationHour.hour_id))),
            "placements": set(uow.scalars(select(LockAssignment.assignment_id))),
        }


def _account(store) -> int:
    with store.unit_of_work() as uow:
        return accounts.get_account(uow, "carer").account_id


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(scenario())
def test_exactly_the_old_and_removable_records_go(store, case):
    now, policy, batch, records = case
    _fill(store, records, _account(store))
    expected = oracle(records, now, policy)
    warnings = store.battery_warnings(now), store.door_warnings(now)
    first_audit = _last_audit_id(store)
    outcome = retention.run(store, local_caller(), policy, now, batch=batch)
    remaining = _remaining(store)
    assert remaining == {k: {tuple(x) if isinstance(x, tuple) else x for x in v}
                         for k, v in expected.items()}
    assert outcome.removed["battery_readings"] == len(records["readings"]) - len(expected["readings"])
    assert outcome.removed["manual_visits"] == len(records["visits"]) - len(expected["visits"])
    assert outcome.removed["planned_visits"] == len(records["planned"]) - len(expected["planned"])
    assert (store.battery_warnings(now), store.door_warnings(now)) == warnings
    # Each kind's removal is recorded (as many entries as batches), with no one's data in it.
    entries = _audit_since(store, first_audit)
    assert {e.target.split(":")[0] for e in entries} == set(retention.BY_NAME)
    for e in entries:
        assert re.fullmatch(r"[a-z_]+: \d+ removed, before \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e.target)
        assert e.action == "retention.remove" and e.provider is None
    assert sum(int(e.target.split()[1]) for e in entries) == sum(outcome.removed.values())
    # Again: nothing more goes.
    assert sum(retention.run(store, local_caller(), policy, now, batch=batch).removed.values()) == 0


def _last_audit_id(store) -> int:
    with store.unit_of_work() as uow:
        return uow.scalar(select(AuditEntry.audit_id).order_by(AuditEntry.audit_id.desc()).limit(1)) or 0


def _audit_since(store, audit_id):
    with store.unit_of_work() as uow:
        return list(uow.scalars(select(AuditEntry).where(AuditEntry.audit_id > audit_id)))


# ---- at once, again, wrong settings, the timer and the service's hook ------------------------------

def _old_readings(store, n: int, now: int) -> None:
    for i in range(n):
        store.record_battery_reading(LOCKS[i % len(LOCKS)], at=now - 1000 * DAY + i, idle_mv=4000,
                                     loaded_mv=3900, state=wire.BATTERY_OK)


def test_two_runs_at_once_remove_each_record_once(store_url):
    now = 1_800_000_000
    with FleetStore(store_url) as s:
        _base(s)
        _old_readings(s, 60, now)
        outcomes, errors = [], []
        start = threading.Barrier(2)

        def run():
            try:
                start.wait()
                outcomes.append(retention.run(s, local_caller(), retention.policy({}), now, batch=7))
            except Exception as err:  # pragma: no cover - the assertion says which
                errors.append(err)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        # Each lock's newest reading stays; the other 57 went, each counted by one run only.
        assert sum(o.removed["battery_readings"] for o in outcomes) == 60 - len(LOCKS)
        assert sum(len(s.battery_readings(lock_id)) for lock_id in LOCKS) == len(LOCKS)


@pytest.mark.parametrize("settings_table, complaint", [
    ({"visit_event": 30}, "no kind 'visit_event'"),
    ({"door_events": 0}, "door_events must be a whole number in 1..36600"),
    ({"door_events": "90"}, "not '90'"),
    ({"lifecycle": 200}, "lifecycle must be a whole number in 1..100"),
    ({"compensation_open_months": True}, "compensation_open_months must be a whole number"),
])
def test_wrong_settings_remove_nothing(tmp_path, monkeypatch, settings_table, complaint, fleet):
    _old_readings_for(fleet)
    config = tmp_path / "config.toml"
    config.write_text("[retention]\n" + "".join(
        f"{k} = {v!r}\n".replace("'", '"').replace("True", "true") for k, v in settings_table.items()))
    monkeypatch.setenv("HEMLAS_CONFIG", str(config))
    with pytest.raises(retention.RetentionSettingsError, match=re.escape(complaint)):
        retention.run(fleet, local_caller())
    assert len(fleet.battery_readings("HL-R0")) == 2


def _old_readings_for(s):
    s.add_lock("HL-R0", "virtual", "1.0", os.urandom(32), now=1)
    for at in (1000, 2000):
        s.record_battery_reading("HL-R0", at=at, idle_mv=4000, loaded_mv=3900, state=wire.BATTERY_OK)


def test_settings_change_the_periods(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text("[retention]\ndoor_events = 30\nlifecycle = 10\ncompensation_open_months = 3\n")
    monkeypatch.setenv("HEMLAS_CONFIG", str(config))
    policy = retention.policy()
    assert policy.periods["door_events"] == 30 and policy.periods["lifecycle"] == 10
    assert policy.periods["visit_events"] == 730 and policy.open_months == 3


def test_only_the_lock_administrator_runs_it(fleet):
    from hemlas.fleet.roles import Caller

    coordinator = Caller(1, "coord", "Coord", "coordinator", "P")
    with pytest.raises(ForbiddenError):
        retention.run(fleet, coordinator)


def test_the_cli_runs_it_and_the_runs_are_listed(fleet, capsys, monkeypatch, tmp_path):
    from hemlas.cli import main

    monkeypatch.setenv("HEMLAS_CONFIG", str(tmp_path / "none.toml"))
    _old_readings_for(fleet)
    assert main(["privacy", "retain", "--json"]) == 0
    import json

    answer = json.loads(capsys.readouterr().out)
    assert answer["removed"]["battery_readings"] == 1 and set(answer["removed"]) == set(retention.BY_NAME)
    assert main(["privacy", "runs"]) == 0
    assert "battery_readings: 1 removed" in capsys.readouterr().out


def test_the_services_daily_hook_runs_at_once_and_stops(fleet, monkeypatch, tmp_path):
    monkeypatch.setenv("HEMLAS_CONFIG", str(tmp_path / "none.toml"))
    _old_readings_for(fleet)
    stop = retention.run_daily(fleet, local_caller("serve"), interval_s=3600)
    try:
        for _ in range(200):
            if len(fleet.battery_readings("HL-R0")) == 1:
                break
            threading.Event().wait(0.05)
    finally:
        stop()
    assert len(fleet.battery_readings("HL-R0")) == 1
    with fleet.unit_of_work() as uow:
        assert [r.actor for r in retention.runs(uow, local_caller())][0].startswith("local:")
