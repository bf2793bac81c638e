"""Errors as RFC 9457 problem details (application/problem+json): type, title, status,
detail, and the rule's name. The detail is the domain error's own message, the one the CLI
prints after "hemlas:", so a refusal reads the same everywhere (and moves into the message
catalogue with it). Only the HTTP status is this layer's: one table, by error class.
"""

from __future__ import annotations

import logging
import re

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from ..fleet.accounts import (AccountExistsError, ProviderExistsError, UnknownAccountError,
                              UnknownProviderError, WeakPasswordError)
from ..fleet.customers import UnknownCustomerError
from ..fleet.erasure import ErasureRefusedError
from ..fleet.errors import FleetError, NotAFleetStoreError, StoreMissingError, UnknownLockError
from ..fleet.login import AccountDisabledError, LoginFailedError
from ..fleet.planned_visits import UnknownPlannedVisitError
from ..fleet.ratelimit import RateLimitedError
from ..fleet.roles import ForbiddenError
from ..fleet.sessions import TokenError, UnknownDeviceError
from ..fleet.uploads import SwapPendingElsewhereError, UploadIdReusedError
from ..i18n import N_, Texts, from_accept_language, using

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:hemlas:problem:"

# Most specific class first: the first match gives the status.
STATUS = (
    (TokenError, 401), (LoginFailedError, 401),
    (ForbiddenError, 403), (AccountDisabledError, 403),
    (UnknownCustomerError, 404), (UnknownLockError, 404), (UnknownAccountError, 404),
    (UnknownDeviceError, 404), (UnknownProviderError, 404), (UnknownPlannedVisitError, 404),
    (AccountExistsError, 409), (ProviderExistsError, 409), (ErasureRefusedError, 409),
    (UploadIdReusedError, 409), (SwapPendingElsewhereError, 409),
    (WeakPasswordError, 422),
    (RateLimitedError, 429),
    (StoreMissingError, 503), (NotAFleetStoreError, 503),
    (FleetError, 400),  # any other refusal of the request's content
)
# Titles and details are in the request's language (Accept-Language; Swedish by default): the
# type and rule stay as they are, for programs.
TITLES = Texts({400: N_("Refused"), 401: N_("Login required"), 403: N_("Not allowed"),
                404: N_("Not found"), 405: N_("Method not allowed"), 409: N_("Already exists"),
                413: N_("Request too large"), 415: N_("Unsupported media type"),
                422: N_("Invalid request"), 429: N_("Too many requests"), 500: N_("Internal error"),
                503: N_("Fleet store unavailable")})
# Messages of this layer's own (not a domain rule's), kept together for the catalogue.
MESSAGES = Texts({
    "store-error": N_("the fleet store could not answer: try again; if it goes on, tell the "
                      "service's administrator"),
    "not-found": N_("there is nothing at this address"),
    "method-not-allowed": N_("this address does not take that method"),
    "too-large": N_("the request is larger than {limit} bytes"),
    "invalid-json": N_("the request's body is not valid JSON"),
    "invalid-request": N_("the request is not what this address takes: {fields}"),
    "internal-error": N_("the service failed to answer; it is logged"),
})


def request_language(request: Request) -> str:
    return from_accept_language(request.headers.get("accept-language"))


def rule_name(err: Exception) -> str:
    """The refusal's rule: the class's ``rule``, else its name in kebab case (UnknownLockError:
    unknown-lock)."""
    rule = getattr(type(err), "rule", None)
    if rule:
        return rule
    name = re.sub(r"Error$", "", type(err).__name__)
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower() or "refused"


def problem(status: int, rule: str, detail: str, headers: dict | None = None,
            **extra) -> JSONResponse:
    body = {"type": TYPE_PREFIX + rule, "title": TITLES.get(status, N_("Error")), "status": status,
            "detail": detail, "rule": rule, **extra}
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="hemlas"'}
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def fleet_error(_request: Request, err: FleetError) -> JSONResponse:
    if isinstance(err.__cause__, SQLAlchemyError):
        # The store's own failure: its text may hold SQL; logged here, not answered.
        log.error("fleet store error: %s", err)
        return problem(503, "store-error", MESSAGES["store-error"])
    status = next(code for cls, code in STATUS if isinstance(err, cls))
    headers = {"Retry-After": str(err.retry_after_s)} if isinstance(err, RateLimitedError) else None
    return problem(status, rule_name(err), str(err), headers)


def validation_error(_request: Request, err: RequestValidationError) -> JSONResponse:
    errors = err.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "invalid-json", MESSAGES["invalid-json"])
    # Where and what, never the input itself: it may be a password.
    fields = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                       for e in errors)
    return problem(422, "invalid-request", MESSAGES["invalid-request"].format(fields=fields),
                   errors=[{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in errors])


def http_error(_request: Request, err: HTTPException) -> JSONResponse:
    if err.status_code == 404:
        return problem(404, "not-found", MESSAGES["not-found"])
    if err.status_code == 405:
        return problem(405, "method-not-allowed", MESSAGES["method-not-allowed"],
                       getattr(err, "headers", None))
    return problem(err.status_code, "http-error", str(err.detail))


def unexpected_error(request: Request, err: Exception) -> JSONResponse:
    log.exception("unexpected error in the fleet service")
    # Answered outside the language middleware (Starlette's outermost layer): the request says.
    with using(request_language(request)):
        return problem(500, "internal-error", MESSAGES["internal-error"])


def install(app) -> None:
    app.add_exception_handler(FleetError, fleet_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
