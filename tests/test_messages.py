"""The one message catalogue (docs/messages.md): every text a user reads comes from it, Swedish by
default, English selectable; the CLI and the service answer in the language chosen.

Babel's extractor reads host/hemlas as `python -m hemlas.i18n update` does; the committed .po
and .mo are checked against it. The CLI is the real console script in a fresh process."""

from __future__ import annotations

import ast
import os
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from hemlas import i18n, i18n_tool

PACKAGE = Path(i18n.__file__).parent
HEMLAS = Path(sys.executable).parent / "hemlas"

# Modules whose user-facing texts all come from the catalogue (relative to host/hemlas). The
# next module converted is added here; test_converted_modules_have_no_inline_texts keeps them so.
CONVERTED = (
    "cli.py", "errors.py", "codes.py", "i18n.py",
    "commands/lock.py", "commands/output.py", "commands/swap.py", "commands/swap_flow.py",
    "commands/swap_door.py", "commands/swap_outcome.py", "commands/accounts.py",
    "fleet/errors.py", "fleet/where.py", "fleet/roles.py",
    "service/problems.py", "service/app.py",
    "fleet/plan_csv.py", "fleet/plan_keys.py", "fleet/planned_visits.py", "fleet/alarm_access.py",
    "commands/plan.py",
    "fleet/retention.py", "fleet/retention_rules.py", "fleet/erasure.py", "fleet/subject_access.py",
    "fleet/subject_access_text.py", "commands/privacy.py", "service/api_privacy.py",
    "commands/login.py", "commands/outbox.py", "field/outbox.py", "field/service.py",
    "field/session.py", "field/sending.py", "fleet/uploads.py", "service/api_field.py",
    "commands/visits.py", "commands/keys.py", "commands/compensation.py", "commands/report.py",
    "commands/formats.py", "fleet/batteries.py", "fleet/doors.py", "commands/fleet.py",
    "commands/flash.py", "commands/hil.py", "commands/sim.py", "commands/sim_console.py",
    "flashing.py", "serialconsole.py", "keyfile.py", "provisioning.py", "client.py", "results.py",
    "handle_cache.py", "boards.py", "advertising.py", "settings.py",
    "fleet/_common.py", "fleet/swaps.py", "fleet/nfc.py", "fleet/lifecycle.py", "fleet/corrections.py",
    "fleet/hour_corrections.py", "fleet/hour_import.py", "fleet/hours.py", "fleet/manual_visits.py",
    "fleet/person_keys.py", "fleet/visit_pairing.py", "fleet/store.py", "fleet/accounts.py",
    "fleet/login.py", "fleet/sessions.py", "fleet/ratelimit.py", "fleet/audit.py", "fleet/tenancy.py",
    "fleet/lock_warnings.py", "fleet/personnummer.py",
    "fleet/customer_devices.py", "fleet/battery_report.py",
    "web/__init__.py", "web/auth.py", "web/home.py", "web/pages.py", "web/render.py",
    "web/security.py", "web/report.py", "web/customers.py", "web/spreadsheet.py",
    "fleet/compensation.py", "fleet/compensation_access.py", "web/compensation.py",
)
TEMPLATES = PACKAGE / "web" / "templates"


def _key(message):
    return message.id if isinstance(message.id, str) else tuple(message.id)


@pytest.fixture(scope="module")
def extracted():
    return {_key(m): m for m in i18n_tool.extract() if m.id}


@pytest.fixture(scope="module")
def swedish():
    return {_key(m): m for m in i18n_tool.read("sv") if m.id}


def test_every_text_in_the_code_has_a_checked_swedish_translation_and_none_is_unused(extracted, swedish):
    assert len(extracted) > 100  # the extractor found the texts (a wrong keyword finds none)
    untranslated = sorted(str(k) for k in extracted
                          if k not in swedish or not i18n_tool.translated(swedish[k]) or swedish[k].fuzzy)
    assert untranslated == [], "run python -m hemlas.i18n update and translate these"
    unused = sorted(str(k) for k in swedish if k not in extracted)
    assert unused == [], "texts no code uses: run python -m hemlas.i18n update"


def _placeholders(text: str) -> list[str]:
    """{name} fields (with their conversion and format) and %(name)s / %s directives."""
    found = [f"{{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}}"
             for _lit, name, spec, conv in string.Formatter().parse(text) if name is not None]
    found += re.findall(r"%(?:\([a-z_]+\))?[a-z]", text.replace("%%", ""))
    return sorted(found)


def test_each_translation_keeps_the_placeholders_of_its_text(swedish):
    wrong = []
    for key, message in swedish.items():
        pairs = (zip(key, message.string) if isinstance(key, tuple) else [(key, message.string)])
        for msgid, msgstr in pairs:
            if _placeholders(msgid) != _placeholders(msgstr):
                wrong.append((msgid, msgstr))
    assert wrong == []


def test_the_committed_mo_is_what_the_po_compiles_to():
    assert i18n_tool.mo_path("sv").read_bytes() == i18n_tool.compiled(i18n_tool.read("sv")), \
        "run python -m hemlas.i18n compile"


