"""The pages through the real application (FastAPI's TestClient over a real SQLite store): the
security headers, CSRF on every form, login refusals as the CLI says them, an open redirect
refused, the battery report's CSV, Kund's search and masking by role, the NFC and swap forms
with their rule-named refusals, and the personnummer rules against an oracle of the test's."""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hemlas.firmware import wire
from hemlas.fleet import personnummer
from hemlas.fleet.models import LockEvent
from hemlas.fleet.store import FleetStore
from hemlas.web import security, spreadsheet
from hemlas.web.render import STATIC

from service_helpers import PASSWORD
from web_helpers import NFC_CUSTOMER, NFC_TAG, PERSONNUMMER, csrf_of, page_client, populate_web

VENDORED = {STATIC / "htmx.min.js": "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
            Path(__file__).parent / "vendor" / "axe.min.js":
                "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"}


@pytest.fixture
def store(tmp_path):
    with FleetStore(str(tmp_path / "fleet.sqlite3")) as s:
        populate_web(s)
        yield s


def test_vendored_files_are_the_recorded_ones():
    for path, digest in VENDORED.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path


def test_every_answer_carries_the_security_headers_and_pages_are_not_cached(store):
    web = page_client(store, "coord-a")
    for url in ("/", "/login", "/batterirapport", "/kund", "/static/site.css", "/api/v1/health", "/nowhere"):
        answer = web.get(url)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert (answer.headers.get("cache-control") == "no-store") == (not url.startswith("/static"))
    assert "<script>" not in web.get("/").text  # no inline script: the policy would block it


