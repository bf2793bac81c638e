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
def test_demo_shows_unlock_battery_selftest_and_the_discharged_routine():
    result = _hemlas("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "scan:" in out and "HL-" in out
    assert "unlock:  unlocked in" in out
    assert "mV under load" in out and ": OK" in out
    assert "green ON" in out and "green off" in out and "red   ON" in out
    assert "red blinked once" in out
    assert "selftest" in out  # the event log, read over BLE, shows the self-test record
    discharged = out.split("fully discharged battery. Unlocking it:")[1]
    assert "Do NOT swap the battery yourself" in discharged
    assert "red   ON" not in discharged and "no red blink" in discharged
    # The fleet service beside the locks (issue 15): where it listened, and what it answered.
    assert "the fleet service (hemlas serve) listened on http://127.0.0.1:" in out
    assert "stale (stale: no battery reading yet)" in out.split("the lock administrator's warnings:")[1]


@pytest.mark.virtual_board
def test_sim_console_drives_the_virtual_lock():
    script = "status\nlock\njam 0.5\nunlock\nunjam\nunlock\nnonsense\nquit\n"
    result = _hemlas("sim", "--json", stdin=script)  # --json: the firmware's answers as JSON
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert answers[0]["locks"][0]["board"] == "virtual"
    by_cmd = [a.get("cmd") for a in answers]
    assert by_cmd.count("unlock") == 2
    unlocks = [a for a in answers if a.get("cmd") == "unlock"]
    assert unlocks[0]["result"] == 2 and unlocks[1]["state"] == 2  # jammed, then unlocked
    assert any(a.get("error") == "unknown command" for a in answers)


def test_unknown_board_is_a_clear_error():
    result = _hemlas("demo", "--board", "nope")
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.virtual_board
def test_sim_with_three_locks_is_seen_by_another_process():
    import os

    sim = subprocess.Popen([sys.executable, "-m", "hemlas.cli", "sim", "--locks", "3", "--json"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(sim.stdout.readline())
        ids = {lock["lock_id"] for lock in info["locks"]}
        assert len(ids) == 3 and len({lock["address"] for lock in info["locks"]}) == 3
        env = dict(os.environ, HEMLAS_RADIO=info["radio"])
        scan = subprocess.run([sys.executable, "-m", "hemlas.cli", "scan", "--timeout", "1.5", "--json"],
                              capture_output=True, text=True, timeout=60, env=env)
        assert scan.returncode == 0, scan.stderr
        assert {row["lock_id"] for row in json.loads(scan.stdout)} == ids
        # Each lock's serial port, as `hemlas sim` prints it, is one mpremote can use
        # (mpremote stops the firmware, as on a board: the lock is at the REPL afterwards).
        port = info["locks"][2]["port"]
        ls = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "fs", "ls"],
                            capture_output=True, text=True, timeout=60)
        assert ls.returncode == 0, ls.stderr
        assert "main.py" in ls.stdout and "identity.json" in ls.stdout
        sim.stdin.write("2 status\nquit\n")
        sim.stdin.flush()
        out, _ = sim.communicate(timeout=30)
        assert '"cmd": "status"' in out
        assert sim.returncode == 0
    finally:
        if sim.poll() is None:
            sim.kill()
