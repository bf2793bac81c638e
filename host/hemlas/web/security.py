"""The pages' protections: security headers on every answer, the CSRF token every form
carries, the language cookie, and where a page may send the browser back to.

CSRF: a logged-in browser's token is derived from its session token (SHA-256 under a label of
its own), so it is one per session, needs no table, holds across workers and restarts, and ends
with the session; nobody without the HttpOnly session cookie can compute it. Before login (the
login form, the language switch) the token is a random cookie of its own, compared with the
form's copy (double submit): a forged cross-site login would have to know it. Every POST is
checked before its handler runs (pages.py); SameSite=Strict on the cookies is a second wall.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from ..i18n import LANGUAGES
from ..service.deps import SESSION_COOKIE, on_loopback

CSRF_FIELD = "csrf_token"
CSRF_COOKIE = "hemlas_csrf"  # before login only
LANGUAGE_COOKIE = "hemlas_lang"
LANGUAGE_MAX_AGE_S = 365 * 86400

# 'self' only: no inline script or style, nothing from elsewhere, no framing, forms post here
# only. htmx is served from /static and told (meta htmx-config) to add no inline style.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self'; connect-src 'self'; form-action 'self'; "
                           "base-uri 'none'; frame-ancestors 'none'")
HEADERS = {
    b"content-security-policy": CONTENT_SECURITY_POLICY.encode(),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",
    b"x-frame-options": b"DENY",  # frame-ancestors for browsers that predate it
    b"cross-origin-opener-policy": b"same-origin",
}


class SecurityHeaders:
    """ASGI middleware: the headers above on every answer (the API's too: a JSON answer is
    never meant to be framed or sniffed either). A page's answers are also never cached:
    they hold personal data."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _value in message.get("headers", ())}
                extra = [(k, v) for k, v in HEADERS.items() if k not in present]
                if not static and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class LanguageCookie:
    """ASGI middleware: a page's language chosen with the switch (the cookie) counts before
    the browser's Accept-Language: the service's Language middleware, inside this one, then
    reads it as any request's language, so domain refusals are said in it too."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            chosen = chosen_language(dict(scope.get("headers") or ()).get(b"cookie", b"")
                                     .decode("latin-1"))
            if chosen:
                headers = [(k, v) for k, v in scope.get("headers", ()) if k != b"accept-language"]
                scope = {**scope, "headers": [*headers, (b"accept-language", chosen.encode())]}
        await self.app(scope, receive, send)


def chosen_language(cookie_header: str) -> str | None:
    for part in cookie_header.split(";"):
        name, _eq, value = part.strip().partition("=")
        if name == LANGUAGE_COOKIE and value in LANGUAGES:
            return value
    return None


def csrf_token(request) -> str:
    """This browser's token: its session's, else its pre-login cookie's (made if missing:
    the caller sets it, see ensure_csrf_cookie)."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return hashlib.sha256(b"hemlas csrf\0" + session.encode("utf-8", "surrogatepass")).hexdigest()
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = request.state.new_csrf = secrets.token_urlsafe(32)
    return token


def ensure_csrf_cookie(request, response) -> None:
    """Set the pre-login token's cookie if csrf_token() just made one."""
    token = getattr(request.state, "new_csrf", None)
    if token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=not on_loopback(request), path="/")


def csrf_valid(request, presented: str | None) -> bool:
    if not presented:
        return False
    if not request.cookies.get(SESSION_COOKIE) and not request.cookies.get(CSRF_COOKIE):
        return False  # no cookie: nothing to compare with (csrf_token would make a new one)
    return hmac.compare_digest(presented.encode(), csrf_token(request).encode())


def local_path(target: str | None, default: str = "/") -> str:
    """A path on this site to return to after a form, or ``default``: never another site
    (//evil.example, https://..., a backslash trick), so a link cannot make an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
