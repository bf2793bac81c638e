"""The virtual radio end to end: a hub with plain Bumble peripherals in this process, and
client processes that use only BleakScanner/BleakClient with hemlas.radio.config's kwargs.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

HELPERS = Path(__file__).parent / "radio_helpers"
sys.path.insert(0, str(HELPERS))
from radio_echo import ADV_INTERVAL_MS, SERVICE, STALLED, add_echo_peripheral  # noqa: E402

from hemlas.radio import RadioConfigError, client_kwargs, scanner_kwargs  # noqa: E402
from hemlas.radio.hub import RadioThread  # noqa: E402

CLIENT = str(HELPERS / "client.py")
LOCKS = {"HL-TEST01": "F0:12:34:56:78:01", "HL-TEST02": "F0:12:34:56:78:02",
         "HL-TEST03": "F0:12:34:56:78:03"}
ABSENT = "F0:00:00:00:00:99"
_PROCESS_TIMEOUT_S = 60.0  # a client process takes ~1-3 s; generous for a loaded CI machine
_EVENT_TIMEOUT_S = 10.0
_LINK_LOSS_BOUND_S = 1.0  # the bound: a dead client leaves the lock advertising in 1 s


class Events:
    """What the peripherals saw, with the time they saw it (from the radio's thread)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[tuple[str, str, float, dict]] = []

    def add(self, kind: str, name: str, **data) -> None:
        with self._cond:
            self._items.append((kind, name, time.monotonic(), data))
            self._cond.notify_all()

    def mark(self) -> int:
        with self._cond:
            return len(self._items)

    def wait(self, kind: str, name: str, since: int) -> tuple[float, dict]:
        """The first `kind` event of `name` after mark `since`: (time, data)."""
        def find():
            return next(((t, d) for k, n, t, d in self._items[since:]
                         if k == kind and n == name), None)
        with self._cond:
            assert self._cond.wait_for(find, _EVENT_TIMEOUT_S), f"no {kind} on {name}"
            return find()

    def peers(self, name: str, since: int) -> list[str]:
        with self._cond:
            return [d["peer"] for k, n, _, d in self._items[since:]
                    if k == "connect" and n == name]


class Radio:
    """The hub on its thread, with recorded peripherals; what the tests talk to."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="hemlas-radio-")  # short: Unix socket paths
        self.socket = os.path.join(self._dir, "radio.sock")
        self.thread = RadioThread(self.socket)
        self.hub = self.thread.start()
        self.events = Events()
        self.devices = {name: self.add(name, address) for name, address in LOCKS.items()}
        self.env = dict(os.environ, HEMLAS_RADIO=f"virtual:{self.socket}")

    def add(self, name: str, address: str):
        async def add():
            device = await add_echo_peripheral(self.hub, name, address)

            def on_connection(connection) -> None:
                self.events.add("connect", name, peer=str(connection.peer_address))
                connection.on("disconnection",
                              lambda reason: self.events.add("disconnect", name, reason=reason))

            device.on("connection", on_connection)
            return device
        return self.thread.run(add())

    def on_loop(self, function):
        """Call a function on the radio's loop (where Bumble objects live); its result."""
        async def call():
            return function()
        return self.thread.run(call())

    def close(self) -> None:
        self.thread.close()
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(scope="module")
def radio():
    radio = Radio()
    yield radio
    radio.close()


def run_client(radio: Radio, *args: str) -> dict:
    proc = subprocess.run([sys.executable, CLIENT, *args], env=radio.env, capture_output=True,
                          text=True, timeout=_PROCESS_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def start_client(radio: Radio, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, CLIENT, *args], env=radio.env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def read_line(proc: subprocess.Popen) -> dict:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], _PROCESS_TIMEOUT_S)
    assert ready, "the client process printed nothing"
    line = proc.stdout.readline()
    assert line, f"the client process exited ({proc.wait()})"
    return json.loads(line)


def test_config_picks_the_radio():
    assert scanner_kwargs("") == {} and client_kwargs("default") == {}
    scanner, client = scanner_kwargs("virtual:/tmp/r.sock"), client_kwargs("virtual:/tmp/r.sock")
    assert scanner["backend"].__name__ == "BumbleBleakScanner"
    assert client["backend"].__name__ == "BumbleBleakClient"
    assert scanner["bumble"]["transport"] == "unix:/tmp/r.sock"
    assert client["bumble"]["mtu"] == 247
    assert client_kwargs("virtual:/tmp/r.sock", mtu=None)["bumble"]["mtu"] is None
    with pytest.raises(RadioConfigError):
        client_kwargs("bluez")


