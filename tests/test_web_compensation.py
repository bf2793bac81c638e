"""Ersättning through the real application (TestClient over a real SQLite store): a
coordinator registers "Uppstart smarta lås" hours and the month's report matches them against
the locks mounted, every mismatch listed; the same form sent twice registers once; the refusals
are compensation.py's, rule-named, in the page's language; who may; the CSV for a Swedish
spreadsheet; and the page's report against an oracle of the test's own (Hypothesis)."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hemlas.fleet.store import FleetStore

from service_helpers import NOW, PROVIDER_A, PROVIDER_B
from web_helpers import csrf_of, page_client, populate_web

MONTH = time.strftime("%Y-%m", time.localtime(NOW))  # populate's mounts (assign_lock) are at NOW
DAY = time.strftime("%Y-%m-%d", time.localtime(NOW))
# populate_web's locks of provider A, each mounted at NOW at its customer (in this order).
A_MOUNTS = {"HL-NORR01": "9100417", "HL-NORR02": "9100428"}
# The oracle test mounts a second lock at the first customer: which hour pays for which
# mount then matters (an hour naming a lock takes it before an hour naming none).
SECOND_MOUNT = {"HL-NORR03": "9100417"}


@pytest.fixture
def store(tmp_path):
    with FleetStore(str(tmp_path / "fleet.sqlite3")) as s:
        populate_web(s)
        yield s


def _register(web, kund, dag=DAY, las="", **headers):
    token = csrf_of(web.get("/ersattning").text)
    return web.post("/ersattning/timme", data={"csrf_token": token, "kund": kund, "dag": dag,
                                               "las": las, "manad": MONTH},
                    headers=headers, follow_redirects=False)


def _rule(html: str) -> str | None:
    found = re.search(r'class="refusal" id="hour-error" role="alert" data-rule="([^"]+)">([^<]*)<', html)
    return found and found.group(1)


def _report(web, month=MONTH, **params) -> dict:
    """What the page shows: balanced or not, each mount's match, each mismatch."""
    html = web.get("/ersattning", params={"manad": month, **params}).text
    return {"balanced": re.search(r'id="balance" data-balanced="(\w+)"', html).group(1),
            "mounts": dict(re.findall(r'<tr data-lock="([^"]+)" data-matched="(\w+)"', html)),
            "mismatches": re.findall(r'<li data-kind="([^"]+)" data-(?:lock|hour)="([^"]+)"', html),
            "html": html}


def test_a_coordinator_registers_hours_and_the_report_matches_the_mounts(store):
    web = page_client(store, "coord-a")
    before = _report(web)
    assert before["balanced"] == "no" and before["mounts"] == {"HL-NORR01": "no", "HL-NORR02": "no"}
    assert sorted(before["mismatches"]) == [("mount-without-hour", "HL-NORR01"),
                                            ("mount-without-hour", "HL-NORR02")]
    assert "HL-SODER1" not in before["html"] and "Bertil" not in before["html"]  # provider B's

    done = _register(web, "9100417")
    assert (done.status_code, done.headers["location"]) == (303, f"/ersattning?manad={MONTH}&klart=timme")
    assert 'id="registered"' in web.get(done.headers["location"]).text
    # The same form sent again (a double click, a resent POST): still one hour.
    again = _register(web, "9100417")
    assert again.status_code == 409 and _rule(again.text) == "hour-already-registered"
    assert [h.customer_number for h in store.registered_hours(PROVIDER_A)] == ["9100417"]
    [hour] = store.registered_hours(PROVIDER_A)
    assert (hour.registered_by, hour.source, hour.lock_id) == ("Karin Koordinator", "cli", None)
    half = _report(web)
    assert half["mounts"] == {"HL-NORR01": "yes", "HL-NORR02": "no"}
    assert half["mismatches"] == [("mount-without-hour", "HL-NORR02")]

    assert _register(web, "9100428", las="HL-NORR02").status_code == 303
    assert _report(web)["balanced"] == "yes" and _report(web)["mismatches"] == []
    # An hour for a lock not mounted there: listed, with the domain's reason.
    assert _register(web, "9100428", las="HL-NOPE").status_code == 303
    after = _report(web)
    [(kind, hour_id)] = after["mismatches"]
    assert after["balanced"] == "no" and kind == "hour-without-mount"
    assert f"lock HL-NOPE was not mounted for this customer in {MONTH}" in after["html"]
    # Another month has none of it.
    assert _report(web, "2026-08")["mounts"] == {} and _report(web, "2026-08")["balanced"] == "yes"


