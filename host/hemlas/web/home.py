"""Startsida: the lock warnings of the coordinator's provider (fleet/lock_warnings.py), each
linking to its lock's row in Batterirapport, kept current without a reload: the list is a
fragment htmx asks for every few seconds, answered 204 (nothing to swap) while it has not
changed, so a screen reader is not read the same list again and focus stays where it is."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..fleet import lock_warnings as lw
from ..i18n import N_, Texts
from ..service.deps import StoreDep
from .pages import PageCaller
from .render import render

router = APIRouter(include_in_schema=False)
POLL_S = 3  # the issue asks for a field client's upload on the page within 5 s

# What each kind of warning is, as a heading, and what to do about it (the routine's words).
KIND_TITLE = Texts({
    lw.BATTERY_CRITICAL: N_("Battery CRITICAL"),
    lw.FORCED_ENTRY: N_("Forced entry"),
    lw.JAMMED: N_("Lock jammed"),
    lw.BATTERY_LOW: N_("Battery LOW"),
    lw.DOOR_LEFT_OPEN: N_("Door left open"),
    lw.SWAP_UNVERIFIED: N_("Battery swap begun, not verified"),
    lw.REVOCATION_PENDING: N_("Revoked keys not yet on the lock"),
    lw.NOT_HEARD_FROM: N_("Not heard from"),
})
KIND_ADVICE = Texts({
    lw.BATTERY_CRITICAL: N_("The battery may be fully discharged: do not swap it; call the "
                            "service desk."),
    lw.FORCED_ENTRY: N_("Someone struck the locked door hard: check the door and the customer."),
    lw.JAMMED: N_("The bolt jammed and has not moved since: check the door and the lock."),
    lw.BATTERY_LOW: N_("Swap the battery: Kund, Enheter, Hantera lås, Registrera batteribyte."),
    lw.DOOR_LEFT_OPEN: N_("The door was left open after a visit: have it shut."),
    lw.SWAP_UNVERIFIED: N_("Finish the swap at the door: lock at least 5 times and unlock at "
                           "least 5 times."),
    lw.REVOCATION_PENDING: N_("The lock still accepts these keys until someone connects to it "
                              "as administrator and pushes the revocations."),
    lw.NOT_HEARD_FROM: N_("No battery reading for a week or more: have the lock looked at."),
})
# The kinds shown as an alert (role="alert" is not used: the list is polled).
URGENT = {lw.BATTERY_CRITICAL, lw.FORCED_ENTRY, lw.JAMMED}


def _groups(warnings: list[lw.LockWarning]) -> list[tuple[str, list[lw.LockWarning]]]:
    return [(kind, [w for w in warnings if w.kind == kind]) for kind in lw.KINDS
            if any(w.kind == kind for w in warnings)]


def _digest(warnings: list[lw.LockWarning], lang: str) -> str:
    text = repr((lang, [(w.kind, w.lock_id, w.customer_number, w.at, w.figure) for w in warnings]))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _context(fleet, caller) -> dict:
    from ..i18n import language

    warnings = lw.lock_warnings(fleet, caller)
    return {"groups": _groups(warnings), "count": len(warnings), "digest": _digest(warnings, language()),
            "kind_title": KIND_TITLE, "kind_advice": KIND_ADVICE, "urgent": URGENT,
            "poll_s": POLL_S}


@router.get("/")
def start_page(request: Request, caller: PageCaller, fleet: StoreDep) -> Response:
    return render(request, "start.html", caller=caller, **_context(fleet, caller))


@router.get("/startsida/varningar")
def warnings_fragment(request: Request, caller: PageCaller, fleet: StoreDep,
                      seen: str = "") -> Response:
    """The warnings list alone, for the poll; 204 when it is what the page shows already."""
    context = _context(fleet, caller)
    if seen and seen == context["digest"]:
        return Response(status_code=204)
    return render(request, "start_warnings.html", caller=caller, **context)
