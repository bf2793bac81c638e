"""Sending the outbox to the service, and fetching this device's keys ahead.

Uploads go in the order they were written. One is deleted from the outbox only once the
service's answer to it has arrived; until then it is sent again, under its own id, as often as
it takes (the service applies it once). A refusal of the upload itself (an unknown lock, a
field out of range) leaves it in the outbox marked refused, for a person to see
(`hemlas outbox`), and the rest go on; a refusal of the device (logged out, 401) or no answer
stops the sending, everything kept.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..keyfile import KeyFile, StaffKey
from .outbox import PENDING, REFUSED, Outbox
from .service import ServiceClient, ServiceRefusedError, ServiceUnreachableError

KEY_HOURS = 12  # a shift and its margins ahead: the lock opens with no network until then
# For the fault tests only (tests/test_outbox_faults.py): "N:PATH" makes the client, once the
# service has answered its N-th upload and before the outbox notes it, create PATH and wait
# to be killed: the one moment a crash could double an upload, reached without a sleep race.
TEST_PAUSE_ENV = "HEMLAS_TEST_PAUSE_AFTER_ANSWER"


@dataclass(frozen=True)
class Sent:
    sent: int  # answered (applied now or before) and gone from the outbox
    refused: int  # refused by the service: kept, marked
    waiting: int  # still in the outbox, refused ones included
    stopped: Exception | None  # why sending stopped before the end (None: it went through)


def send(outbox: Outbox, client: ServiceClient, include_refused: bool = False) -> Sent:
    """Send what waits, oldest first; ``include_refused`` tries the refused ones again too."""
    states = (PENDING, REFUSED) if include_refused else (PENDING,)
    sent = refused = 0
    stopped: Exception | None = None
    pause = _test_pause()
    for upload in outbox.uploads(states):
        body = upload.body
        try:
            client.upload(upload.lock_id, upload.upload_id, body)
        except ServiceUnreachableError as err:
            outbox.attempted(upload.seq, str(err), upload.state)
            stopped = err
            break
        except ServiceRefusedError as err:
            if err.retryable:
                outbox.attempted(upload.seq, err.detail, upload.state)
                stopped = err
                break
            outbox.attempted(upload.seq, err.detail, REFUSED)
            refused += 1
            continue
        if pause is not None and sent + 1 == pause[0]:
            pause[1].touch()
            time.sleep(60)  # killed here by the test
        outbox.sent(upload.seq)
        sent += 1
    return Sent(sent, refused, len(outbox.uploads()), stopped)


def _test_pause() -> tuple[int, Path] | None:
    value = os.environ.get(TEST_PAUSE_ENV)
    if not value:
        return None
    count, _, path = value.partition(":")
    return int(count), Path(path)


@dataclass(frozen=True)
class Fetched:
    added: list[int]  # key ids new on this device
    kept: list[int]
    forgotten: list[int]  # fetched before, no longer handed out (revoked, expired, moved)


def refresh_keys(outbox: Outbox, client: ServiceClient, keyfile: KeyFile | None = None,
                 hours: int = KEY_HOURS) -> Fetched:
    """Fetch the keys valid now or within ``hours`` into the key file, and forget the ones
    fetched before that the service no longer hands out. Keys issued locally
    (`hemlas keys issue`) are left as they are."""
    keyfile = keyfile or KeyFile()
    answer = client.keys(hours)
    keys = [StaffKey(k["lock_id"], k["key_id"], k["role"], k["not_before"], k["not_after"],
                     bytes.fromhex(k["key"]), bytes.fromhex(k["adv_key"])) for k in answer]
    before = outbox.fetched_keys()
    now_ids = {k.key_id for k in keys}
    forgotten = sorted(set(before) - now_ids)
    for key in keys:
        keyfile.add(key)
    for key_id in forgotten:
        keyfile.remove(key_id)
    outbox.set_fetched_keys({k.key_id: k.lock_id for k in keys})
    return Fetched(sorted(now_ids - set(before)), sorted(now_ids & set(before)), forgotten)