def test_the_csv_opens_in_a_swedish_spreadsheet_with_every_row(store):
    web = page_client(store, "coord-a")
    _register(web, "9100417")
    _register(web, "9100999")  # A's customer without a lock: an hour without a mount
    answer = web.get("/ersattning.csv", params={"manad": MONTH})
    assert answer.headers["content-type"].startswith("text/csv")
    assert f'filename="ersattning-{MONTH}.csv"' in answer.headers["content-disposition"]
    raw = answer.content
    assert raw.startswith("\ufeff".encode()) and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["status", "lock_id", "customer_number"]
    by_status = sorted((r[0], r[1], r[2]) for r in rows[1:])
    assert by_status == [("hour-without-mount", "", "9100999"), ("matched", "HL-NORR01", "9100417"),
                         ("mount-without-hour", "HL-NORR02", "9100428")]
    assert "Alma Nyström" in raw.decode("utf-8-sig")  # å and ö as they are, not mojibake
    assert "no lock was mounted for this customer" in raw.decode("utf-8-sig")


def test_a_customer_named_as_a_formula_is_text_in_the_csv(store):
    store.add_customer("9100555", "=HYPERLINK(A1)", "Norrgatan 1", NOW,
                       provider=PROVIDER_A)
    store.add_lock("HL-NORR05", "virtual", "1.0", bytes(32), now=NOW)
    store.mount_lock("HL-NORR05", "9100555", None, "Fitter", NOW, now=NOW)
    web = page_client(store, "coord-a")
    assert _register(web, "9100555").status_code == 303  # pays for the mount
    assert _register(web, "9100555", dag=f"{MONTH}-01").status_code == 303  # pays for none
    text = web.get("/ersattning.csv", params={"manad": MONTH}).content.decode("utf-8-sig")
    # In the mount's row and in the unmatched hour's row alike.
    assert text.count(";'=HYPERLINK") == 2 and ";=HYPERLINK" not in text


def test_refusals_are_the_domains_rule_named_beside_the_form_in_the_pages_language(store):
    web = page_client(store, "coord-a")
    for fields, status, rule in [({"kund": "9100417", "dag": "2999-01-01"}, 409, "hour-in-future"),
                                 ({"kund": "9100417", "dag": "21/9/2026"}, 409, "invalid-date"),
                                 ({"kund": "9999999"}, 404, "unknown-customer"),
                                 ({"kund": "9100417", "las": "L" * 101}, 400, "fleet")]:
        answer = _register(web, **fields)
        assert (answer.status_code, _rule(answer.text)) == (status, rule), (fields, answer.text[-600:])
        assert f'value="{fields["kund"]}"' in answer.text  # what was typed is kept
    assert store.registered_hours(PROVIDER_A) == []
    swedish = _register(web, "9100417", dag="2999-01-01", **{"Accept-Language": "sv"})
    assert "2999-01-01 ligger i framtiden: en timme registreras för ett lås" in swedish.text
    assert '<html lang="sv">' in swedish.text and "Registrera timmen" in swedish.text
    _register(web, "9100417")
    twice = _register(web, "9100417", **{"Accept-Language": "sv"})
    assert "har redan en timme för kund 9100417" in twice.text
    bad_month = web.get("/ersattning", params={"manad": "september"})
    assert bad_month.status_code == 400 and 'data-rule="invalid-month"' in bad_month.text


def test_another_providers_customer_is_refused_as_one_that_does_not_exist(store):
    web = page_client(store, "coord-b")
    theirs, nobody = _register(web, "9100417"), _register(web, "9999999")
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.text.replace("9100417", "ID") == nobody.text.replace("9999999", "ID")
    assert store.registered_hours(PROVIDER_A) == [] and store.registered_hours(PROVIDER_B) == []
    # Their own report: B's lock only, whatever provider the address names.
    shown = _report(web, leverantor=PROVIDER_A)
    assert shown["mounts"] == {"HL-SODER1": "no"} and "Astrid" not in shown["html"]


