"""The catalogue's maintenance, with Babel: `python -m hemlas.i18n update` extracts every text
marked in host/hemlas, merges it into each language's .po (a new text arrives untranslated, a
text no longer used leaves) and compiles the .mo the commands read (docs/messages.md).

Only maintainers and the tests load this module: Babel stays out of the commands' start-up.
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from .i18n import DOMAIN, LANGUAGES, LOCALE_DIR, SOURCE_LANGUAGE

PACKAGE_DIR = Path(__file__).parent
# _ and ngettext translate; N_ marks a text defined before the language is known.
KEYWORDS = {"_": None, "ngettext": (1, 2), "N_": None, "pgettext": ((1, "c"), 2)}
# Not host code: the virtual board's MicroPython modules (run by the firmware process).
SKIP_DIRS = ("sim",)
PO_WIDTH = 100  # the project's line length: fewer wrapped lines to read


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


def _wanted(path: str) -> bool:
    return not any(path == d or path.startswith(d + "/") for d in SKIP_DIRS)


def _searched(directory: str) -> bool:
    path = Path(directory)
    return path.name[:1] not in "._" and _wanted(path.relative_to(PACKAGE_DIR).as_posix())


def extract() -> Catalog:
    """Every marked text in host/hemlas, with where it is used (the template)."""
    template = Catalog(domain=DOMAIN, project="hemlas", charset="utf-8")
    # The pages' templates too (web/templates): Jinja2's own extractor for Babel, with the
    # extension the pages use, so {{ _("...") }}, ngettext() and {% trans %} are found.
    method_map = [("**.py", "python"), ("web/templates/**.html", "jinja2.ext:babel_extract")]
    options_map = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n",
                                             "trim_blocks": "true", "lstrip_blocks": "true"}}
    for filename, lineno, message, comments, context in extract_from_dir(
            PACKAGE_DIR, method_map, options_map, keywords=KEYWORDS, comment_tags=("Translators:",),
            strip_comment_tags=True, directory_filter=_searched):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def read(lang: str) -> Catalog:
    with open(po_path(lang), "rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def compiled(catalog: Catalog) -> bytes:
    """The .mo of a catalogue: fuzzy (unchecked) translations left out, as gettext expects."""
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def po_text(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    # Sorted, without line numbers: a change to the code moves no translation in the diff.
    write_po(out, catalog, width=PO_WIDTH, sort_output=True, include_lineno=False,
             ignore_obsolete=True)
    return out.getvalue()


def translated(message) -> bool:
    """Every form of the message has its translation (a plural has one per form)."""
    strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
    return all(strings)


def update(lang: str) -> tuple[int, int]:
    """Merge the extracted texts into lang's .po and compile it: (texts, untranslated)."""
    template = extract()
    path = po_path(lang)
    if path.exists():
        catalog = read(lang)
        created = catalog.creation_date
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        catalog.creation_date = created  # a run that changes no text changes no file
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = Catalog(locale=lang, domain=DOMAIN, project="hemlas", version="0.1",
                          copyright_holder="the hemlås project", charset="utf-8",
                          last_translator="the hemlås project", language_team="hemlås",
                          header_comment=f"# hemlås: the users' texts in {lang}.\n"
                                         "# Maintained with `python -m hemlas.i18n update` "
                                         "(docs/messages.md).")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.fuzzy = False
    path.write_bytes(po_text(catalog))
    catalog = read(lang)  # as written: what the test compiles too
    mo_path(lang).write_bytes(compiled(catalog))
    untranslated = [m.id for m in catalog if m.id and (not translated(m) or m.fuzzy)]
    return len([m for m in catalog if m.id]), len(untranslated)


def main(argv: list[str]) -> int:
    if argv[:1] not in (["update"], ["compile"]):
        print("usage: python -m hemlas.i18n update|compile\n"
              "  update:  extract the texts from host/hemlas, merge them into each .po, compile\n"
              "  compile: compile each .po into its .mo only (after translating)")
        return 2
    for lang in LANGUAGES:
        if lang == SOURCE_LANGUAGE:
            continue
        if argv[0] == "compile":
            mo_path(lang).write_bytes(compiled(read(lang)))
            print(f"{mo_path(lang)} compiled")
            continue
        texts, untranslated = update(lang)
        print(f"{po_path(lang)}: {texts} texts, {untranslated} untranslated or fuzzy")
    return 0