def test_a_page_without_a_login_goes_to_the_login_page_and_back(store):
    web = page_client(store)
    answer = web.get("/kund?sok=Alm", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login?next=/kund%3Fsok%3DAlm")
    poll = web.get("/startsida/varningar", headers={"HX-Request": "true"}, follow_redirects=False)
    assert (poll.status_code, poll.headers["hx-redirect"]) == (401, "/login")


@pytest.mark.parametrize("target, lands", [("/kund", "/kund"), ("//evil.example/", "/"),
                                           ("https://evil.example/", "/"), ("/\\evil.example", "/")])
def test_login_returns_only_to_a_path_of_this_site(store, target, lands):
    web = page_client(store)
    form = web.get("/login")
    answer = web.post("/login", data={"csrf_token": csrf_of(form.text), "login": "coord-a",
                                      "password": PASSWORD, "next": target}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, lands)
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie  # loopback


def test_the_session_cookie_is_secure_off_loopback(store):
    web = page_client(store, base_url="https://fleet.kommun.example")  # behind the TLS proxy
    form = web.get("/login")
    assert "Secure" in form.headers["set-cookie"]  # the pre-login token's cookie too
    answer = web.post("/login", data={"csrf_token": csrf_of(form.text), "login": "coord-a",
                                      "password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 303
    [session] = [c for c in answer.headers.get_list("set-cookie") if c.startswith("hemlas_session=")]
    assert "Secure" in session and "HttpOnly" in session


def test_every_form_refuses_a_post_without_its_csrf_token(store):
    web = page_client(store, "coord-a")
    token = csrf_of(web.get("/").text)
    forms = [("/logout", {}), ("/sprak", {"lang": "en"}),
             (f"/kund/{NFC_CUSTOMER}/nfc/inaktivera", {}),
             ("/kund/9100417/las/HL-NORR01/batteribyte", {"svar": "ja"}),
             ("/ersattning/timme", {"kund": "9100417", "dag": "2026-09-21"})]
    for url, fields in forms:
        for token_sent in (None, "x" * 64, token[:-1] + ("0" if token[-1] != "0" else "1")):
            data = fields if token_sent is None else {**fields, "csrf_token": token_sent}
            answer = web.post(url, data=data, follow_redirects=False)
            assert answer.status_code == 403 and 'data-rule="csrf"' in answer.text, (url, token_sent)
    # Nothing happened: the tag is active, no swap begun, still logged in.
    assert store.nfc_tags(NFC_CUSTOMER, active_only=True) and store.pending_swaps() == []
    assert store.registered_hours("Omsorg Norr AB") == []
    assert web.get("/", follow_redirects=False).status_code == 200
    # The login form too: a pre-login token, compared with its cookie.
    anonymous = page_client(store)
    anonymous.get("/login")
    refused = anonymous.post("/login", data={"login": "coord-a", "password": PASSWORD,
                                             "csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403 and "hemlas_session" not in refused.headers.get("set-cookie", "")


def test_a_csrf_token_is_the_sessions_own(store):
    a, b = page_client(store, "coord-a"), page_client(store, "coord-a")
    token_a = csrf_of(a.get("/").text)
    assert token_a != csrf_of(b.get("/").text)
    assert b.post(f"/kund/{NFC_CUSTOMER}/nfc/inaktivera", data={"csrf_token": token_a},
                  follow_redirects=False).status_code == 403


def test_login_refusals_are_the_clis_in_the_pages_language(store, monkeypatch):
    web = page_client(store)
    token = csrf_of(web.get("/login").text)
    wrong = web.post("/login", data={"csrf_token": token, "login": "coord-a", "password": "nope"})
    assert wrong.status_code == 401 and 'data-rule="login-failed"' in wrong.text
    assert "wrong login name or password" in wrong.text
    swedish = web.post("/login", data={"csrf_token": token, "login": "coord-a", "password": "nope"},
                       headers={"Accept-Language": "sv"})
    assert "fel inloggningsnamn eller lösenord" in swedish.text and '<html lang="sv">' in swedish.text
    for _ in range(3):  # five failures in all: then the right password is refused too
        web.post("/login", data={"csrf_token": token, "login": "coord-a", "password": "nope"})
    last = web.post("/login", data={"csrf_token": token, "login": "coord-a", "password": PASSWORD})
    assert last.status_code == 429 and 'data-rule="login-rate-limit"' in last.text
    assert int(last.headers["retry-after"]) > 0


def test_the_language_cookie_wins_over_the_browser(store):
    web = page_client(store, "coord-a")
    token = csrf_of(web.get("/").text)
    web.post("/sprak", data={"csrf_token": token, "lang": "sv", "next": "/kund"}, follow_redirects=False)
    page = web.get("/", headers={"Accept-Language": "en"}).text
    assert '<html lang="sv">' in page and "<h1>Startsida</h1>" in page


def test_the_start_page_lists_each_kind_of_warning_of_the_callers_provider_only(store):
    store.record_battery_reading("HL-NORR01", idle_mv=3000, loaded_mv=2700, state=wire.BATTERY_CRITICAL)
    store.begin_swap("HL-NORR02", "Anna Andersson")
    key = store.issue_key("HL-NORR02", "Anna Andersson", wire.ROLE_STAFF, 0, 2_000_000_000)
    store.revoke_key(key.record.key_id)
    store.record_battery_reading("HL-SODER1", idle_mv=3000, loaded_mv=2700, state=wire.BATTERY_CRITICAL)
    now = int(time.time())
    events = [("HL-NORR01", 1, wire.EVENT_UNLOCKED, []), ("HL-NORR01", 2, wire.EVENT_JAMMED, [1, 900, 3]),
              ("HL-NORR02", 1, wire.EVENT_JAMMED, [1, 900, 3]), ("HL-NORR02", 2, wire.EVENT_LOCKED, []),
              ("HL-NORR02", 3, wire.EVENT_FORCED, [2400]), ("HL-NORR02", 4, wire.EVENT_DOOR_LEFT_OPEN, [600]),
              ("HL-SODER1", 1, wire.EVENT_FORCED, [2400])]
    with store.unit_of_work() as uow:  # as a sync stores them (sync.py)
        uow.add_all(LockEvent(lock_id=lock_id, log_epoch=0, seq=seq, at=now - 60 + seq, type=kind,
                              key_id=None, fields=fields, synced_at=now)
                    for lock_id, seq, kind, fields in events)
    page = page_client(store, "coord-a").get("/").text
    assert 'data-lock="HL-NORR01" data-kind="jammed"' in page
    assert 'data-lock="HL-NORR02" data-kind="jammed"' not in page  # it locked since
    assert 'data-lock="HL-NORR02" data-kind="forced-entry"' in page and "a blow of 2400 mg" in page
    assert 'data-lock="HL-NORR02" data-kind="door-left-open"' in page and "open 10 minutes" in page
    assert 'data-lock="HL-NORR01" data-kind="battery-critical"' in page
    assert "do not swap it; call the service desk" in page
    assert 'data-lock="HL-NORR02" data-kind="swap-unverified"' in page
    assert 'data-lock="HL-NORR02" data-kind="revocation-pending"' in page
    assert 'href="/batterirapport#las-HL-NORR01"' in page
    assert "HL-SODER1" not in page and "Bertil" not in page


def test_the_poll_answers_204_while_nothing_changed(store):
    web = page_client(store, "coord-a")
    digest = web.get("/startsida/varningar").text.split('data-digest="')[1].split('"')[0]
    assert web.get(f"/startsida/varningar?seen={digest}").status_code == 204
    store.record_battery_reading("HL-NORR01", idle_mv=3000, loaded_mv=2700, state=wire.BATTERY_CRITICAL)
    changed = web.get(f"/startsida/varningar?seen={digest}")
    assert changed.status_code == 200 and 'data-kind="battery-critical"' in changed.text


def test_the_report_filters_sorts_and_exports_for_a_swedish_spreadsheet(store):
    store.record_battery_reading("HL-NORR01", idle_mv=3000, loaded_mv=2700, state=wire.BATTERY_CRITICAL)
    store.record_battery_reading("HL-NORR02", idle_mv=4400, loaded_mv=4150, state=wire.BATTERY_LOW,
                                 days_left=9)
    store.add_customer("9100555", "=HYPERLINK(\"http://x\")", None, 0, provider="Omsorg Norr AB")
    store.add_lock("HL-NORR03", "virtual", "1.0", b"s" * 32)
    store.assign_lock("HL-NORR03", "9100555", 0)
    web = page_client(store, "coord-a")
    page = web.get("/batterirapport?sortera=las").text
    assert page.index('id="las-HL-NORR01"') < page.index('id="las-HL-NORR02"') < page.index('id="las-HL-NORR03"')
    assert '<svg class="trend"' in page and "Loaded voltage, 2 readings: 4100 mV" in page
    assert "HL-SODER1" not in page
    only_critical = web.get("/batterirapport?niva=CRITICAL").text
    assert 'id="las-HL-NORR01"' in only_critical and 'id="las-HL-NORR02"' not in only_critical
    exported = web.get("/batterirapport.csv?sortera=las")
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:5] == ["level", "lock_id", "customer_number", "customer_name", "loaded_v"]
    by_lock = {r[1]: r for r in rows[1:]}
    assert by_lock["HL-NORR01"][0] == "CRITICAL" and by_lock["HL-NORR01"][4] == "2,70"
    assert by_lock["HL-NORR02"][7] == "9"
    assert by_lock["HL-NORR03"][3] == "'=HYPERLINK(\"http://x\")"  # shown as text, never run
    assert set(by_lock) == {"HL-NORR01", "HL-NORR02", "HL-NORR03"}


@given(st.text(max_size=20))
def test_no_text_cell_starts_a_formula(text):
    cell = spreadsheet.text_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell in (text, "'" + text)


def test_kund_finds_a_customer_by_personnummer_in_every_form_and_masks_it_in_lists(store):
    web = page_client(store, "coord-a")
    for written in ("19450312-9282", "194503129282", "450312-9282", "4503129282"):
        page = web.get("/kund", params={"sok": written}).text
        assert 'data-customer="9100417"' in page and "19450312-****" in page, written
        assert "19450312-9282" not in page.split("<tbody>")[1]
    assert 'data-customer="9100417"' in web.get("/kund?sok=alm").text  # by name
    assert 'data-customer="9100417"' in web.get("/kund?sok=9100417").text  # by number
    # Provider B's customer, by its personnummer: not found, as if there were none.
    assert 'data-customer' not in web.get("/kund?sok=19811218-9876").text
    refused = web.get("/kund?sok=19450312-9283")
    assert refused.status_code == 400 and 'data-rule="invalid-personnummer"' in refused.text
    assert "check digit" in refused.text


@pytest.mark.parametrize("login, whole", [("coord-a", True), ("admin", True), ("carer-a", False)])
def test_the_customer_page_shows_the_whole_personnummer_only_to_those_who_need_it(store, login, whole):
    page = page_client(store, login).get("/kund/9100417").text
    assert ("19450312-9282" in page) == whole and ("19450312-****" in page) == (not whole)


def test_a_technician_gets_no_customer_page(store):
    answer = page_client(store, "tech").get("/kund/9100417")
    assert answer.status_code == 403 and 'data-rule="role-may-not"' in answer.text
    assert "Astrid" not in answer.text


def test_deactivating_the_nfc_tag_and_again(store):
    web = page_client(store, "coord-a")
    page = web.get(f"/kund/{NFC_CUSTOMER}?flik=nfc")
    done = web.post(f"/kund/{NFC_CUSTOMER}/nfc/inaktivera", data={"csrf_token": csrf_of(page.text)})
    assert f'data-tag="{NFC_TAG}" data-active="no"' in done.text
    assert "by Karin Koordinator" in done.text.split(f'data-tag="{NFC_TAG}"')[1]
    [tag] = store.nfc_tags(NFC_CUSTOMER)
    assert tag.deactivated_by == "Karin Koordinator"
    again = web.post(f"/kund/{NFC_CUSTOMER}/nfc/inaktivera", data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 409 and 'data-rule="nfc-tag"' in again.text
    assert "has no active NFC tag: nothing to deactivate" in again.text
    # A carer may not: the role's refusal, and the tag of another customer stays as it was.
    carer = page_client(store, "carer-a")
    store.register_nfc_tag(NFC_CUSTOMER, "NFC-0043", "Karin Koordinator")
    token = csrf_of(carer.get("/").text)
    refused = carer.post(f"/kund/{NFC_CUSTOMER}/nfc/inaktivera", data={"csrf_token": token})
    assert refused.status_code == 403 and store.nfc_tags(NFC_CUSTOMER, active_only=True)


def test_registering_a_battery_swap_asks_first_and_refuses_a_critical_battery(store):
    web = page_client(store, "coord-a")
    url = "/kund/9100417/las/HL-NORR01/batteribyte"
    question = web.get(url)
    assert "Have you swapped the battery of lock HL-NORR01" in question.text
    token = csrf_of(question.text)
    no = web.post(url, data={"csrf_token": token, "svar": "nej"})
    assert "Nothing was registered." in no.text and store.pending_swaps() == []
    yes = web.post(url, data={"csrf_token": token, "svar": "ja"})
    [swap] = store.pending_swaps()
    assert (swap.lock_id, swap.person, swap.stage) == ("HL-NORR01", "Karin Koordinator", "confirmed")
    assert f'data-swap="{swap.swap_id}"' in yes.text
    web.post(url, data={"csrf_token": token, "svar": "ja"})  # sent twice: still one swap
    assert len(store.pending_swaps()) == 1
    store.record_battery_reading("HL-NORR02", idle_mv=3000, loaded_mv=2700, state=wire.BATTERY_CRITICAL)
    critical = "/kund/9100428/las/HL-NORR02/batteribyte"
    assert 'data-rule="battery-may-be-discharged"' in web.get(critical).text
    assert "<button" not in web.get(critical).text.split("<main")[1].split("</main>")[0]
    refused = web.post(critical, data={"csrf_token": token, "svar": "ja"})
    assert refused.status_code == 409 and "Do not swap it; call the service desk" in refused.text
    assert [s.lock_id for s in store.pending_swaps()] == ["HL-NORR01"]
    # Another customer's lock in this customer's address: not found.
    assert web.get("/kund/9100417/las/HL-NORR02/batteribyte").status_code == 404


# ---- personnummer, against an oracle of the test's own ----------------------------------------

def _oracle_check_digit(nine: str) -> int:
    """Skatteverket's rule written out: weights 2,1,2,... over YYMMDDNNN, digit sums, and the
    digit that makes the total a multiple of ten."""
    total = sum(sum(divmod(int(d) * w, 10)) for d, w in zip(nine, [2, 1] * 5))
    return (10 - total % 10) % 10


@settings(max_examples=200)
@given(st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2024, 12, 31)),
       st.integers(0, 999), st.integers(0, 9), st.sampled_from(["12", "12-", "10", "10-"]))
def test_personnummer_forms_and_check_digit(birth, serial, wrong, form):
    nine = birth.strftime("%y%m%d") + f"{serial:03d}"
    check = _oracle_check_digit(nine)
    full = birth.strftime("%Y%m%d") + f"{serial:03d}{check}"
    today = datetime.date(2025, 6, 1)
    if form.startswith("10") and today.year - birth.year >= 100:
        written = nine[:6] + "+" + nine[6:] + str(check)  # the 10-digit form of a centenarian
    else:
        written = (full if form.startswith("12") else full[2:])
        written = written[:-4] + ("-" if form.endswith("-") else "") + written[-4:]
    assert personnummer.normalise(written, today) == full
    if wrong != check:
        with pytest.raises(personnummer.InvalidPersonnummerError, match="check digit"):
            personnummer.normalise(written[:-1] + str(wrong), today)


def test_personnummer_refusals():
    for text, why in (("19450230-1234", "no such date"), ("1945031-9282", "YYYYMMDD"),
                      ("19450312+9282", "10-digit form"), ("abc", "YYYYMMDD")):
        with pytest.raises(personnummer.InvalidPersonnummerError, match=why):
            personnummer.normalise(text)
    # A samordningsnummer: the day + 60.
    check = _oracle_check_digit("450372928")
    assert personnummer.normalise(f"19450372-928{check}") == f"19450372928{check}"
