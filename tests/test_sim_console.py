"""`hemlas sim` and `hemlas demo` as a technician and a program meet them (issue 11): every
option has help, the console has `help`, answers are readable, each answer says which lock it
came from, and `demo --json` is JSON. Driven as a user does: a real subprocess, stdin, the
real virtual board.

References from outside the code under test: the firmware console's own command table
(firmware/console.py, read as text), the board actions the README names, the LockState and
BatteryState codes from firmware/wire.py, and json / datetime.fromisoformat as readers."""

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from hemlas.firmware import wire

ROOT = Path(__file__).resolve().parents[1]
# The hands on the board the README and the old console banner name.
BOARD_ACTIONS = ["press", "battery", "replace", "jam", "unjam", "bolt", "cut", "on", "leds"]


def _firmware_commands() -> list[str]:
    """The console commands the firmware answers: its dispatch table, read from the source."""
    source = (ROOT / "firmware" / "console.py").read_text()
    table = source[source.index("self._commands = {"):source.index("}", source.index("self._commands = {"))]
    return re.findall(r'"(\w+)":\s*self\._', table)


def _hemlas(tmp_path, *args, stdin=None, timeout=180):
    env = dict(os.environ, HEMLAS_STORE=str(tmp_path / "fleet.sqlite3"),
               HEMLAS_KEYS=str(tmp_path / "keys.json"), COLUMNS="100")
    return subprocess.run([sys.executable, "-m", "hemlas.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _options_help(help_text: str) -> dict[str, str]:
    """--option -> its help text, from argparse's "options:" section."""
    section = help_text.split("options:", 1)[1]
    entries: dict[str, str] = {}
    current = None
    for line in section.splitlines():
        match = re.match(r"^  (-[-\w]+(?:, --[-\w]+)?)(?: [^ ]+)?(?:\s{2,}(.*))?$", line)
        if match:
            current = match.group(1).split(", ")[-1]
            entries[current] = match.group(2) or ""
        elif current and line.startswith("    "):
            entries[current] += " " + line.strip()
    return entries


@pytest.mark.parametrize("command, options", [
    ("sim", ["--board", "--flash", "--battery", "--locks", "--radio-socket", "--json"]),
    ("demo", ["--board", "--flash", "--battery", "--json"]),
])
def test_every_sim_and_demo_option_has_help(tmp_path, command, options):
    result = _hemlas(tmp_path, command, "--help", timeout=60)
    assert result.returncode == 0, result.stderr
    helps = _options_help(result.stdout)
    for option in options:
        assert option in helps, f"{option} missing from:\n{result.stdout}"
        assert len(helps[option].split()) >= 2, f"{option} has no help: {helps[option]!r}"


@pytest.mark.virtual_board
def test_sim_console_help_readable_answers_and_which_lock(tmp_path):
    script = ("help\nstatus\n2 status\n2\nbattery\n1 nonsense\n3 status\nbolt\nquit\n")
    result = _hemlas(tmp_path, "sim", "--locks", "2", stdin=script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    info = json.loads(lines[0])  # the first line stays JSON, for programs that start sim
    ids = [lock["lock_id"] for lock in info["locks"]]
    out = result.stdout

    # help: every firmware console command and every board action, one line each.
    firmware = _firmware_commands()
    assert {"status", "lock", "unlock", "battery", "log", "swap"} <= set(firmware)
    for word in firmware + BOARD_ACTIONS:
        described = [line for line in lines if re.match(rf"^\s+{word}\b.*?\s{{2,}}\w", line)]
        assert described, f"help does not describe {word!r}:\n{out}"

    # No answer is echoed as raw JSON: only the first line is.
    assert not [line for line in lines[1:] if line.lstrip().startswith("{")]

    # Each answer says which lock it came from; an unnumbered line goes to the current lock.
    blocks = out.split("→ lock ")[1:]
    heads = [block.split("\n", 1)[0] for block in blocks]
    assert heads[0] == f"1 ({ids[0]})" and blocks[0].split("\n")[1] == "status:"
    assert heads[1] == f"2 ({ids[1]})" and f"lock_id: {ids[1]}" in blocks[1]
    assert f"unnumbered lines now go to lock 2 ({ids[1]})" in out
    assert heads[2] == f"2 ({ids[1]})" and blocks[2].split("\n")[1] == "battery:"  # unnumbered
    assert heads[3] == f"1 ({ids[0]})" and "unknown command (help lists the commands)" in blocks[3]
    assert "no lock 3: the locks are numbered 1 to 2" in out
    assert "bolt: error: an argument is missing; usage: bolt POSITION" in out

    # Readable: codes named (from wire.py's numbers), times ISO with an offset.
    status = blocks[0]
    assert f"state: unlocked ({wire.LOCK_UNLOCKED})" in status
    assert f"battery: ok ({wire.BATTERY_OK})" in status
    clock = re.search(r"clock: (\S+)", status).group(1)
    assert datetime.fromisoformat(clock).tzinfo is not None
    assert re.search(r"idle_mv: \d+", blocks[2]) and "percent:" in blocks[2]


@pytest.mark.virtual_board
def test_sim_json_answers_name_the_lock(tmp_path):
    result = _hemlas(tmp_path, "sim", "--locks", "2", "--json", stdin="2 status\nhelp\nquit\n")
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    ids = [lock["lock_id"] for lock in docs[0]["locks"]]
    status = next(d for d in docs if d.get("cmd") == "status")
    assert (status["n"], status["lock_id"], status["state"]) == (2, ids[1], wire.LOCK_UNLOCKED)
    helped = next(d for d in docs if "help" in d)["help"]
    assert set(_firmware_commands()) <= set(helped["firmware"])
    assert set(BOARD_ACTIONS) <= set(helped["board"])


@pytest.mark.virtual_board
def test_demo_json_is_json_lines_one_per_step(tmp_path):
    """Documented in `hemlas demo --help`: JSON lines, one object per step."""
    result = _hemlas(tmp_path, "demo", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]  # every line parses
    steps = [d["step"] for d in docs]
    assert steps[:2] == ["provision", "start"]
    for step in ("scan", "key", "status", "unlock", "battery", "event_log", "discharged_unlock"):
        assert step in steps
    assert steps.count("selftest") == 2
    by_step = {d["step"]: d for d in docs}
    lock_id = by_step["start"]["lock_id"]
    assert lock_id in [found["lock_id"] for found in by_step["scan"]["locks"]]
    unlock = by_step["unlock"]
    assert (unlock["lock_id"], unlock["state"], unlock["state_code"]) == (
        lock_id, "unlocked", wire.LOCK_UNLOCKED)
    assert by_step["battery"]["battery"] == "ok" and by_step["battery"]["battery_code"] == 0
    for record in by_step["event_log"]["records"]:
        assert datetime.fromisoformat(record["at"]).tzinfo is not None and record["event"]
    assert datetime.fromisoformat(by_step["key"]["not_after"]).tzinfo is not None
    first, second = [d for d in docs if d["step"] == "selftest"]
    assert first["blinks"] == 1 and second["blinks"] == 0
    dead = by_step["discharged_unlock"]
    assert dead["refused"] and "Do NOT swap the battery yourself" in dead["guidance"]
    for doc in docs:
        assert "lock" not in doc or doc["step"] == "lock"  # a lock is lock_id
    help_text = _hemlas(tmp_path, "demo", "--help", timeout=60).stdout
    assert "JSON lines" in " ".join(help_text.split())
