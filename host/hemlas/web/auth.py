"""Logging in and out on a page, and the language switch: fleet/login.py's rules (the rate
limit, the one message for a wrong name or password, a disabled account), the same session
cookie the API sets (HttpOnly, SameSite=Strict, Secure off loopback)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..fleet import login, sessions
from ..fleet.errors import FleetError
from ..fleet.ratelimit import RateLimitedError
from ..i18n import LANGUAGES
from ..service import api_auth, problems
from ..service.deps import SESSION_COOKIE, StoreDep, client_address, on_loopback
from .pages import Form
from .render import render
from .security import CSRF_COOKIE, LANGUAGE_COOKIE, LANGUAGE_MAX_AGE_S, local_path

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=local_path(next), login_name="", error=None)


@router.post("/login")
def do_login(request: Request, fleet: StoreDep, form: Form) -> Response:
    target = local_path(form.get("next"))
    name = form.get("login", "")[:200]
    try:
        token, _record, _account = login.login(fleet, name, form.get("password", ""),
                                               address=client_address(request))
    except FleetError as err:
        status = 429 if isinstance(err, RateLimitedError) else 401 if isinstance(
            err, login.LoginFailedError) else 403
        answer = render(request, "login.html", status, next=target, login_name=name,
                        error=str(err), rule=problems.rule_name(err))
        if isinstance(err, RateLimitedError):
            answer.headers["Retry-After"] = str(err.retry_after_s)
        return answer
    answer = RedirectResponse(target, status_code=303)
    answer.set_cookie(SESSION_COOKIE, token, max_age=sessions.BROWSER_LIFETIME_S, httponly=True,
                      samesite="strict", secure=not on_loopback(request), path="/")
    answer.delete_cookie(CSRF_COOKIE, path="/")  # the session's own token takes over
    return answer


@router.post("/logout")
def do_logout(request: Request, fleet: StoreDep, _form: Form) -> Response:
    """End this session (as POST /api/v1/logout does); again, or without one, is harmless."""
    api_auth.do_logout(request, fleet)  # the API's logout: the session ended, audited
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                         secure=not on_loopback(request))
    return answer


@router.post("/sprak")
def choose_language(request: Request, form: Form) -> Response:
    """The language switch: a cookie for a year; back to the page it was pressed on."""
    answer = RedirectResponse(local_path(form.get("next")), status_code=303)
    lang = form.get("lang")
    if lang in LANGUAGES:
        answer.set_cookie(LANGUAGE_COOKIE, lang, max_age=LANGUAGE_MAX_AGE_S, httponly=True,
                          samesite="strict", secure=not on_loopback(request), path="/")
    return answer
