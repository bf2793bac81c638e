"""What every page route is given and how a page says no: the logged-in caller (or a way to
the login page), a posted form whose CSRF token was checked, and the error pages (not found,
not allowed, refused) in the request's language. The API keeps its problem details: the
handlers here answer in HTML only off /api."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from ..fleet import sessions
from ..fleet.customers import UnknownCustomerError
from ..fleet.errors import FleetError, UnknownLockError
from ..fleet.roles import Caller, ForbiddenError
from ..i18n import N_, Texts
from ..service import deps, problems
from ..service.app import API_PREFIX
from .render import render
from .security import CSRF_FIELD, csrf_valid

# This layer's own refusals (the domain's come with their own messages).
TEXT = Texts({
    "csrf": N_("This form could not be accepted: it was sent from another page or has expired. "
               "Go back, reload the page and send it again."),
    "not-found": N_("There is nothing here: the address is wrong, or what it names does not "
                    "exist or is not yours to see."),
    "form": N_("This address takes a form sent from its own page."),
})


class LoginNeeded(Exception):
    """No valid session behind a page request: to the login page, and back afterwards."""


class CsrfRefused(Exception):
    pass


def is_api(request: Request) -> bool:
    return request.url.path == API_PREFIX or request.url.path.startswith(API_PREFIX + "/")


def page_caller(request: Request, fleet: deps.StoreDep) -> Caller:
    """The logged-in caller, resolved as the API resolves it (service/deps.py)."""
    try:
        return deps.caller(request, fleet)
    except sessions.TokenError:
        raise LoginNeeded() from None


PageCaller = Annotated[Caller, Depends(page_caller)]


async def posted_form(request: Request) -> dict[str, str]:
    """The posted form's fields (application/x-www-form-urlencoded: every form here is one,
    so no multipart parser is needed), once its CSRF token is checked. A field sent twice
    keeps its first value."""
    body = (await request.body()).decode("utf-8", "replace")
    fields: dict[str, str] = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        fields.setdefault(name, value)
    if not csrf_valid(request, fields.get(CSRF_FIELD)):
        raise CsrfRefused()
    return fields


Form = Annotated[dict[str, str], Depends(posted_form)]


def login_needed(request: Request, _err: LoginNeeded) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request"):
        # htmx's poll: tell it to load the login page rather than put it inside the list.
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


def csrf_refused(request: Request, _err: CsrfRefused) -> Response:
    return render(request, "error.html", 403, title=N_("Form not accepted"), message=TEXT["csrf"],
                  rule="csrf")


def fleet_error(request: Request, err: FleetError) -> Response:
    """A domain refusal that reached no form: the page says it, with its rule's name."""
    if is_api(request):
        return problems.fleet_error(request, err)
    if isinstance(err, (UnknownCustomerError, UnknownLockError)):
        # Word for word as for an id that does not exist: nothing tells whose it is.
        return not_found(request)
    status = 403 if isinstance(err, ForbiddenError) else 400
    return render(request, "error.html", status, title=N_("Not allowed") if status == 403 else N_("Refused"),
                  message=str(err), rule=problems.rule_name(err))


def not_found(request: Request) -> Response:
    return render(request, "error.html", 404, title=N_("Not found"), message=TEXT["not-found"],
                  rule="not-found")


def http_error(request: Request, err: HTTPException) -> Response:
    if is_api(request):
        return problems.http_error(request, err)
    if err.status_code == 404:
        return not_found(request)
    if err.status_code == 405:
        return render(request, "error.html", 405, title=N_("Refused"), message=TEXT["form"],
                      rule="method-not-allowed")
    return render(request, "error.html", err.status_code, title=N_("Refused"),
                  message=str(err.detail), rule="http-error")


def install_handlers(app) -> None:
    app.add_exception_handler(LoginNeeded, login_needed)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(FleetError, fleet_error)
    app.add_exception_handler(HTTPException, http_error)
