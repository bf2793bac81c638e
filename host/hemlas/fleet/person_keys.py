"""Whose key a field command connects with: the key on this device issued to a named person.

A device's key file holds keys without names; the fleet store knows whom each key id was
issued to. The lock logs the key id with every move and every swap registration, and that id
is how the visit record names the person (docs/visits.md). So a flow done for a person (the
battery swap's ``--person``) connects with a key of that person's, never with another key
that happens to be on the device.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from ..i18n import _
from ..keyfile import StaffKey
from ._common import FleetError
from .models import KeyRecord


class NoPersonKeyError(FleetError):
    """The person holds no valid key for the lock on this device."""

    def __init__(self, lock_id: str, person: str, why: str):
        super().__init__(_("lock {lock_id}: {why}; issue one with: hemlas keys issue {lock_id} "
                            "--person {person}")
                          .format(lock_id=lock_id, why=why, person=shlex.quote(person)))
        self.lock_id, self.person = lock_id, person


def _same_person(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def _least_privileged(keys: Iterable[StaffKey]) -> StaffKey | None:
    """As KeyFile.pick: the lowest role, then the one valid longest, then the newest."""
    return min(keys, key=lambda k: (k.role, -k.not_after, -k.key_id), default=None)


def person_key(records: Iterable[KeyRecord], device_keys: Iterable[StaffKey], lock_id: str,
               person: str, now: int) -> StaffKey:
    """The person's key for the lock among this device's keys: valid now on both sides (the
    store's record not revoked, superseded or expired; the key file's window), the least
    privileged of them.

    Args:
        records: the store's issued keys for the lock (FleetStore.keys(lock_id)).
        device_keys: this device's key file's keys for the lock (KeyFile.keys(lock_id)).

    Raises:
        NoPersonKeyError: none, saying why (no key issued to them; not on this device; not
            valid now) and that ``hemlas keys issue LOCK --person NAME`` gives one.
    """
    theirs = {r.key_id: r for r in records if r.lock_id == lock_id and _same_person(r.person, person)}
    if not theirs:
        raise NoPersonKeyError(lock_id, person, _("no key for it was issued to {person}")
                                                 .format(person=person))
    here = [k for k in device_keys if k.lock_id == lock_id and k.key_id in theirs]
    if not here:
        ids = ", ".join(f"#{key_id}" for key_id in sorted(theirs))
        raise NoPersonKeyError(lock_id, person, _("{person}'s keys for it ({ids}) are not in "
                                                   "this device's key file")
                                                 .format(person=person, ids=ids))
    usable = _least_privileged(k for k in here
                               if theirs[k.key_id].state(now) == "valid" and k.valid_at(now))
    if usable is None:
        states = ", ".join(f"#{k.key_id} {theirs[k.key_id].state(now)}" for k in here)
        raise NoPersonKeyError(lock_id, person, _("{person} holds no valid key for it on this "
                                                   "device ({states})")
                                                 .format(person=person, states=states))
    return usable


def device_person(records: Iterable[KeyRecord], device_keys: Iterable[StaffKey], lock_id: str,
                  now: int) -> str | None:
    """Whom the key this device would use for the lock was issued to: among its keys valid now
    that the store knows as valid, the least privileged one's person; None if there is none."""
    known = {r.key_id: r for r in records if r.lock_id == lock_id and r.state(now) == "valid"}
    key = _least_privileged(k for k in device_keys
                            if k.lock_id == lock_id and k.key_id in known and k.valid_at(now))
    return None if key is None else known[key.key_id].person
