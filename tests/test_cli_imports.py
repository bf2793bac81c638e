"""`hemlas <command>` imports what that command needs when it runs, nothing more (issue 14).

Structural, never a timing: a fresh interpreter (a subprocess, so that nothing this test
process already imported counts) builds the real parser, parses or runs a command, and says
which modules it loaded. The heavy ones are the fleet store's (SQLAlchemy, Alembic), the
virtual board's (hemlas.sim, Bumble's stack), the flashing tools' (mpremote, pyserial), the
reports' matplotlib and the BLE client itself.

What a field command needs is taken from hemlas/commands/lock.py as it is: the BLE client,
and the fleet store where one exists (a technician's machine: every connection keeps its
battery reading and syncs the event log), so SQLAlchemy is on the field path only there; a
carer's phone, with no store, never loads it (fleet.where says there is none)."""

import json
import subprocess
import sys

import pytest

from hemlas import cli

# Loaded by no command until it runs; each entry also stands for its submodules.
HEAVY = ("sqlalchemy", "alembic", "bumble", "bleak", "hemlas.client", "hemlas.fleet", "hemlas.sync",
         "hemlas.sim", "hemlas.flashing", "hemlas.provisioning", "matplotlib", "mpremote", "serial")
# A field command does not need these even when its handler is loaded.
NOT_FOR_THE_FIELD = ("hemlas.sim", "hemlas.flashing", "hemlas.provisioning", "bumble.device",
                     "bumble.hci", "matplotlib", "mpremote", "serial")

_PROBE = """
import json, sys
from hemlas import cli
step = sys.argv[1]
argv = sys.argv[2:]
if step == "parse":
    cli._parser().parse_args(argv)
elif step == "handler":
    cli.command_handler(cli._parser().parse_args(argv))
elif step == "main":
    try:
        cli.main(argv)
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded_after(step: str, *argv: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", _PROBE, step, *argv], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stderr.splitlines()[-1]))


def heavy_among(modules: set[str], heavy=HEAVY) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy))


@pytest.mark.parametrize("step, argv", [
    ("parse", ["boards"]),
    ("main", ["boards", "--json"]),
    ("main", ["--help"]),
    ("parse", ["status", "HL-1"]),
    ("parse", ["unlock", "HL-1", "--json"]),
    ("main", ["status", "--help"]),
], ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_a_command_that_does_not_need_them_loads_no_heavy_module(step, argv):
    modules = loaded_after(step, *argv)
    assert heavy_among(modules) == []
    assert not any(m.startswith("hemlas.commands.") and m not in ("hemlas.commands.formats",
                                                                   "hemlas.commands.output")
                   for m in modules), sorted(m for m in modules if m.startswith("hemlas.commands."))


@pytest.mark.parametrize("verb", ["status", "unlock", "lock", "battery"])
def test_a_field_command_loads_its_handler_and_not_the_virtual_board_or_the_tools(verb):
    modules = loaded_after("handler", verb, "HL-1")
    assert "hemlas.commands.lock" in modules and "hemlas.client" in modules
    assert heavy_among(modules, NOT_FOR_THE_FIELD) == []
    others = {"hemlas.commands.sim", "hemlas.commands.fleet", "hemlas.commands.report",
              "hemlas.commands.compensation", "hemlas.commands.swap", "hemlas.commands.flash"}
    assert sorted(modules & others) == []


def test_a_group_command_loads_its_module_when_it_is_used():
    modules = loaded_after("parse", "keys", "list")
    assert "hemlas.commands.keys" in modules
    assert "hemlas.commands.report" not in modules and "hemlas.commands.compensation" not in modules


def test_every_function_the_tables_name_exists():
    # The tables name functions as "module:function": a misspelt one would fail only when run.
    named = [target for handler, _, add_arguments in cli.COMMANDS.values()
             for target in (handler, add_arguments) if isinstance(target, str)]
    named += [add_subcommands for _, add_subcommands in cli.GROUPS.values()]
    assert len(named) > len(cli.COMMANDS)
    for target in named:
        function = cli._load(target)
        assert callable(function) and function.__name__ == target.partition(":")[2], target


@pytest.mark.parametrize("verb", ["status", "unlock", "lock", "battery"])
def test_a_field_command_on_a_phone_without_a_store_loads_no_database_layer(verb, tmp_path, monkeypatch):
    """On a carer's phone there is no fleet store: the handler says so (fleet.where) without
    importing SQLAlchemy or the store's models (0.5 s of a field command's start-up)."""
    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "none.sqlite3"))
    monkeypatch.setenv("HEMLAS_KEYS", str(tmp_path / "keys.json"))  # none: the command ends there
    modules = loaded_after("main", verb, "HL-1")
    assert "hemlas.commands.lock" in modules
    assert heavy_among(modules, ("sqlalchemy", "alembic", "hemlas.fleet.store", "hemlas.fleet.models",
                                 "hemlas.sync")) == []
