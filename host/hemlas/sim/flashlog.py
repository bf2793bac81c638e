"""A lock's event log written straight into a virtual board's flash, before it boots: a lock
with a history (months of visits) without months of simulated time. The files are what the
firmware's EventLog writes (segments of whole records named by their first sequence number,
wire's record format with its CRC), so the firmware reads, prunes and serves them as its own."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..firmware import wire

LOG_DIR = "log"  # the firmware's EventLog("log", ...) in app.py


def write_event_log(flash_dir: str | Path, records: Iterable[tuple[int, int, tuple]],
                    per_segment: int = 64) -> int:
    """Write (time, event type, fields) records as the log's first records, numbered from 1.
    per_segment must be the board's log_segment_records. Returns the number written."""
    directory = Path(flash_dir) / LOG_DIR
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise ValueError(f"{directory} already holds a log")
    seq, first, body = 1, 1, b""
    for at, kind, fields in records:
        body += wire.encode_record(seq, at, kind, tuple(fields))
        seq += 1
        if (seq - first) == per_segment:
            (directory / f"{first:08d}.log").write_bytes(body)
            first, body = seq, b""
    if body:
        (directory / f"{first:08d}.log").write_bytes(body)
    return seq - 1