_TEXT = re.compile(r"[A-Za-zåäöÅÄÖ]{2,}[ ,:;]+[A-Za-zåäö]")  # words: a sentence, not a name or code
_SPOKEN = {"print", "CommandError", "emit", "_ask", "ask", "say"}  # calls whose strings a user reads
# The OpenAPI document's description is for the developers of the service's clients: English.
_FOR_DEVELOPERS = {"FastAPI"}


def _inline_texts(path: Path) -> list[str]:
    """String literals a user would read that bypass the catalogue: an argument of print(),
    an error's constructor (...Error(...), super().__init__) or a help=/description= that is
    not wrapped in _() / ngettext() / N_()."""
    tree = ast.parse(path.read_text(), str(path))
    marked: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("_", "ngettext", "N_", "pgettext"):
            marked.update(id(n) for arg in node.args for n in ast.walk(arg))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None) or ""
        if name in _FOR_DEVELOPERS:
            continue
        spoken = name in _SPOKEN or name.endswith("Error") or name == "__init__"
        values = list(node.args) if spoken else []
        values += [k.value for k in node.keywords if k.arg in ("help", "description", "empty")]
        for value in values:
            for sub in ast.walk(value):
                if (isinstance(sub, ast.Constant) and isinstance(sub.value, str)
                        and id(sub) not in marked and _TEXT.search(sub.value)):
                    found.append(f"{path.relative_to(PACKAGE)}:{sub.lineno}: {sub.value[:60]!r}")
    return found


@pytest.mark.parametrize("module", CONVERTED)
def test_converted_modules_have_no_inline_texts(module):
    assert _inline_texts(PACKAGE / module) == []


def test_the_inline_text_check_sees_an_unwrapped_text(tmp_path):
    # The check itself must see what it guards against (a copy of a converted module, broken).
    source = (PACKAGE / "fleet/errors.py").read_text().replace(
        '_("lock {lock_id} is not in the fleet store")', '"lock {lock_id} is not in the fleet store"')
    broken = PACKAGE / "fleet" / "_broken_copy_for_test.py"
    try:
        broken.write_text(source)
        assert len(_inline_texts(broken)) == 1
    finally:
        broken.unlink()


# ---- the pages' templates ---------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
# Attributes a person reads (or hears): their literal values must be texts of the catalogue too.
_READ_ATTRIBUTE = re.compile(r'(?:aria-label|title|placeholder|alt|aria-description)="([^"{]*)"')


def _template_texts(path: Path) -> list[str]:
    """Literal words in a template outside {{ }} and {% %}: text nodes and the attributes a
    person reads. The texts inside _() / ngettext() / {% trans %} are Babel's to extract."""
    from jinja2 import Environment

    pieces, in_trans = [], False
    for _lineno, kind, value in Environment(extensions=["jinja2.ext.i18n"]).lex(path.read_text()):
        if kind == "name" and value in ("trans", "pluralize"):
            in_trans = True
        elif kind == "name" and value == "endtrans":
            in_trans = False
        # Everything Jinja's own becomes a mark: a tag cut by {{ }} still reads as one tag.
        pieces.append(value if kind == "data" and not in_trans else "\x00")
    html = re.sub("\x00+", "\x00", "".join(pieces))
    html = re.sub(r"<!--.*?-->", " ", html, flags=re.S)
    texts = [*_READ_ATTRIBUTE.findall(html), *_TAG.sub("\x00", html).split("\x00")]
    return [f"{path.name}: {t.strip()[:60]!r}" for t in texts if _TEXT.search(t)]


def test_the_templates_have_no_text_outside_the_catalogue():
    templates = sorted(TEMPLATES.glob("*.html"))
    assert len(templates) >= 5
    assert [t for path in templates for t in _template_texts(path)] == []


def test_the_template_check_sees_a_bare_text(tmp_path):
    source = (TEMPLATES / "login.html").read_text().replace('{{ _("Password") }}', "Your password")
    broken = tmp_path / "login.html"
    broken.write_text(source.replace('name="login"', 'name="login" aria-label="Your name here"'))
    assert [t.split(": ", 1)[1] for t in _template_texts(broken)] == ["'Your name here'", "'Your password'"]


def test_the_extractor_reads_the_templates(extracted):
    # A text only a template has: found by Babel's Jinja2 extractor, with its place.
    message = extracted["Skip to the content"]
    assert any(loc.startswith("web/templates/base.html") for loc, _line in message.locations)


# ---- the real CLI, as a process ---------------------------------------------------------------

