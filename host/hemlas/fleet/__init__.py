"""The fleet store: locks, their secrets and keys, customers, batteries and swaps (see store.py).

Its names are loaded when first used (PEP 562): importing the package, or its errors
(fleet.errors), does not load SQLAlchemy (issue 14: a field command's start-up)."""

from __future__ import annotations

import importlib

_WHERE = {
    "BatteryReadingRecord": "models", "BatteryWarning": "models", "CustomerRecord": "models",
    "IssuedKey": "models", "KeyRecord": "models", "LockRecord": "models",
    "SwapCycleRecord": "models", "SwapRecord": "models",
    "ADMIN_PERSON": "store", "CustomerExistsError": "store", "FleetStore": "store",
    "LockAssignedError": "store", "LockExistsError": "store", "UnknownCustomerError": "store",
    "UnknownKeyError": "store", "UnknownSwapError": "store", "default_url": "store",
    "FleetError": "errors", "UnknownLockError": "errors", "StoreMissingError": "errors",
    "NotAFleetStoreError": "errors",
    "SwapFinishedError": "swaps",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
