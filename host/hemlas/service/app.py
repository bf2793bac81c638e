"""The fleet service's ASGI application: the routers under /api/v1, problem details for every
error, a bound on request bodies, and the fleet store it serves.

create_app(store) serves an open FleetStore (the tests', or `hemlas serve`'s); the store is
closed by whoever opened it.
"""

from __future__ import annotations

from fastapi import FastAPI

from .. import __version__
from ..fleet.store import FleetStore
from ..i18n import from_accept_language, reset_language, set_language
from . import api_audit, api_auth, api_field, api_fleet, api_plan, api_privacy, problems

API_PREFIX = "/api/v1"
# Every request this version takes is a small JSON document (a login is under 500 bytes): a
# bigger body is refused before it is read, so no client can make a worker buffer megabytes.
MAX_BODY_BYTES = 16 * 1024
# The exceptions, each with its own bound: a planning system's CSV (api_plan.py).
PATH_BODY_BYTES = {API_PREFIX + api_plan.IMPORT_PATH: api_plan.MAX_IMPORT_BYTES}


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes, by Content-Length or as it
    streams in (a chunked body has none)."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES, path_limits: dict | None = None):
        self.app, self.default_limit = app, limit
        self.path_limits = PATH_BODY_BYTES if path_limits is None else path_limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.path_limits.get(scope.get("path"), self.default_limit)
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await self._refuse(scope, receive, send, limit)
        seen, exceeded, refused = 0, False, False

        async def counted_receive():
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _TooLarge()  # the framework may catch it as a bad body: see below
            return message

        async def watched_send(message):
            # Whatever the application answers to a body cut off here, the client gets 413.
            nonlocal refused
            if not exceeded:
                return await send(message)
            if not refused:
                refused = True
                await self._refuse(scope, receive, send, limit)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _TooLarge:
            if not refused:
                await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope, receive, send, limit):
        response = problems.problem(413, "too-large",
                                    problems.MESSAGES["too-large"].format(limit=limit))
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class Language:
    """ASGI middleware: the request's Accept-Language (Swedish when it names none we have) is
    the language of everything said while it is served, domain refusals included (a context
    variable: the worker threads that run its handlers copy it, other requests keep theirs)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        header = dict(scope.get("headers") or ()).get(b"accept-language", b"")
        token = set_language(from_accept_language(header.decode("latin-1")))
        try:
            await self.app(scope, receive, send)
        finally:
            reset_language(token)


def create_app(store: FleetStore) -> FastAPI:
    app = FastAPI(title="hemlås fleet service", version=__version__,
                  description="Accounts, provider-scoped customers, locks and battery warnings, "
                              "the audit log (docs/service.md).",
                  openapi_url=f"{API_PREFIX}/openapi.json",
                  # The interactive pages load their scripts from a CDN: not on a municipality's
                  # closed network. The OpenAPI document is the description.
                  docs_url=None, redoc_url=None)
    app.state.store = store
    problems.install(app)
    for router in (api_auth.router, api_fleet.router, api_audit.router, api_plan.router,
                   api_privacy.router, api_field.router):
        app.include_router(router, prefix=API_PREFIX)
    app.add_middleware(BodyLimit)
    app.add_middleware(Language)  # outermost of the two: a refused body is said in it too
    from .. import web  # the coordinators' pages at "/" (issue 16)

    web.install(app)
    return app


def endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the application answers, routers included, HEAD left out (it
    follows GET). For the tests that must cover every endpoint (tests/test_service_tenancy.py):
    a route of a kind this does not know is returned as ("?", its repr), for them to refuse.

    FastAPI before 0.16x flattened included routers into app.routes; later ones keep each as
    one route whose effective_route_contexts() lists its endpoints: both are read."""
    found: list[tuple[str, str]] = []

    def add(methods, path) -> None:
        found.extend((m, path) for m in sorted(methods or ()) if m != "HEAD")

    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):
            for context in route.effective_route_contexts():
                add(context.methods, context.path)
        elif getattr(route, "methods", None) and hasattr(route, "path"):
            add(route.methods, route.path)
        else:
            found.append(("?", repr(route)))
    return found
