"""The pages' tests' municipality: service_helpers' two providers, with personnummer, an active
NFC tag at a customer without a lock, and a page client that logs in through the login form
(its CSRF token and all), as a browser does."""

from __future__ import annotations

import re

from hemlas.fleet import personnummer
from hemlas.fleet.roles import local_caller

from service_helpers import NOW, PASSWORD, client, populate

# 19811218-9876 is Skatteverket's own example; the others are made valid by their check digit.
PERSONNUMMER = {"9100417": "194503129282", "9100428": "193811249170", "9200539": "198112189876"}
NFC_CUSTOMER, NFC_TAG = "9100999", "NFC-0042"  # provider A's, no lock: a tag still up


def populate_web(store) -> None:
    populate(store)
    store.add_customer(NFC_CUSTOMER, "Alma Nyström", "Norrgatan 19", NOW, provider="Omsorg Norr AB")
    store.register_nfc_tag(NFC_CUSTOMER, NFC_TAG, "Karin Koordinator", NOW)
    with store.unit_of_work() as uow:
        for number, pnr in PERSONNUMMER.items():
            personnummer.set_personal_number(uow, local_caller(), number, pnr)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def page_client(store, login: str | None = None, base_url: str = "http://localhost"):
    """A client of the pages; logged in through the form when ``login`` is given."""
    web = client(store, base_url)
    if login is not None:
        form = web.get("/login")
        answer = web.post("/login", data={"csrf_token": csrf_of(form.text), "login": login,
                                          "password": PASSWORD, "next": "/"},
                          follow_redirects=False)
        assert answer.status_code == 303, answer.text
    return web
