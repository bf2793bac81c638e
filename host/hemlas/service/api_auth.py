"""Logging in and out, and who the caller is: /api/v1/login, /logout, /me, /health."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..fleet import accounts, login, sessions
from ..fleet import audit as audit_log
from ..fleet.roles import PERMISSIONS, Caller
from . import schemas
from .deps import SESSION_COOKIE, CallerDep, StoreDep, client_address, on_loopback, presented_token

router = APIRouter(tags=["accounts"])


@router.get("/health")
def health() -> dict:
    """The service answers (nothing about the store or anyone in it)."""
    return {"status": "ok"}


@router.post("/login", response_model=schemas.LoginAnswer, response_model_exclude_none=True)
def do_login(body: schemas.LoginRequest, request: Request, response: Response,
             fleet: StoreDep) -> schemas.LoginAnswer:
    """Log in: a browser gets a session cookie (HttpOnly, SameSite=Strict, Secure unless on
    localhost); with ``device`` a field client gets a device token in the answer, once."""
    token, record, account = login.login(fleet, body.login, body.password,
                                         address=client_address(request), device=body.device)
    if body.device is None:
        response.set_cookie(SESSION_COOKIE, token, max_age=sessions.BROWSER_LIFETIME_S,
                            httponly=True, samesite="strict", secure=not on_loopback(request),
                            path="/")
        return schemas.LoginAnswer(account=schemas.account(account), expires_at=record.expires_at)
    return schemas.LoginAnswer(account=schemas.account(account), expires_at=record.expires_at,
                               token=token, device_token_id=record.token_id)


@router.post("/logout", status_code=204)
def do_logout(request: Request, fleet: StoreDep) -> Response:
    """End this session or device token. Again, or without one, is harmless: 204 all the same."""
    token = presented_token(request)
    if token is not None:
        with fleet.unit_of_work() as uow:
            try:
                row, account = sessions.resolve(uow, token)
            except sessions.TokenError:
                row = None
            if row is not None:
                sessions.revoke_token(uow, row.token_id)
                audit_log.record(uow, Caller(account.account_id, account.login,
                                             account.display_name, account.role, None,
                                             device=row.device_name,
                                             address=client_address(request)), "logout")
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=not on_loopback(request))
    return response


@router.get("/me", response_model=schemas.Me)
def me(caller: CallerDep, fleet: StoreDep) -> schemas.Me:
    """The caller's own account, what its role may do, and this session's or device's end."""
    with fleet.unit_of_work() as uow:
        record = accounts.account_record(uow, accounts.get_account(uow, caller.actor))
        token = uow.get(sessions.AuthToken, caller.token_id)
        expires = token.expires_at if token else None
    return schemas.Me(account=schemas.account(record),
                      permissions=sorted(PERMISSIONS.get(caller.role, ())),
                      device=caller.device, session_expires_at=expires)
