"""The coordinators' web interface (issue 16, docs/web.md): server-rendered pages over the
fleet service's domain layer, mounted at "/" beside /api/v1 by service/app.py.

Pages are Jinja2 templates (autoescaped) in the request's language; htmx (vendored in static/)
refreshes the start page's warnings. Routers here translate HTTP to calls of fleet/ and back:
no rule lives in a page.
"""

from __future__ import annotations


def install(app) -> None:
    """Add the pages, their static files, their error pages and their middleware to the
    service's app (after the API's: the handlers here answer the API's paths as it does)."""
    from fastapi.staticfiles import StaticFiles

    from . import auth, compensation, customers, home, pages, report
    from .render import STATIC
    from .security import LanguageCookie, SecurityHeaders

    pages.install_handlers(app)
    for router in (auth.router, home.router, report.router, customers.router,
                   compensation.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(LanguageCookie)  # outside the service's Language middleware: it goes first
    app.add_middleware(SecurityHeaders)
