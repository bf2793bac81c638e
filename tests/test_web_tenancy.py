"""Provider isolation on the pages, as tests/test_service_tenancy.py walks the API: every page
route of the app (a new one fails this test until it is classified here), tried by provider
B's coordinator and carer with provider A's customer numbers, lock ids, names, addresses and
personnummer in every path and query: nothing of A's is shown or changed, and an A id answers
exactly as an id that does not exist (the same status, the same page)."""

from __future__ import annotations

import re
import time

from hemlas.fleet.store import FleetStore
from hemlas.service.app import API_PREFIX, create_app, endpoints

from service_helpers import A_CUSTOMERS, A_LOCKS, B_CUSTOMERS, B_LOCKS, NOW, PROVIDER_A
from web_helpers import NFC_CUSTOMER, PERSONNUMMER, csrf_of, page_client, populate_web

# How each page is tried: "public" and "own" (nothing of anyone else's to name), "list" (its
# query parameters get A's strings), "by-id" (its path parameters get A's ids), "form" (the
# posted form's customer number is A's), POST or not.
PAGES = {
    ("GET", "/login"): ("public", ()),
    ("POST", "/login"): ("public", ()),
    ("POST", "/logout"): ("own", ()),
    ("POST", "/sprak"): ("own", ()),
    ("GET", "/"): ("list", ()),
    ("GET", "/startsida/varningar"): ("list", ("seen",)),
    ("GET", "/batterirapport"): ("list", ("niva", "sok", "sortera")),
    ("GET", "/batterirapport.csv"): ("list", ("niva", "sok", "sortera")),
    ("GET", "/kund"): ("list", ("sok",)),
    ("GET", "/kund/{number}"): ("by-id", ("flik",)),
    ("POST", "/kund/{number}/nfc/inaktivera"): ("by-id", ()),
    ("GET", "/kund/{number}/las/{lock_id}"): ("by-id", ()),
    ("GET", "/kund/{number}/las/{lock_id}/batteribyte"): ("by-id", ()),
    ("POST", "/kund/{number}/las/{lock_id}/batteribyte"): ("by-id", ()),
    ("GET", "/ersattning"): ("list", ("manad", "leverantor", "klart")),
    ("GET", "/ersattning.csv"): ("list", ("manad", "leverantor")),
    ("POST", "/ersattning/timme"): ("form", ("kund",)),
}
STATIC_MOUNT = "Mount(path='/static'"
A_NUMBERS = [*A_CUSTOMERS, NFC_CUSTOMER]
A_PNR = [PERSONNUMMER[n] for n in A_CUSTOMERS]
A_STRINGS = [*A_NUMBERS, *A_LOCKS, *(s for pair in A_CUSTOMERS.values() for s in pair),
             "Alma Nyström", PROVIDER_A, *A_PNR, *(p[:8] for p in A_PNR)]
NO_SUCH = {"number": "9999999", "lock_id": "HL-NOSUCH"}


def _own_ids(login: str) -> dict[str, str]:
    [(number, lock_id)] = [(n, lock) for lock, n in B_LOCKS.items()]
    return {"number": number, "lock_id": lock_id}


def _snapshot(store):
    return ([c for c in store.customers() if c.customer_number in A_NUMBERS],
            store.nfc_tags(NFC_CUSTOMER), store.pending_swaps(),
            {lock_id: store.battery_readings(lock_id) for lock_id in A_LOCKS},
            store.registered_hours(PROVIDER_A, include_all=True))


def _leaks(text: str, echoed: list[str]) -> list[str]:
    for value in echoed:
        text = text.replace(value, "")
    return [s for s in A_STRINGS if s in text]


def test_every_page_as_another_providers_coordinator_and_carer(tmp_path):
    with FleetStore(str(tmp_path / "fleet.sqlite3")) as store:
        populate_web(store)
        app = create_app(store)
        found = [(m, p) for m, p in endpoints(app) if not p.startswith(f"{API_PREFIX}/")
                 and not p.startswith(STATIC_MOUNT)]
        assert sorted(set(found) - set(PAGES)) == [], "pages this test cannot classify: add them"
        assert sorted(set(PAGES) - set(found)) == [], "PAGES names pages the app lacks"
        before = _snapshot(store)
        attempts = 0
        for login in ("coord-b", "carer-b"):
            web = page_client(store, login)
            token = csrf_of(web.get("/").text)
            own = _own_ids(login)
            for (method, path), (kind, params) in sorted(PAGES.items(), key=lambda r: r[0][1] == "/logout"):
                if kind in ("public", "own"):
                    continue  # nothing of A's to name: the login and language forms
                if kind == "list":
                    tries = [{}] + [{name: value} for name in params for value in A_STRINGS]
                    for query in tries:
                        answer = web.request(method, path, params=query)
                        attempts += 1
                        assert answer.status_code < 500 and not _leaks(answer.text, list(query.values())), \
                            (login, path, query, _leaks(answer.text, list(query.values())))
                    continue
                if kind == "form":
                    day = time.strftime("%Y-%m-%d", time.localtime(NOW))
                    for value in A_NUMBERS:
                        form = {"csrf_token": token, "dag": day, "manad": day[:7]}
                        answer = web.post(path, data={**form, "kund": value})
                        nonexistent = web.post(path, data={**form, "kund": NO_SUCH["number"]})
                        attempts += 2
                        assert answer.status_code == nonexistent.status_code in (403, 404), \
                            (login, path, value, answer.status_code)
                        assert answer.text.replace(value, "ID") == \
                            nonexistent.text.replace(NO_SUCH["number"], "ID"), (login, path, value)
                        assert not _leaks(answer.text, [value]), (login, path, value)
                    continue
                names = re.findall(r"{(\w+)}", path)
                # Each path parameter in turn A's, the others B's own (or all A's).
                combos = [{**own, name: value} for name in names
                          for value in (A_NUMBERS if name == "number" else A_LOCKS)]
                combos += [{"number": n, "lock_id": lock} for lock, n in A_LOCKS.items()] if len(names) == 2 else []
                for ids in combos:
                    url = path.format(**ids)
                    missing = {k: (NO_SUCH[k] if ids[k] != own[k] else own[k]) for k in names}
                    data = {"csrf_token": token, "svar": "ja"} if method == "POST" else None
                    answer = web.request(method, url, data=data)
                    nonexistent = web.request(method, path.format(**missing), data=data)
                    attempts += 2
                    # 404 as for none; or the role's 403 before any id is looked at, alike.
                    assert answer.status_code == nonexistent.status_code in (403, 404), \
                        (login, url, answer.status_code, nonexistent.status_code)
                    shown = answer.text
                    for k in names:
                        shown = shown.replace(ids[k], "ID")
                    unknown = nonexistent.text
                    for k in names:
                        unknown = unknown.replace(missing[k], "ID")
                    assert shown == unknown, f"{url} answers unlike one that does not exist"
                    assert not _leaks(answer.text, list(ids.values())), (login, url)
        assert _snapshot(store) == before
        # A's own coordinator does see them: the walk can see a leak.
        a = page_client(store, "coord-a")
        assert all(a.get(f"/kund/{n}").status_code == 200 for n in A_CUSTOMERS)
        assert "19450312-****" in a.get("/kund?sok=19450312-9282").text
        assert "Astrid Alm" in a.get("/ersattning", params={"manad": time.strftime("%Y-%m", time.localtime(NOW))}).text
        assert set(B_CUSTOMERS) and attempts > 100
        print(f"page tenancy: {len(PAGES)} pages x 2 roles, {attempts} requests")