def _hemlas(tmp_path, *argv, lang: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != i18n.ENV_VAR}
    env.update(HEMLAS_STORE=str(tmp_path / "no-store.sqlite3"), HEMLAS_KEYS=str(tmp_path / "keys.json"),
               HEMLAS_CONFIG=str(tmp_path / "no-config.toml"))
    if lang is not None:
        env[i18n.ENV_VAR] = lang
    command = [str(HEMLAS)] if HEMLAS.exists() else [sys.executable, "-m", "hemlas.cli"]
    return subprocess.run(command + list(argv), capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("how", ["default", "HEMLAS_LANG=sv", "HEMLAS_LANG=en", "--lang en",
                                 "--lang=sv over HEMLAS_LANG=en"])
def test_the_cli_answers_in_swedish_by_default_and_in_english_when_asked(tmp_path, how):
    english = how in ("HEMLAS_LANG=en", "--lang en")
    lang = {"default": None, "HEMLAS_LANG=sv": "sv", "HEMLAS_LANG=en": "en",
            "--lang en": None, "--lang=sv over HEMLAS_LANG=en": "en"}[how]
    before = {"--lang en": ["--lang", "en"], "--lang=sv over HEMLAS_LANG=en": ["--lang=sv"]}.get(how, [])

    boards = _hemlas(tmp_path, *before, "boards", lang=lang)
    assert boards.returncode == 0, boards.stderr
    header = boards.stdout.splitlines()[0].split()
    assert header == (["board", "model", "battery", "end", "of", "travel"] if english
                      else ["kort", "modell", "batteri", "ändläge"])
    # --json keeps its values in either language: for programs.
    as_json = _hemlas(tmp_path, *before, "boards", "--json", lang=lang)
    assert '"end_of_travel": "limit switches"' in as_json.stdout

    missing = _hemlas(tmp_path, *before, "accounts", "list", lang=lang)
    assert missing.returncode == 1
    assert missing.stderr.startswith("hemlas: there is no fleet store at " if english
                                     else "hemlas: det finns inget låsregister på "), missing.stderr
    assert ("as HEMLAS_STORE says" if english else "enligt HEMLAS_STORE") in missing.stderr

    helped = _hemlas(tmp_path, *before, "status", "--help", lang=lang)
    assert helped.stdout.startswith("usage: hemlas status" if english else "användning: hemlas status")
    assert ("the lock's id, as it advertises it" if english
            else "låsets id, som låset annonserar det") in helped.stdout

    refused = _hemlas(tmp_path, *before, "status", lang=lang)  # argparse's own error, translated
    assert refused.returncode == 2
    assert ("the following arguments are required: lock" if english
            else "följande argument krävs: lock") in refused.stderr


def test_an_unknown_language_falls_back_to_swedish_in_one_line(tmp_path):
    done = _hemlas(tmp_path, "boards", lang="fi")
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        "hemlas: okänt språk 'fi' (HEMLAS_LANG): svenska används; välj sv eller en"]
    assert done.stdout.split()[:2] == ["kort", "modell"]
    flagged = _hemlas(tmp_path, "--lang", "de", "boards")
    assert flagged.stderr.splitlines() == [
        "hemlas: okänt språk 'de' (--lang): svenska används; välj sv eller en"]


def test_a_regional_language_tag_is_the_language(monkeypatch):
    monkeypatch.setenv(i18n.ENV_VAR, "sv_SE.UTF-8")
    assert i18n.language() == "sv" and i18n._("no events") == "inga händelser"
    monkeypatch.setenv(i18n.ENV_VAR, "en_GB")
    assert i18n.language() == "en" and i18n._("no events") == "no events"
    assert i18n.ngettext("about {n} day", "about {n} days", 2) == "about {n} days"
    monkeypatch.delenv(i18n.ENV_VAR)
    assert i18n.ngettext("about {n} day", "about {n} days", 1) == "ungefär {n} dag"
    assert i18n.ngettext("about {n} day", "about {n} days", 3) == "ungefär {n} dagar"


# ---- the service: problem details in the request's language -----------------------------------

@pytest.mark.parametrize("accept, english", [(None, False), ("en", True), ("sv-SE,sv;q=0.9", False),
                                             ("fr-FR, en;q=0.5, sv;q=0.4", True), ("de", False)])
def test_the_service_says_its_problems_in_the_requests_language(tmp_path, monkeypatch, accept, english):
    monkeypatch.delenv(i18n.ENV_VAR)  # the service's default, not the test session's English
    sys.path.insert(0, str(Path(__file__).parent))
    from service_helpers import logged_in, populate

    from hemlas.fleet.store import FleetStore

    headers = {"Accept-Language": accept} if accept else {}
    with FleetStore(str(tmp_path / "fleet.sqlite3")) as store:
        populate(store)
        web = logged_in(store, "admin")
        # This layer's own message (404 for an address that does not exist).
        nowhere = web.get("/api/v1/nowhere", headers=headers).json()
        assert nowhere["rule"] == "not-found"
        assert (nowhere["title"], nowhere["detail"]) == (
            ("Not found", "there is nothing at this address") if english
            else ("Hittades inte", "det finns inget på den här adressen"))
        # A domain refusal, raised in the worker thread that runs the handler.
        unknown = web.get("/api/v1/locks/HL-NOSUCH", headers=headers).json()
        assert unknown["rule"] == "unknown-lock"
        assert unknown["detail"] == ("lock HL-NOSUCH is not in the fleet store" if english
                                     else "låset HL-NOSUCH finns inte i låsregistret")
        # A body over the bound, refused before any handler runs.
        big = web.post("/api/v1/login", content=b"x" * 20000, headers=headers).json()
        assert big["detail"] == ("the request is larger than 16384 bytes" if english
                                 else "begäran är större än 16384 byte")