def test_who_may_register_and_read(store):
    carer = page_client(store, "carer-a")
    assert carer.get("/ersattning").status_code == 403
    assert _register_raw(carer, "9100417").status_code == 403
    assert 'href="/ersattning"' not in carer.get("/").text
    assert page_client(store, "tech").get("/ersattning").status_code == 403
    assert store.registered_hours(PROVIDER_A) == []
    assert 'href="/ersattning"' in page_client(store, "coord-a").get("/").text
    # The lock administrator: every provider's, chosen; an hour goes to the customer's provider.
    admin = page_client(store, "admin")
    assert _register(admin, "9200539").status_code == 303
    assert [h.registered_by for h in store.registered_hours(PROVIDER_B)] == ["Lena Låsadmin"]
    assert _report(admin, leverantor=PROVIDER_B)["mounts"] == {"HL-SODER1": "yes"}
    assert _report(admin, leverantor=PROVIDER_A)["mounts"] == {"HL-NORR01": "no", "HL-NORR02": "no"}
    store.add_customer("9300001", "Utan Utförare", "Gatan 1", NOW)  # no provider
    orphan = _register(admin, "9300001")
    assert orphan.status_code == 409 and _rule(orphan.text) == "customer-without-provider"


def _register_raw(web, kund):
    token = csrf_of(web.get("/").text)
    return web.post("/ersattning/timme", data={"csrf_token": token, "kund": kund, "dag": DAY},
                    follow_redirects=False)


# ---- the page's report against an oracle -----------------------------------------------------

CUSTOMERS = ["9100417", "9100428", "9100999", "9200539"]  # A, A, A without a lock, B's
REGISTRATIONS = st.lists(st.tuples(st.sampled_from(CUSTOMERS), st.integers(1, 3),
                                   st.sampled_from(["", "HL-NORR01", "HL-NORR02", "HL-NORR03"])),
                         max_size=6)


def _oracle(posted):
    """What the page must show: the hours accepted (A's customers, each registration once),
    and which mounts they pay for (named hours first, the rest in turn, one hour a mount)."""
    accepted = []
    for number, day, lock in posted:
        if number != "9200539" and (number, day, lock) not in accepted:
            accepted.append((number, day, lock))
    mounts = {**A_MOUNTS, **SECOND_MOUNT}
    paid, unmatched = set(), []
    for named in (True, False):
        for number, day, lock in sorted(accepted, key=lambda h: h[1]):
            if bool(lock) != named:
                continue
            free = [m for m, c in mounts.items() if c == number and m not in paid
                    and (not named or m == lock)]
            if free:
                paid.add(free[0])
            else:
                unmatched.append((number, day, lock))
    return accepted, {m: "yes" if m in paid else "no" for m in mounts}, len(unmatched)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(posted=REGISTRATIONS)
@example(posted=[("9100417", 1, ""), ("9100417", 2, "HL-NORR01")])  # the named hour takes its lock
def test_the_reports_matching_is_the_oracles(tmp_path_factory, posted):
    with FleetStore(str(tmp_path_factory.mktemp("h") / "fleet.sqlite3")) as store:
        populate_web(store)
        for lock_id, number in SECOND_MOUNT.items():
            store.add_lock(lock_id, "virtual", "1.0", bytes(32), now=NOW)
            store.mount_lock(lock_id, number, None, "Fitter", NOW, now=NOW)
        web = page_client(store, "coord-a")
        for number, day, lock in posted:
            _register(web, number, dag=f"{MONTH}-{day:02d}", las=lock)
        accepted, mounts, unmatched_hours = _oracle(posted)
        shown = _report(web)
        assert sorted((h.customer_number, h.day.day, h.lock_id or "")
                      for h in store.registered_hours(PROVIDER_A)) == sorted(accepted)
        assert shown["mounts"] == mounts
        kinds = [k for k, _ in shown["mismatches"]]
        assert kinds.count("mount-without-hour") == list(mounts.values()).count("no")
        assert kinds.count("hour-without-mount") == unmatched_hours
        assert shown["balanced"] == ("yes" if not kinds else "no")