def test_scan_finds_three_locks_by_scan_response_name_and_service(radio, capsys):
    result = run_client(radio, "scan", "HL-TEST02", "HL-TEST03")
    for name, address in LOCKS.items():
        assert result["found"][address] == {"name": name, "local_name": name, "uuids": [SERVICE]}
    assert result["filtered"] == sorted(LOCKS.values())
    assert result["excluded"] == []
    assert result["by_name"] == LOCKS["HL-TEST02"]
    assert result["by_filter"] == LOCKS["HL-TEST03"]
    # Honoured, not Bumble's 1.6x (or 1 s default): a median, so 50 % slack absorbs a loaded
    # machine, whose delays only lengthen intervals.
    assert result["advertising_interval_s"] < ADV_INTERVAL_MS / 1000 * 1.5
    with capsys.disabled():
        print(f"\n[virtual radio] advertising interval {result['advertising_interval_s'] * 1000:.1f}"
              f" ms (median; set to {ADV_INTERVAL_MS} ms)")


@pytest.mark.parametrize("ask, mtu", [("247", 247), ("none", 23)])
def test_session_write_notify_and_refusals(radio, capsys, ask, mtu):
    result = run_client(radio, "session", "HL-TEST01", ask)
    assert result["mtu"] == mtu
    assert result["name"] == "HL-TEST01"
    assert result["echo_with_response"] == "with response"
    assert result["read_only"] == "hemlas" and result["read_only_value_ok"]
    # MTU - 3 bytes went round (the client checks each echo); one byte more is refused.
    assert result["oversized"]["error"] == "BleakError"
    # Refused by the client's property checks (as platform stacks do) or by the lock's
    # server (an ATT error response): promptly, either way.
    for refusal in (result["read_only_write"], result["command_to_write_only"],
                    result["refused_write"]):
        assert refusal["error"] == "BleakGATTProtocolError" and refusal["code"] == 3
        assert refusal["s"] < 1.0
    with capsys.disabled():
        print(f"\n[virtual radio, MTU {mtu}] connect+MTU+discovery "
              f"{result['connect_s'] * 1000:.1f} ms; write->notify round trip "
              f"{result['round_trip_s'] * 1000:.2f} ms (median of 50, {mtu - 3}-byte values)")


def test_killed_client_frees_the_lock_within_a_second(radio):
    name, address = "HL-TEST01", LOCKS["HL-TEST01"]
    controllers = radio.on_loop(lambda: len(radio.hub.link.controllers))
    mark = radio.events.mark()
    holder = start_client(radio, "hold", address)
    waiter = start_client(radio, "go", address)
    try:
        assert read_line(holder) == {"connected": True}
        radio.events.wait("connect", name, mark)
        assert read_line(waiter) == {"ready": True}

        killed_at = time.monotonic()
        holder.send_signal(signal.SIGKILL)
        lost_at, lost = radio.events.wait("disconnect", name, mark)
        assert lost_at - killed_at < _LINK_LOSS_BOUND_S
        assert lost["reason"] == 0x08  # a connection timeout, as a silent peer gives

        # The dead client's controller left the link.
        assert radio.on_loop(lambda: len(radio.hub.link.controllers)) == controllers

        assert waiter.stdin is not None
        waiter.stdin.write("go\n")
        waiter.stdin.flush()
        reconnected = read_line(waiter)
        # It connected, so the lock advertises again; the connect waited for one advertisement.
        assert reconnected["connected"] and reconnected["connect_s"] < _LINK_LOSS_BOUND_S
        assert waiter.wait(_PROCESS_TIMEOUT_S) == 0
    finally:
        for proc in (holder, waiter):
            proc.kill()
            proc.wait()


def test_connect_to_an_absent_lock_fails_within_the_timeout(radio):
    result = run_client(radio, "absent", ABSENT, "2.0", LOCKS["HL-TEST02"])
    assert result["absent"]["error"] == "TimeoutError"
    assert 1.5 < result["absent"]["s"] < 3.0
    assert result["then_connected"]  # the cancelled attempt left the radio usable


def test_two_clients_in_turn(radio):
    name = "HL-TEST03"
    first_mark = radio.events.mark()
    assert run_client(radio, "in_turn", LOCKS[name]) == {"values": ["hemlas", "hemlas"]}
    second_mark = radio.events.mark()
    assert run_client(radio, "in_turn", LOCKS[name]) == {"values": ["hemlas", "hemlas"]}
    first = radio.events.peers(name, first_mark)[:2]
    second = radio.events.peers(name, second_mark)
    assert len(first) == 2 and len(second) == 2
    assert not set(first) & set(second)  # each process has its own address on the link


def test_lock_losing_power_mid_write_gives_a_typed_error(radio):
    name, address = "HL-TEST04", "F0:12:34:56:78:04"
    device = radio.add(name, address)
    mark = radio.events.mark()
    radio.on_loop(lambda: device.on(STALLED, lambda: radio.events.add(STALLED, name)))
    writer = start_client(radio, "stall", address)
    try:
        assert read_line(writer) == {"connected": True}
        radio.events.wait(STALLED, name, mark)  # the write is in flight
        radio.thread.run(radio.hub.remove_peripheral(device))
        ended = read_line(writer)
        assert ended["write"]["error"] == "BleakError" and ended["write"]["s"] < 5.0
        assert ended["connected"] is False and ended["callback"] is True
        assert writer.wait(_PROCESS_TIMEOUT_S) == 0
    finally:
        writer.kill()
        writer.wait()
