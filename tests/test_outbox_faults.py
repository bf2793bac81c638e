"""The outbox against a real `hemlas serve` when things go wrong: the client SIGKILLed between
the service's answer and the outbox noting it, the server restarted between uploads (and not
there at all: connection refused), the network cutting the connection after the request went
through; and a virtual lock opened with no network at the door, its log sent later. Each
time: the service has every upload once, in the order it was written."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time

import pytest

from hemlas import cli
from hemlas.field.outbox import Outbox
from hemlas.field.sending import TEST_PAUSE_ENV, send
from hemlas.field.service import ServiceClient, enrolment
from hemlas.firmware import wire
from hemlas.fleet.store import FleetStore

from outbox_helpers import HEMLAS, CuttingProxy, Served, field_env
from service_helpers import PASSWORD, populate

LOCK = "HL-NORR01"
SOURCE = "fault-test"


@pytest.fixture
def server(tmp_path):
    path = tmp_path / "fleet.sqlite3"
    with FleetStore(str(path)) as store:
        populate(store)
    served = Served(path, tmp_path).start()
    yield served
    served.stop()


@pytest.fixture
def device(tmp_path, monkeypatch, server):
    for name, value in field_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["login", server.url, "--user", "carer-a", "--password-stdin"]) == 0
    return os.environ.copy()


def _queue(*marks: int) -> None:
    """Readings told apart by their idle voltage: the order they were written in."""
    with Outbox() as outbox:
        for mark in marks:
            outbox.enqueue(LOCK, "battery-reading", {"at": 1_790_000_000, "idle_mv": mark,
                                                     "loaded_mv": 4000, "state": wire.BATTERY_OK,
                                                     "source": SOURCE})


def _on_the_service(server) -> list[int]:
    with FleetStore(str(server.store)) as store:
        readings = [r for r in store.battery_readings(LOCK) if r.source == SOURCE]
    return [r.idle_mv for r in sorted(readings, key=lambda r: r.reading_id)]


def _waiting() -> list[int]:
    with Outbox() as outbox:
        return [u.body["idle_mv"] for u in outbox.uploads()]


def _send_here(url: str | None = None):
    found = enrolment()
    with Outbox() as outbox, ServiceClient(url or found.url, found.token) as client:
        return send(outbox, client)


def test_a_client_killed_between_the_answer_and_noting_it_sends_again_applied_once(
        server, device, tmp_path):
    _queue(1, 2, 3, 4, 5)
    marker = tmp_path / "answered-3"
    proc = subprocess.Popen([HEMLAS, "outbox", "send"], env={**device, TEST_PAUSE_ENV: f"3:{marker}"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # the service applied the 3rd; the outbox never heard
    proc.wait(timeout=10)
    assert _on_the_service(server) == [1, 2, 3]
    assert _waiting() == [3, 4, 5]  # the 3rd stays: its answer was never noted
    done = subprocess.run([HEMLAS, "outbox", "send"], env=device, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert _on_the_service(server) == [1, 2, 3, 4, 5]  # the 3rd once, all in order
    assert _waiting() == []


def test_the_server_restarted_between_uploads_and_gone_meanwhile_loses_nothing(server, device):
    _queue(1, 2)
    assert _send_here().sent == 2
    server.stop(kill=True)
    _queue(3, 4)
    refused = _send_here()  # connection refused: kept, none marked refused
    assert (refused.sent, refused.refused, refused.waiting) == (0, 0, 2)
    assert "did not answer" in str(refused.stopped)
    server.start()
    _queue(5)
    assert _send_here().sent == 3
    assert _on_the_service(server) == [1, 2, 3, 4, 5] and _waiting() == []


def test_a_connection_cut_after_the_request_went_through_is_sent_again_applied_once(server, device):
    proxy = CuttingProxy(server.port)
    try:
        _queue(1, 2, 3)
        assert _send_here(proxy.url).sent == 3
        proxy.cut = True
        _queue(4, 5)
        cut = _send_here(proxy.url)
        assert proxy.cuts == 1 and cut.sent == 0 and cut.stopped is not None
        assert _on_the_service(server) == [1, 2, 3, 4]  # applied; the answer lost on the way back
        assert _waiting() == [4, 5]
        proxy.cut = False
        assert _send_here(proxy.url).sent == 2
        assert _on_the_service(server) == [1, 2, 3, 4, 5] and _waiting() == []
    finally:
        proxy.close()


@pytest.mark.virtual_board
def test_a_virtual_lock_opens_with_no_network_and_its_log_reaches_the_service_later(
        radio, boot_board, tmp_path, monkeypatch, capsys):
    path = tmp_path / "fleet.sqlite3"
    with FleetStore(str(path)) as store:
        populate(store)
        vb = boot_board(radio=radio, bolt=1.0)
        lock_id = vb.provision(store)
        store.assign_lock(lock_id, "9100417", int(time.time()))
        now = int(time.time())
        store.issue_key(lock_id, "Anna Andersson", wire.ROLE_STAFF, now - 60, now + 3600)
    served = Served(path, tmp_path).start()
    try:
        for name, value in field_env(tmp_path).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        assert cli.main(["login", served.url, "--user", "carer-a", "--password-stdin"]) == 0
        served.stop()  # no network at the door
        capsys.readouterr()
        assert cli.main(["unlock", lock_id]) == 0  # the key fetched at login opens it
        assert "uploads wait in the outbox" in capsys.readouterr().err
        assert cli.main(["lock", lock_id]) == 0
        with Outbox() as outbox:
            kinds = [u.kind for u in outbox.uploads()]
        assert kinds.count("battery-reading") == 2 and "log-page" in kinds
        served.start()
        assert cli.main(["outbox", "send"]) == 0
        with FleetStore(str(path)) as store:
            events = [(e.seq, e.type) for e in store.lock_events(lock_id)]
            cursor = store.sync_cursor(lock_id)
            readings = store.battery_readings(lock_id)
        # Every record the lock had when the last connection read it, once, none counted lost
        # (that connection's own session events come after its read: the next one sends them).
        on_lock = vb.command("status")["next_seq"]
        assert [seq for seq, _ in events] == list(range(1, cursor.next_seq))
        assert on_lock - 3 <= cursor.next_seq <= on_lock and cursor.lost_events == 0
        assert {wire.EVENT_UNLOCKED, wire.EVENT_LOCKED} <= {t for _, t in events}
        assert len(readings) == 2
    finally:
        served.stop()
