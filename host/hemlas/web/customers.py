"""Kund: the search (name, customer number or personnummer: fleet/personnummer.py), the
customer's page with its tabs Enheter (the locks; Hantera lås → Registrera batteribyte, after
the routine's yes) and NFC (the tags; deactivate), over fleet/customer_devices.py. A refusal
is shown beside the form it refuses, with its rule's name; a form that worked redirects
(303), so a reload sends nothing twice."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..fleet import customer_devices as devices
from ..fleet import personnummer
from ..fleet.errors import FleetError
from ..fleet.customers import UnknownCustomerError
from ..fleet.roles import DEACTIVATE_NFC, REGISTER_SWAPS, ForbiddenError
from ..i18n import N_, Texts
from ..service import problems
from ..service.deps import StoreDep
from .pages import Form, PageCaller
from .render import render

router = APIRouter(include_in_schema=False)
TABS = Texts({"enheter": N_("Enheter"), "nfc": N_("NFC")})
DONE = Texts({
    "nfc": N_("The NFC tag is deactivated: it may now be taken down."),
    "nej": N_("Nothing was registered."),
})


def _refusal(err: FleetError) -> dict:
    return {"message": str(err), "rule": problems.rule_name(err)}


@router.get("/kund")
def search_page(request: Request, caller: PageCaller, fleet: StoreDep, sok: str = "") -> Response:
    refusal, found, masked = None, None, {}
    if sok.strip():
        try:
            with fleet.unit_of_work() as uow:
                found = personnummer.search(uow, caller, sok)
                numbers = personnummer.personal_numbers(uow, [c.customer_number for c in found])
            masked = {k: personnummer.masked(v) for k, v in numbers.items()}
        except personnummer.InvalidPersonnummerError as err:
            refusal = _refusal(err)
    return render(request, "customer_search.html", 400 if refusal else 200, caller=caller,
                  search=sok[:100], found=found, masked=masked, refusal=refusal)


def _customer_page(request, caller, fleet, number: str, tab: str, status: int = 200,
                   refusal: dict | None = None, done: str | None = None) -> Response:
    tab = tab if tab in TABS else "enheter"
    page = devices.customer_devices(fleet, caller, number)  # 404 page for another provider's
    return render(request, "customer.html", status, caller=caller, page=page, tab=tab, tabs=TABS,
                  refusal=refusal, done=DONE.get(done) if done else None,
                  may_deactivate=caller.may(DEACTIVATE_NFC), may_swap=caller.may(REGISTER_SWAPS))


@router.get("/kund/{number}")
def customer_page(request: Request, number: str, caller: PageCaller, fleet: StoreDep,
                  flik: str = "enheter", klart: str = "") -> Response:
    return _customer_page(request, caller, fleet, number, flik, done=klart or None)


@router.post("/kund/{number}/nfc/inaktivera")
def deactivate_nfc(request: Request, number: str, caller: PageCaller, fleet: StoreDep,
                   _form: Form) -> Response:
    try:
        devices.deactivate_nfc_tag(fleet, caller, number)
    except FleetError as err:
        if isinstance(err, (UnknownCustomerError, ForbiddenError)):
            raise  # the error pages: 404 as for none, 403
        return _customer_page(request, caller, fleet, number, "nfc", 409, _refusal(err))
    return RedirectResponse(f"/kund/{number}?flik=nfc&klart=nfc", status_code=303)


def _lock_of(fleet, caller, number: str, lock_id: str):
    page = devices.customer_devices(fleet, caller, number)
    lock = next((v for v in page.locks if v.lock_id == lock_id), None)
    if lock is None:  # not this customer's lock: as for one that does not exist
        raise devices.LockNotWithCustomerError(lock_id, page.customer.customer_number)
    return page, lock


@router.get("/kund/{number}/las/{lock_id}")
def manage_lock(request: Request, number: str, lock_id: str, caller: PageCaller,
                fleet: StoreDep, klart: str = "") -> Response:
    """Hantera lås: the lock, its battery and swaps, and Registrera batteribyte."""
    page, lock = _lock_of(fleet, caller, number, lock_id)
    return render(request, "manage_lock.html", caller=caller, page=page, lock=lock,
                  may_swap=caller.may(REGISTER_SWAPS), swapped=klart == "byte")


@router.get("/kund/{number}/las/{lock_id}/batteribyte")
def confirm_swap(request: Request, number: str, lock_id: str, caller: PageCaller,
                 fleet: StoreDep) -> Response:
    """Registrera batteribyte: the routine's confirmation question, or why it is not asked."""
    page, lock = _lock_of(fleet, caller, number, lock_id)
    refusal = devices.swap_refusal(fleet, lock_id)
    return render(request, "confirm_swap.html", caller=caller, page=page, lock=lock,
                  refusal=_refusal(refusal) if refusal else None)


@router.post("/kund/{number}/las/{lock_id}/batteribyte")
def register_swap(request: Request, number: str, lock_id: str, caller: PageCaller,
                  fleet: StoreDep, form: Form) -> Response:
    page, lock = _lock_of(fleet, caller, number, lock_id)
    if form.get("svar") != "ja":
        return RedirectResponse(f"/kund/{number}?flik=enheter&klart=nej", status_code=303)
    try:
        devices.register_battery_swap(fleet, caller, number, lock_id)
    except devices.BatteryMayBeDischargedError as err:
        return render(request, "confirm_swap.html", 409, caller=caller, page=page, lock=lock,
                      refusal=_refusal(err))
    return RedirectResponse(f"/kund/{number}/las/{lock_id}?klart=byte", status_code=303)
