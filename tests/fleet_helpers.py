"""Helpers for tests that need keys from the fleet store."""

import time


def issue(store, lock_id, role, person="Test Person", not_before=None, not_after=None, keyfile=True):
    """Issue a key (valid from a minute ago for an hour, unless told) and put it in the key file."""
    from hemlas.keyfile import StaffKey

    now = int(time.time())
    issued = store.issue_key(lock_id, person, role, now - 60 if not_before is None else not_before,
                             now + 3600 if not_after is None else not_after)
    key = StaffKey.from_issued(issued)
    if keyfile:
        store.keyfile.add(key)
    return key
