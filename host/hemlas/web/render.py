"""The pages' templates: Jinja2 with autoescape on for every template, the texts through the
one message catalogue (jinja2.ext.i18n over hemlas.i18n: `{{ _("...") }}`, `{% trans %}`),
and what every page is given (who is logged in, the language, the CSRF token)."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .. import i18n
from ..fleet.roles import ROLE_TEXT, Caller
from .security import CSRF_FIELD, csrf_token, ensure_csrf_cookie

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


class _Catalogue:
    """jinja2.ext.i18n's translations object: hemlas.i18n's functions, so a template's text
    is looked up in the request's language (the context variable) when it is rendered."""

    @staticmethod
    def gettext(message: str) -> str:
        return i18n._(message)

    @staticmethod
    def ngettext(singular: str, plural: str, n: int) -> str:
        return i18n.ngettext(singular, plural, n)


def when(t: int | None) -> str:
    return "–" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, extensions=["jinja2.ext.i18n"],
                      trim_blocks=True, lstrip_blocks=True)
    # Old-style gettext: the texts' placeholders are {name}, filled with .format() as in the
    # Python code (docs/messages.md), so one catalogue serves both.
    env.install_gettext_translations(_Catalogue(), newstyle=False)
    env.filters["when"] = when
    env.filters["day"] = lambda t: "–" if t is None else time.strftime("%Y-%m-%d", time.localtime(t))
    env.globals["N_"] = i18n.N_
    return env


ENV = _environment()


def render(request, template: str, status: int = 200, caller: Caller | None = None,
           **context) -> HTMLResponse:
    """The page, in the request's language, with the base layout's own context."""
    page = ENV.get_template(template).render(
        request=request, caller=caller, lang=i18n.language(), languages=i18n.LANGUAGES,
        csrf_field=CSRF_FIELD, csrf=csrf_token(request), path=request.url.path,
        query=request.url.query, role_text=ROLE_TEXT.get(caller.role, caller.role) if caller else "",
        **context)
    response = HTMLResponse(page, status_code=status)
    ensure_csrf_cookie(request, response)
    return response
