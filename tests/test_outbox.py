"""The outbox (host/hemlas/field/outbox.py) and its sending, against the service on a real
socket and an oracle written here: random interleavings of writing uploads, sending them,
the client dying right after an answer (before the outbox notes it) and a network that is not
there. After every step the service holds a prefix of what was written, in order, nothing
twice; the outbox holds the rest, and at most the one upload whose answer was lost besides;
in the end everything arrives once. Then the outbox's own rules: owner-only, the log cursor
moved with its page, refused uploads kept."""

from __future__ import annotations

import itertools
import stat
import tempfile
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hemlas.field.outbox import REFUSED, Outbox
from hemlas.field.sending import send
from hemlas.field.service import ServiceClient
from hemlas.firmware import wire
from hemlas.fleet.store import FleetStore

from outbox_helpers import ThreadServer
from service_helpers import PASSWORD, populate

LOCK = "HL-NORR01"
_examples = itertools.count()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with FleetStore(str(tmp_path_factory.mktemp("svc") / "fleet.sqlite3")) as store:
        populate(store)
        with ThreadServer(store) as server:
            answer = httpx.post(server.url + "/api/v1/login",
                                json={"login": "carer-a", "password": PASSWORD, "device": "prop"})
            server.token, server.store = answer.json()["token"], store
            yield server


class _Killed(Exception):
    """The client process dying: nothing after it runs."""


class _DiesAfterAnswer(ServiceClient):
    """A real client that dies once the service has answered its n-th upload."""

    def __init__(self, url, token, answers_before_death: int):
        super().__init__(url, token)
        self.left = answers_before_death

    def upload(self, lock_id, upload_id, body):
        answer = super().upload(lock_id, upload_id, body)
        self.left -= 1
        if self.left == 0:
            raise _Killed()
        return answer


STEP = st.one_of(st.tuples(st.just("write"), st.integers(1, 3)),
                 st.tuples(st.just("send"), st.just(0)),
                 st.tuples(st.just("die"), st.integers(1, 3)),
                 st.tuples(st.just("down"), st.just(0)))


def _applied(store, source: str) -> list[int]:
    return [r.idle_mv for r in sorted((r for r in store.battery_readings(LOCK) if r.source == source),
                                      key=lambda r: r.reading_id)]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, max_size=10))
def test_random_interleavings_lose_nothing_double_nothing_and_keep_order(service, steps):
    source = f"prop{next(_examples)}"
    path = Path(tempfile.mkdtemp(dir=Path(tempfile.gettempdir()))) / "outbox.sqlite3"
    outbox = Outbox(path)
    written: list[int] = []  # the oracle: every upload, in the order it was written
    healthy = ServiceClient(service.url, service.token)
    try:
        for op, n in steps:
            if op == "write":
                for _ in range(n):
                    mark = len(written) + 1
                    outbox.enqueue(LOCK, "battery-reading", {
                        "at": 1_790_000_000, "idle_mv": mark, "loaded_mv": 4000,
                        "state": wire.BATTERY_OK, "source": source})
                    written.append(mark)
            elif op == "send":
                assert send(outbox, healthy).stopped is None
            elif op == "die":
                client = _DiesAfterAnswer(service.url, service.token, n)
                try:
                    send(outbox, client)
                except _Killed:
                    pass
                client.close()
                outbox.close()
                outbox = Outbox(path)  # the next process opens what the dead one left
            else:  # the network is not there: connection refused
                with ServiceClient("http://127.0.0.1:9", service.token) as client:
                    result = send(outbox, client)
                assert result.sent == 0 and (result.stopped is not None or not result.waiting)
            applied = _applied(service.store, source)
            waiting = [u.body["idle_mv"] for u in outbox.uploads()]
            assert applied == written[:len(applied)]  # in order, nothing twice, nothing made up
            assert waiting == written[len(written) - len(waiting):]  # the rest, in order
            assert len(applied) <= len(written) - len(waiting) + 1  # one answer lost at most
            assert len(applied) + len(waiting) >= len(written)  # nothing lost
        send(outbox, healthy)
        assert _applied(service.store, source) == written and outbox.uploads() == []
    finally:
        healthy.close()
        outbox.close()


def test_the_outbox_is_owner_only_and_moves_a_log_cursor_with_its_page(tmp_path):
    outbox = Outbox(tmp_path / "dir" / "outbox.sqlite3")
    assert stat.S_IMODE(outbox.path.stat().st_mode) == 0o600
    assert outbox.log_cursor("HL-X") == (1, None)
    record = {"seq": 1, "time": 5, "type": wire.EVENT_BOOT, "fields": [1, 1, 1]}
    first = outbox.enqueue_log_page("HL-X", 2, [record], 2)
    assert outbox.log_cursor("HL-X") == (2, record)
    outbox.enqueue_log_page("HL-X", 9, [], 9)  # records gone from the lock: the cursor moves on
    assert outbox.log_cursor("HL-X") == (9, record)
    [page, gone] = outbox.uploads()
    assert page.upload_id == first and page.body == {"kind": "log-page", "lock_next_seq": 2,
                                                     "records": [record]}
    assert gone.body["records"] == [] and len({page.upload_id, gone.upload_id}) == 2
    outbox.attempted(page.seq, "lock HL-X is not in the fleet store", REFUSED)
    assert [u.state for u in outbox.uploads()] == [REFUSED, "pending"]
    assert [u.seq for u in outbox.uploads(("pending",))] == [gone.seq]
    outbox.reset_log_cursor("HL-X")
    assert outbox.log_cursor("HL-X") == (1, None)
    outbox.close()


def test_a_finished_swap_queued_by_the_field_session_reaches_the_service_once(service, tmp_path):
    from hemlas.field.service import Enrolment
    from hemlas.field.session import FieldSession
    from hemlas.fleet.models import SwapCycleRecord, SwapRecord

    at = 1_790_100_000
    cycles = tuple(SwapCycleRecord(7, i, ("lock", "unlock")[i % 2], wire.STATUS_OK, 1 + i % 2, 800,
                                   4100, at + 10 + i) for i in range(10))
    swap = SwapRecord(7, "HL-NORR02", "9100428", "Anna Andersson", at, "passed", "done", at + 5,
                      4150, at + 30, None, cycles, lock_swap_time_before=0, lock_swap_time=at + 5)
    field = FieldSession(Enrolment(service.url, service.token, "carer-a", "Anna Andersson", "prop",
                                   None, None), Outbox(tmp_path / "outbox.sqlite3"))
    try:
        field.queue_swap(swap)
        assert field.send(keys=False).sent == 1
        field.queue_swap(swap)  # the same swap queued again (a new upload id): the one recorded
        assert field.send(keys=False).sent == 1
    finally:
        field.close()
    [recorded] = service.store.swaps("HL-NORR02")
    assert (recorded.person, recorded.status, recorded.registered_at, len(recorded.cycles)) == \
        ("Anna Andersson", "passed", at + 5, 10)
    assert [c.at for c in recorded.cycles] == [c.at for c in cycles]
