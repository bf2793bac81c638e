"""What the client remembers about the locks it talked to: where each one was last seen, and
the GATT handles it verified there. A small JSON file beside the key file; no secrets in it.

Why the handles can be trusted at all: a lock's GATT layout is fixed by its firmware
(firmware/ble.py registers one service with two characteristics), and a provisioned lock
advertises from a resolvable private address that is new at every boot (docs/protocol.md,
"Advertising"). New firmware means a reboot, so an address the handles were verified on
cannot outlive the firmware they belong to: a layout is only ever trusted on the very address
it was verified on, and only for a lock found by its advertising key (an unprovisioned lock
keeps its chip's address across re-flashing, so its handles are discovered every time).

Even then the client checks before it writes: the platform's cached services must match the
handles verified here, and a write the lock refuses drops the layout (hemlas.client).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from collections.abc import Collection

from bleak.backends.service import BleakGATTServiceCollection

from . import advertising
from .firmware import wire
from .keyfile import default_path as keyfile_path

CACHE_FILE = "handle_cache.json"
# The lock makes a new address every 10 minutes while nobody is connected, counted from its
# last rotation, which the client never sees: an address seen t ago has survived with
# probability ~1 - t/10 min. Two minutes covers commands in a row at one door and keeps a
# failed direct connect (hemlas.client.DIRECT_CONNECT_TIMEOUT_S) the exception.
ADDRESS_FRESH_S = 120.0
# Past two rotations an address is gone for certain, and its layout with it: the entry is
# dropped, so the file never becomes a log of which doors the carer was at, and when.
FORGET_AFTER_S = 1200.0
_CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
_FORMAT = 1


@dataclass(frozen=True)
class GattLayout:
    """The handles of the lock service as a platform reports them through bleak."""

    service: int
    control: int
    response: int
    cccd: int

    @classmethod
    def of(cls, services: BleakGATTServiceCollection | None) -> GattLayout | None:
        """The layout in a connected client's services, or None if they are not a lock's (no
        lock service, a characteristic missing or without the properties the protocol needs)."""
        service = services.get_service(wire.LOCK_SERVICE_UUID) if services else None
        if service is None:
            return None
        control = service.get_characteristic(wire.CONTROL_CHAR_UUID)
        response = service.get_characteristic(wire.RESPONSE_CHAR_UUID)
        if (control is None or response is None or "notify" not in response.properties
                or not {"write", "write-without-response"} <= set(control.properties)):
            return None
        cccd = response.get_descriptor(_CCCD_UUID)
        if cccd is None:
            return None
        return cls(service.handle, control.handle, response.handle, cccd.handle)


def per_boot(address: str, adv_keys: Collection[bytes]) -> bool:
    """Whether address is one the lock makes anew at every boot: a resolvable private address
    under one of its advertising keys. CoreBluetooth shows an identifier of its own instead
    of addresses; it cannot keep one across addresses it cannot resolve (it holds no IRK of
    an unbonded lock), so an identifier is taken as per boot too."""
    if len(address.split(":")) != 6:
        return True  # a CoreBluetooth identifier
    return any(advertising.resolves(address, key) for key in adv_keys)


def default_path() -> Path:
    """$HEMLAS_HANDLE_CACHE, else handle_cache.json beside the key file (tests that give the
    key file a place of its own give the cache one too)."""
    configured = os.environ.get("HEMLAS_HANDLE_CACHE")
    if configured:
        return Path(configured).expanduser()
    return keyfile_path().parent / CACHE_FILE


class HandleCache:
    """Where each lock was last seen, and the layout verified on that address.

    Read and written back on every call, so processes (CLI commands) share it; a file that
    cannot be read or written is an empty cache, never an error: it only saves time.

    Args:
        path: the file; None for default_path().
        in_memory: keep it in this object only, no file (benchmarks, a client that must
            leave nothing behind).
    """

    def __init__(self, path: str | Path | None = None, *, in_memory: bool = False):
        self.path: Path | None = None if in_memory else default_path() if path is None else Path(path)
        self._memory: dict[str, dict] = {}

    def address(self, lock_id: str, now: float | None = None) -> str | None:
        """The lock's address if it was seen (or connected to) within ADDRESS_FRESH_S."""
        entry = self._load().get(lock_id)
        now = time.time() if now is None else now
        if not entry or entry.get("missed") or not 0 <= now - entry.get("seen", 0) <= ADDRESS_FRESH_S:
            return None
        return entry.get("address")

    def layout(self, lock_id: str, address: str) -> GattLayout | None:
        """The layout verified on exactly this address, or None."""
        entry = self._load().get(lock_id) or {}
        layout = entry.get("layout")
        if not layout or entry.get("address") != address:
            return None
        try:
            return GattLayout(**layout)
        except TypeError:
            return None  # another version's entry: rediscovered, then replaced

    def saw(self, lock_id: str, address: str, now: float | None = None) -> None:
        """The lock is at address now (a scan matched it). Another address than the one the
        layout was verified on drops the layout: the lock has restarted its radio since."""
        locks = self._load()
        entry = locks.get(lock_id) or {}
        if entry.get("address") != address:
            entry = {"address": address}
        entry["seen"] = time.time() if now is None else now
        entry.pop("missed", None)
        locks[lock_id] = entry
        self._store(locks)

    def verified(self, lock_id: str, address: str, layout: GattLayout | None,
                 private: bool, now: float | None = None) -> None:
        """A session opened over layout on address. Only a lock found by its advertising key
        (private: its address is new at every boot) keeps the layout."""
        locks = self._load()
        locks[lock_id] = {"address": address, "seen": time.time() if now is None else now,
                          "layout": asdict(layout) if layout is not None and private else None}
        self._store(locks)

    def forget_layout(self, lock_id: str) -> None:
        """The layout was caught wrong: discover it again next time."""
        locks = self._load()
        if locks.get(lock_id, {}).pop("layout", None) is not None:
            self._store(locks)

    def missed(self, lock_id: str) -> None:
        """The lock was not at its address: do not go there straight again. The layout stays
        bound to that address, in case a scan finds the lock still there (it was busy with
        another client, or asleep without restarting its radio)."""
        locks = self._load()
        if lock_id in locks:
            locks[lock_id]["missed"] = True
            self._store(locks)

    def _load(self) -> dict[str, dict]:
        if self.path is None:
            return json.loads(json.dumps(self._memory))  # a copy, as a file would give
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            return {}
        locks = data.get("locks")
        if not isinstance(locks, dict):
            return {}
        return {lock_id: entry for lock_id, entry in locks.items() if isinstance(entry, dict)
                and isinstance(entry.get("address"), str) and isinstance(entry.get("seen"), (int, float))}

    def _store(self, locks: dict[str, dict]) -> None:
        now = time.time()
        locks = {lock_id: entry for lock_id, entry in locks.items()
                 if 0 <= now - entry.get("seen", 0) <= FORGET_AFTER_S}
        if self.path is None:
            self._memory = locks
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Whole or not at all: another process may read it at any moment.
            with tempfile.NamedTemporaryFile("w", dir=self.path.parent, prefix=".handle_cache.",
                                             delete=False, encoding="utf-8") as tmp:
                json.dump({"format": _FORMAT, "locks": locks}, tmp)
            try:
                os.replace(tmp.name, self.path)
            except OSError:
                os.unlink(tmp.name)
                raise
        except OSError:
            pass  # a read-only home: the client still works, only slower
