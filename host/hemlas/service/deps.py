"""What every request's handler is given: the store, the client's address, and the caller,
resolved once per request from a browser session cookie or a device's bearer token (the
tenancy every domain query then takes: roles.Caller)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..fleet import accounts, sessions
from ..fleet.roles import Caller
from ..fleet.store import FleetStore

SESSION_COOKIE = "hemlas_session"
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


def store(request: Request) -> FleetStore:
    return request.app.state.store


def client_address(request: Request) -> str | None:
    """The client's IP (uvicorn's --proxy-headers gives the forwarded one behind a proxy)."""
    return request.client.host if request.client else None


def on_loopback(request: Request) -> bool:
    """Whether the request came to the service by a loopback name: only there may a session
    cookie travel without Secure (plain HTTP on one's own machine)."""
    return (request.url.hostname or "") in _LOOPBACK


def presented_token(request: Request) -> str | None:
    """A device's "Authorization: Bearer TOKEN", else the browser's session cookie. Never a
    query parameter: a token in a URL ends up in logs."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE) or None


StoreDep = Annotated[FleetStore, Depends(store)]


def caller(request: Request, fleet: StoreDep) -> Caller:
    """The logged-in caller. Raises TokenError (401) without a valid session or token."""
    token = presented_token(request)
    if token is None:
        raise sessions.TokenError("not logged in: log in first (POST /api/v1/login)")
    with fleet.unit_of_work() as uow:
        row, account = sessions.resolve(uow, token)
        record = accounts.account_record(uow, account)
    return Caller(account.account_id, account.login, account.display_name, account.role,
                  record.provider, device=row.device_name, address=client_address(request),
                  token_id=row.token_id)


CallerDep = Annotated[Caller, Depends(caller)]
