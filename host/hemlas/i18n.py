"""The one message catalogue: every text a user reads, Swedish by default, English selectable.

msgids are the English texts; locale/sv/LC_MESSAGES/hemlas.po holds the Swedish, compiled to
hemlas.mo beside it (docs/messages.md). At run time the stdlib `gettext` reads the compiled .mo
(one file, parsed on the first text asked for): `gettext` is already loaded by argparse, so a
command pays nothing to import it, where Babel (the maintainer's tool: extraction, .po merging,
compiling; `python -m hemlas.i18n update`) would add its locale data to every start-up.

The language: `hemlas --lang en|sv`, else HEMLAS_LANG, else Swedish; the service's answers
follow each request's Accept-Language, else the server's language (a context variable, so
concurrent requests each keep theirs). An unknown language falls back to Swedish, said once in one line on stderr.

Placeholders are `{name}`, filled with .format() after the lookup: `_("lock {lock_id} ...")
.format(lock_id=...)`, so translators see the names (never an f-string inside `_()`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from contextvars import ContextVar
from pathlib import Path

DOMAIN = "hemlas"
LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"  # the users' language (the project brief)
SOURCE_LANGUAGE = "en"  # the msgids' own
ENV_VAR = "HEMLAS_LANG"
LOCALE_DIR = Path(__file__).parent / "locale"

_chosen: ContextVar[str | None] = ContextVar("hemlas_language", default=None)
_catalogues: dict[str, object] = {}
_noticed: set[str] = set()


def N_(message: str) -> str:
    """Marks a text for the catalogue where it is defined (a table built at import time,
    before the language is known); `_()` translates it where it is used."""
    return message


class Texts(dict):
    """A table of texts marked with N_ (built at import time): each read translated when read,
    so the table's users need not know (`TABLE[key]`, `TABLE.get(key, default)`)."""

    def __getitem__(self, key):
        return _(super().__getitem__(key))

    def get(self, key, default=None):
        value = super().get(key, default)
        return _(value) if isinstance(value, str) else value


def _supported(text: str | None) -> str | None:
    """'sv', 'sv_SE.UTF-8', 'en-GB' -> the language; None for one the catalogue lacks."""
    if not text:
        return None
    code = text.strip().lower().replace("_", "-").split(".")[0].split("-")[0]
    return code if code in LANGUAGES else None


def resolve(text: str | None, where: str = ENV_VAR) -> str:
    """The language text names; an empty one is the default, an unknown one too (said once)."""
    if not text or not text.strip():
        return DEFAULT_LANGUAGE
    found = _supported(text)
    if found:
        return found
    if text not in _noticed:
        _noticed.add(text)
        print(_("hemlas: unknown language {language} ({where}): using Swedish; choose sv or en")
              .format(language=repr(text), where=where), file=sys.stderr)
    return DEFAULT_LANGUAGE


def language() -> str:
    """The language of this command, or of this request."""
    return _chosen.get() or resolve(os.environ.get(ENV_VAR))


def set_language(text: str | None, where: str = "--lang"):
    """Choose the language (resolved as above); returns a token for reset_language()."""
    return _chosen.set(resolve(text, where))


def reset_language(token) -> None:
    _chosen.reset(token)


@contextlib.contextmanager
def using(text: str | None, where: str = "--lang"):
    token = set_language(text, where)
    try:
        yield
    finally:
        _chosen.reset(token)


def from_accept_language(header: str | None) -> str:
    """The language an HTTP Accept-Language asks for (RFC 9110 12.5.4): the supported one of
    the highest q; when it names none we have, the server's own (HEMLAS_LANG, else Swedish),
    never with a notice (a browser's choice is not a mistake)."""
    best, best_q = None, -1.0
    for i, part in enumerate((header or "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        found = _supported(tag)
        if found is None:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q and q > 0:  # the first listed wins a tie
            best, best_q = found, q
    return best or language()


def _catalogue(lang: str):
    """The compiled catalogue of lang (None: the msgids themselves are the texts)."""
    if lang == SOURCE_LANGUAGE:
        return None
    if lang not in _catalogues:
        import gettext

        try:
            with open(LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as f:
                _catalogues[lang] = gettext.GNUTranslations(f)
        except OSError:  # a broken install: English rather than no command at all
            _catalogues[lang] = gettext.NullTranslations()
    return _catalogues[lang]


def _(message: str) -> str:
    """The text in the current language."""
    catalogue = _catalogue(language())
    return message if catalogue is None else catalogue.gettext(message)


def pgettext(context: str, message: str) -> str:
    """The text in the current language, where one English word has two Swedish ones (a table's
    "lock" column is "lås", the action "lock" is "låsning"): the context tells them apart."""
    catalogue = _catalogue(language())
    return message if catalogue is None else catalogue.pgettext(context, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The text for n in the current language (Swedish and English: one, or not one)."""
    catalogue = _catalogue(language())
    if catalogue is None:
        return singular if n == 1 else plural
    return catalogue.ngettext(singular, plural, n)


if __name__ == "__main__":
    from .i18n_tool import main

    sys.exit(main(sys.argv[1:]))
