"""The hemlas CLI, as a user runs it (a real subprocess, the real virtual board)."""

import json
import subprocess
import sys

import pytest


def _hemlas(*args, stdin=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "hemlas.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def test_boards_lists_every_board_file():
    result = _hemlas("boards", "--json")
    assert result.returncode == 0
    names = {row["board"] for row in json.loads(result.stdout)}
    assert names == {"virtual", "esp32-devkitc", "esp32c3"}


@pytest.mark.virtual_board
def test_demo_unlocks_reads_the_battery_and_shows_the_selftest():
    result = _hemlas("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "unlock  -> done, unlocked" in out
    assert "mV under load: OK" in out
    assert "green ON" in out and "green off" in out and "red   ON" in out
    assert "red blinked once" in out
    assert "selftest" in out  # the event log shows the self-test record


@pytest.mark.virtual_board
def test_demo_with_a_discharged_battery_gives_the_routine_warning():
    result = _hemlas("demo", "--battery", "discharged")
    assert result.returncode == 0, result.stderr
    assert "refused: battery critical" in result.stdout
    assert "Do NOT swap it" in result.stdout
    assert "red   ON" not in result.stdout


@pytest.mark.virtual_board
def test_sim_console_drives_the_virtual_lock():
    script = "status\nlock\njam 0.5\nunlock\nunjam\nunlock\nnonsense\nquit\n"
    result = _hemlas("sim", stdin=script)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert answers[0]["board"] == "virtual"
    by_cmd = [a.get("cmd") for a in answers]
    assert by_cmd.count("unlock") == 2
    unlocks = [a for a in answers if a.get("cmd") == "unlock"]
    assert unlocks[0]["result"] == 2 and unlocks[1]["state"] == 2  # jammed, then unlocked
    assert any(a.get("error") == "unknown command" for a in answers)


def test_unknown_board_is_a_clear_error():
    result = _hemlas("demo", "--board", "nope")
    assert result.returncode == 2 and "invalid choice" in result.stderr
