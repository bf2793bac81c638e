"""The field device's outbox: what its connections learnt, waiting to be sent to the service.

One SQLite file (WAL: a reader never waits for the writer) in the user's data directory,
owner-only, $HEMLAS_OUTBOX to put it elsewhere. Each upload is one row, numbered in the order
it was written and carrying the idempotency id made for it then: a row is deleted only after
the service's answer to that id arrived, so an upload cut off anywhere -- killed process,
dropped network, restarted server -- is sent again under the same id, and the service applies
it once (fleet/uploads.py). Sent in row order: the service sees a lock's log as it was read.

It also keeps, per lock, how far this device has read the lock's log (the next page starts
there), moved in the transaction that queues the page: the cursor never passes a record that
is not in the outbox. And the ids of the keys fetched from the service (field/keys.py), so a
fetch can forget the ones the service no longer hands out.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ..errors import HemlasError
from ..i18n import _

OUTBOX_FILE = "outbox.sqlite3"
PENDING, REFUSED = "pending", "refused"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    upload_id TEXT NOT NULL UNIQUE,
    lock_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS log_cursors (
    lock_id TEXT PRIMARY KEY,
    next_seq INTEGER NOT NULL,
    last_record TEXT
);
CREATE TABLE IF NOT EXISTS fetched_keys (
    key_id INTEGER PRIMARY KEY,
    lock_id TEXT NOT NULL
);
"""


class OutboxError(HemlasError):
    def __init__(self, path: Path, problem: str):
        super().__init__(_("outbox {path}: {problem}").format(path=path, problem=problem))


@dataclass(frozen=True)
class Upload:
    seq: int
    upload_id: str
    lock_id: str
    kind: str
    body: dict  # the request's JSON body, "kind" included
    created_at: int
    state: str
    attempts: int
    last_error: str | None


def default_path() -> Path:
    configured = os.environ.get("HEMLAS_OUTBOX")
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("hemlas", appauthor=False)) / OUTBOX_FILE


class Outbox:
    """The outbox file, opened for one command. Every method is one transaction."""

    def __init__(self, path: str | Path | None = None):
        self.path = default_path() if path is None else Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():  # owner-only from its first byte: it names locks and times
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            # isolation_level=None: transactions are this module's own (BEGIN IMMEDIATE below).
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a queued upload survives a power cut
            self._db.executescript(_SCHEMA)  # each statement its own transaction; idempotent
        except (OSError, sqlite3.Error) as err:
            raise OutboxError(self.path, str(err)) from err

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self):
        return _Immediate(self._db)

    # ---- uploads ---------------------------------------------------------------------------

    def enqueue(self, lock_id: str, kind: str, body: dict, now: int | None = None) -> str:
        """Queue one upload; its new idempotency id."""
        with self._write():
            return self._insert(lock_id, kind, body, now)

    def _insert(self, lock_id: str, kind: str, body: dict, now: int | None) -> str:
        upload_id = uuid.uuid4().hex
        self._db.execute("INSERT INTO uploads (upload_id, lock_id, kind, body, created_at) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (upload_id, lock_id, kind, json.dumps({"kind": kind, **body}),
                          int(time.time()) if now is None else now))
        return upload_id

    def uploads(self, states: tuple[str, ...] = (PENDING, REFUSED)) -> list[Upload]:
        """The uploads waiting, oldest first."""
        marks = ",".join("?" * len(states))
        rows = self._db.execute(f"SELECT seq, upload_id, lock_id, kind, body, created_at, state, "
                                f"attempts, last_error FROM uploads WHERE state IN ({marks}) "
                                f"ORDER BY seq", states).fetchall()
        return [Upload(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], r[8])
                for r in rows]

    def attempted(self, seq: int, error: str | None = None, state: str = PENDING) -> None:
        """One more try of the upload, and how it went (it stays queued)."""
        with self._write():
            self._db.execute("UPDATE uploads SET attempts = attempts + 1, last_error = ?, "
                             "state = ? WHERE seq = ?", (error, state, seq))

    def sent(self, seq: int) -> None:
        """The service answered the upload: it is applied, and leaves the outbox."""
        with self._write():
            self._db.execute("DELETE FROM uploads WHERE seq = ?", (seq,))

    # ---- the lock logs' cursors -------------------------------------------------------------

    def log_cursor(self, lock_id: str) -> tuple[int, dict | None]:
        """(the next sequence number to read from the lock's log, the last record queued)."""
        row = self._db.execute("SELECT next_seq, last_record FROM log_cursors WHERE lock_id = ?",
                               (lock_id,)).fetchone()
        if row is None:
            return 1, None
        return row[0], None if row[1] is None else json.loads(row[1])

    def enqueue_log_page(self, lock_id: str, lock_next_seq: int, records: list[dict],
                         next_seq: int, now: int | None = None) -> str:
        """Queue a page of the lock's log and move the cursor past it, in one transaction."""
        with self._write():
            upload_id = self._insert(lock_id, "log-page", {"lock_next_seq": lock_next_seq,
                                                           "records": records}, now)
            self._set_cursor(lock_id, next_seq, records[-1] if records else None)
            return upload_id

    def reset_log_cursor(self, lock_id: str) -> None:
        """The lock's log started again: read it from its start."""
        with self._write():
            self._db.execute("INSERT INTO log_cursors (lock_id, next_seq) VALUES (?, 1) "
                             "ON CONFLICT (lock_id) DO UPDATE SET next_seq = 1, last_record = NULL",
                             (lock_id,))

    def _set_cursor(self, lock_id: str, next_seq: int, last: dict | None) -> None:
        if last is None:  # an empty page moves the cursor and keeps the last record known
            self._db.execute("INSERT INTO log_cursors (lock_id, next_seq) VALUES (?, ?) "
                             "ON CONFLICT (lock_id) DO UPDATE SET next_seq = excluded.next_seq",
                             (lock_id, next_seq))
            return
        self._db.execute("INSERT INTO log_cursors (lock_id, next_seq, last_record) VALUES (?, ?, ?) "
                         "ON CONFLICT (lock_id) DO UPDATE SET next_seq = excluded.next_seq, "
                         "last_record = excluded.last_record", (lock_id, next_seq, json.dumps(last)))

    # ---- keys fetched from the service -------------------------------------------------------

    def fetched_keys(self) -> dict[int, str]:
        return dict(self._db.execute("SELECT key_id, lock_id FROM fetched_keys").fetchall())

    def set_fetched_keys(self, keys: dict[int, str]) -> None:
        with self._write():
            self._db.execute("DELETE FROM fetched_keys")
            self._db.executemany("INSERT INTO fetched_keys VALUES (?, ?)", keys.items())

    def forget(self) -> None:
        """After a logout: the fetched keys' ids (the keys themselves are the key file's)."""
        self.set_fetched_keys({})


class _Immediate:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an error): the write lock taken at the start, so
    two commands at once wait for each other instead of failing mid-transaction."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_exc):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
