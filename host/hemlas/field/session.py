"""What a field command does with what its connection learnt, on a device logged in to the
service: into the outbox first (the lock's answer never waits for the network), then sent.

    field = FieldSession.active()      # None: not logged in, the local fleet store as before
    field.keep_reading(lock_id, reading, source)
    await field.queue_log(lock)        # the log's new pages, from this device's cursor
    field.send_quietly()               # after the connection: send, then fetch keys ahead
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ..errors import HemlasError
from ..i18n import _, ngettext
from .outbox import Outbox
from .sending import Sent, refresh_keys, send
from .service import Enrolment, ServiceClient, ServiceError, ServiceRefusedError, enrolment

_MAX_PAGES = 100_000  # as sync.py: a lock answering nonsense cannot keep a client forever


@dataclass(frozen=True)
class QueuedLog:
    lock_id: str
    pages: int  # uploads queued
    events: int  # records new to this device
    restarted: bool  # the lock's log had started again: read from its start


def _record(r) -> dict:
    return {"seq": r.seq, "time": r.time, "type": r.type, "fields": [int(f) for f in r.fields]}


class FieldSession:
    def __init__(self, found: Enrolment, outbox: Outbox):
        self.enrolment, self.outbox = found, outbox
        self.last_sent: Sent | None = None

    @classmethod
    def active(cls) -> FieldSession | None:
        """The session of a logged-in device; None when it is not (the local mode)."""
        found = enrolment()
        return None if found is None else cls(found, Outbox())

    def close(self) -> None:
        self.outbox.close()

    def keep_reading(self, lock_id: str, reading, source: str, now: int | None = None) -> str:
        """Queue a battery reading (a BatteryReading, or a swap's registration answer)."""
        import time

        return self.outbox.enqueue(lock_id, "battery-reading", {
            "at": int(time.time()) if now is None else now, "idle_mv": reading.idle_mv,
            "loaded_mv": reading.loaded_mv, "state": int(reading.state),
            "percent": getattr(reading, "percent", None),
            "days_left": getattr(reading, "days_left", None),
            "charge_used_mah": getattr(reading, "used_mah", None), "source": source})

    async def queue_log(self, lock) -> QueuedLog:
        """Read the lock's log from where this device stopped and queue each page with the
        cursor's move. One record of overlap: the last record queued before, read again, must
        be the same, or the lock's log started again (then it is read from its start; the
        service, finding its records differ, begins a new epoch). A lock whose numbers went
        back below the cursor started again too.

        Raises:
            LockError: the connection failed; the pages queued before it stay queued.
        """
        lock_id = lock.lock_id
        next_seq, last = self.outbox.log_cursor(lock_id)
        pages = events = 0
        restarted = False
        from_seq = next_seq - 1 if last is not None else next_seq
        for _page in range(_MAX_PAGES):
            lock_next_seq, page = await lock.read_log_page(from_seq)
            records = [_record(r) for r in page]
            overlap = last is not None and records and records[0]["seq"] == last["seq"]
            went_back = lock_next_seq < next_seq
            if not restarted and (went_back or (overlap and records[0] != last)):
                self.outbox.reset_log_cursor(lock_id)
                next_seq, last, from_seq, restarted = 1, None, 1, True
                continue
            fresh = [r for r in records if r["seq"] >= next_seq]
            moved = max([next_seq, lock_next_seq if not page else records[-1]["seq"] + 1])
            if fresh or moved > next_seq:
                # Records gone from the lock before this device reached them go too (an empty
                # page whose lock is further on): the service counts them lost.
                self.outbox.enqueue_log_page(lock_id, lock_next_seq, records, moved)
                pages += 1
                events += len(fresh)
                if records:
                    last = records[-1]
            next_seq = moved
            if not page or next_seq >= lock_next_seq:
                break
            from_seq = next_seq
        return QueuedLog(lock_id, pages, events, restarted)

    async def keep_quietly(self, lock, reading, source: str, sync: bool) -> None:
        """What a connection learnt, into the outbox: a failure is said, and never fails the
        lock's answer (the next connection reads on from this device's cursor)."""
        try:
            if reading is not None:
                self.keep_reading(lock.lock_id, reading, source)
            if sync:
                await self.queue_log(lock)
        except HemlasError as err:  # LockError among them
            print(_("hemlas: the event log of {lock_id} was not fully synced ({error}); the next "
                    "connection goes on from where this one stopped")
                  .format(lock_id=lock.lock_id, error=err), file=sys.stderr)

    def queue_swap(self, swap) -> str:
        """Queue a battery swap the guided flow ran to its end (a fleet SwapRecord)."""
        cycles = [{"cycle_index": c.cycle_index, "action": c.action, "result": c.result,
                   "state": c.state, "travel_ms": c.travel_ms, "loaded_mv": c.loaded_mv, "at": c.at}
                  for c in swap.cycles]
        return self.outbox.enqueue(swap.lock_id, "swap", {
            "person": swap.person, "started_at": swap.started_at,
            "lock_swap_time_before": swap.lock_swap_time_before,
            "registered_at": swap.registered_at,
            "loaded_mv_at_registration": swap.loaded_mv_at_registration,
            "lock_swap_time": swap.lock_swap_time, "cycles": cycles, "status": swap.status,
            "reason": swap.reason, "finished_at": swap.finished_at})

    def send(self, include_refused: bool = False, keys: bool = True) -> Sent:
        """Send what waits, then (if it went through) fetch the keys ahead.

        Raises:
            ServiceError: the keys could not be fetched (the uploads' fate is in the answer).
        """
        with ServiceClient.enrolled(self.enrolment) as client:
            self.last_sent = send(self.outbox, client, include_refused)
            if keys and self.last_sent.stopped is None:
                refresh_keys(self.outbox, client)
        return self.last_sent

    def send_quietly(self) -> Sent | None:
        """send(), as after every connection: a network that is not there is said in one
        line on stderr, and never turns the lock's answer into a failure."""
        try:
            sent = self.send()
        except ServiceError as err:
            print(_("hemlas: keys not fetched from the service: {error}").format(error=err),
                  file=sys.stderr)
            return self.last_sent
        if sent.stopped is not None:
            why = sent.stopped
            if isinstance(why, ServiceRefusedError) and why.status == 401:
                why = _("{detail} (hemlas login)").format(detail=why.detail)
            print(ngettext("hemlas: {n} upload waits in the outbox: {why}",
                           "hemlas: {n} uploads wait in the outbox: {why}", sent.waiting)
                  .format(n=sent.waiting, why=why), file=sys.stderr)
        elif sent.refused:
            print(ngettext("hemlas: the service refused {n} upload; see hemlas outbox",
                           "hemlas: the service refused {n} uploads; see hemlas outbox",
                           sent.refused).format(n=sent.refused), file=sys.stderr)
        return sent
