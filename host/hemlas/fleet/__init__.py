"""The fleet store: locks, their secrets and keys, customers, batteries and swaps (see store.py)."""

from .models import (BatteryReadingRecord, BatteryWarning, CustomerRecord, IssuedKey, KeyRecord,
                     LockRecord, SwapCycleRecord, SwapRecord)
from .store import (ADMIN_PERSON, CustomerExistsError, FleetError, FleetStore, LockAssignedError,
                    LockExistsError, UnknownCustomerError, UnknownKeyError, UnknownLockError,
                    UnknownSwapError, default_url)
from .swaps import SwapFinishedError

__all__ = ["ADMIN_PERSON", "BatteryReadingRecord", "BatteryWarning", "CustomerExistsError",
           "CustomerRecord", "FleetError", "FleetStore", "IssuedKey", "KeyRecord",
           "LockAssignedError", "LockExistsError", "LockRecord", "SwapCycleRecord",
           "SwapFinishedError", "SwapRecord", "UnknownCustomerError", "UnknownKeyError",
           "UnknownLockError", "UnknownSwapError", "default_url"]
