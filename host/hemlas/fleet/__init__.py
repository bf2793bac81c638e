"""The fleet store: locks, their secrets and the keys issued for them (see store.py)."""

from .models import IssuedKey, KeyRecord, LockRecord
from .store import (ADMIN_PERSON, FleetError, FleetStore, LockExistsError, UnknownKeyError,
                    UnknownLockError, default_url)

__all__ = ["ADMIN_PERSON", "FleetError", "FleetStore", "IssuedKey", "KeyRecord", "LockExistsError",
           "LockRecord", "UnknownKeyError", "UnknownLockError", "default_url"]
