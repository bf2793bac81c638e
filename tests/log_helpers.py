"""A lock's event log as BLE serves it, for sync tests that need more cut points or more
simulated time than a virtual lock's radio gives in a test run."""

from __future__ import annotations

import asyncio

from hemlas.firmware import wire
from hemlas.results import EventRecord


def console_log(vb) -> list:
    """Every record in a virtual lock's event log, read over its serial console page by page."""
    records, answer = [], vb.command("log 0")
    while answer["records"]:
        records += answer["records"]
        answer = vb.command(f"log {records[-1][0] + 1}")
    return records


class PagedLog:
    """A lock's log as BLE serves it: records numbered from 1, the oldest pruned away."""

    def __init__(self, lock_id: str):
        self.lock_id = lock_id
        self.records: list[EventRecord] = []
        self.next_seq = 1
        self.reads = 0
        self.cut_after_reads: int | None = None  # raise as a dropped link at that read

    def append(self, at: int, kind: int, fields=()) -> EventRecord:
        record = EventRecord(self.next_seq, at, kind, tuple(fields))
        self.records.append(record)
        self.next_seq += 1
        return record

    def prune(self, keep: int) -> None:
        self.records = self.records[-keep:]

    def erase(self) -> None:
        """The unit's flash erased: a new log, numbered from 1 again."""
        self.records, self.next_seq = [], 1

    async def read_log_page(self, from_seq: int):
        await asyncio.sleep(0)  # a radio round trip: another client's sync may run meanwhile
        self.reads += 1
        if self.cut_after_reads is not None and self.reads > self.cut_after_reads:
            raise ConnectionResetError("link lost")
        page = [r for r in self.records if r.seq >= from_seq][:wire.MAX_LOG_RECORDS]
        return self.next_seq, page
