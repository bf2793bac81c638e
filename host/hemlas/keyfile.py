"""The field client's keys: a small JSON file on a staff member's phone or laptop.

    {"version": 2, "keys": [{"lock_id": "HL-1A2B3C", "key_id": 7, "role": 1,
                             "not_before": 1767225600, "not_after": 1767312000,
                             "key": "<64 hex digits>", "adv_key": "<32 hex digits>"}]}

adv_key is the lock's advertising key (docs/protocol.md, "Advertising"): a provisioned lock's
advertisement names nobody, and only with it does a client know its lock when it sees it.
Version 1 files (before protocol 3) held no adv_key: their keys are issued again.

The file holds working keys, so it is owner-only (0600) from the moment it exists, and is only
ever replaced whole: a crash mid-write leaves the previous file, never half of a new one.
It is $HEMLAS_KEYS, else keys.json in the user's data directory.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from .errors import HemlasError
from .firmware import wire
from .i18n import _

if TYPE_CHECKING:  # the field client need not load the fleet store (and SQLAlchemy)
    from .fleet import IssuedKey

KEYS_FILE = "keys.json"
FORMAT_VERSION = 2
KEY_SIZE = 32  # wire.derive_key's output: an HMAC-SHA256 digest
ADV_KEY_SIZE = 16  # wire.derive_advertising_key's output
_ROLE_NAMES = {wire.ROLE_STAFF: "staff", wire.ROLE_TECHNICIAN: "technician", wire.ROLE_ADMIN: "admin"}


def _local(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


class KeyFileError(HemlasError):
    """The key file cannot be read or written."""

    def __init__(self, path: Path, problem: str):
        super().__init__(_("key file {path}: {problem}").format(path=path, problem=problem))
        self.path = path


@dataclass(frozen=True)
class StaffKey:
    """One key as the field client holds it. The key bytes never appear in its repr.

    Raises:
        ValueError: a field is out of range (KeyFile reports it as a KeyFileError).
    """

    lock_id: str
    key_id: int
    role: int
    not_before: int
    not_after: int
    key: bytes = field(repr=False)
    adv_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.lock_id, str) or not self.lock_id:
            raise ValueError(_("lock_id must be a non-empty string"))
        for name in ("key_id", "role", "not_before", "not_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(_("{name} must be a non-negative integer").format(name=name))
        if not self.not_before < self.not_after:
            raise ValueError(_("not_before must be earlier than not_after"))
        if not isinstance(self.key, bytes) or len(self.key) != KEY_SIZE:
            raise ValueError(_("a key is {size} bytes").format(size=KEY_SIZE))
        if not isinstance(self.adv_key, bytes) or len(self.adv_key) != ADV_KEY_SIZE:
            raise ValueError(_("an advertising key is {size} bytes").format(size=ADV_KEY_SIZE))

    @classmethod
    def from_issued(cls, issued: IssuedKey) -> StaffKey:
        """The field client's copy of a key the fleet store just issued."""
        r = issued.record
        return cls(r.lock_id, r.key_id, r.role, r.not_before, r.not_after, issued.key, issued.adv_key)

    def valid_at(self, now: int) -> bool:
        """Whether the lock accepts this key at ``now`` (both ends included), clock permitting."""
        return self.not_before <= now <= self.not_after


def default_path() -> Path:
    """$HEMLAS_KEYS, else keys.json in the user's data directory."""
    configured = os.environ.get("HEMLAS_KEYS")
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("hemlas", appauthor=False)) / KEYS_FILE


class KeyFile:
    """The keys on this device, read from and written back to one file on every call.

    Args:
        path: the file; None for :func:`default_path`. It need not exist yet.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = default_path() if path is None else Path(path).expanduser()

    def add(self, key: StaffKey) -> None:
        """Store ``key``, replacing any key with the same key id."""
        keys = [k for k in self._load() if k.key_id != key.key_id]
        self._save(keys + [key])

    def remove(self, key_id: int) -> bool:
        """Forget key ``key_id``. Returns whether there was one."""
        keys = self._load()
        kept = [k for k in keys if k.key_id != key_id]
        if len(kept) == len(keys):
            return False
        self._save(kept)
        return True

    def keys(self, lock_id: str | None = None) -> list[StaffKey]:
        """Every key, or every key for ``lock_id``, by lock and key id."""
        keys = self._load()
        if lock_id is not None:
            keys = [k for k in keys if k.lock_id == lock_id]
        return sorted(keys, key=lambda k: (k.lock_id, k.key_id))

    def pick(self, lock_id: str, min_role: int, now: int) -> StaffKey | None:
        """The key to connect to ``lock_id`` with, or None (the first of :meth:`candidates`)."""
        usable = self.candidates(lock_id, min_role, now)
        return usable[0] if usable else None

    def candidates(self, lock_id: str, min_role: int, now: int,
                   exclude: Collection[int] = ()) -> list[StaffKey]:
        """The keys to try on ``lock_id``, best first: the client moves to the next when the
        lock refuses one.

        The least privileged key that suffices: a lost session or a slip then can do no more
        than the request needed. Among equals, the one valid longest; then the newest.

        Args:
            lock_id: the lock about to be connected to.
            min_role: the role the request needs (wire.ROLE_*).
            now: unix time, to skip keys not yet or no longer valid.
            exclude: key ids known not to work (superseded or revoked, as the fleet store says).
        """
        usable = [k for k in self.keys(lock_id)
                  if k.role >= min_role and k.valid_at(now) and k.key_id not in exclude]
        return sorted(usable, key=lambda k: (k.role, -k.not_after, -k.key_id))

    def why_no_key(self, lock_id: str, min_role: int, now: int,
                   exclude: Collection[int] = ()) -> str:
        """Why :meth:`candidates` is empty, in words, with what to do next."""
        role = _ROLE_NAMES.get(min_role, str(min_role))
        if not self.path.exists():
            return (f"no key file at {self.path}: no key has been saved on this device; ask "
                    f"your coordinator to issue you a key for {lock_id} (hemlas keys issue "
                    f"{lock_id} --person NAME), or set HEMLAS_KEYS to the key file you were given")
        keys = self.keys(lock_id)
        if not keys:
            return (f"the key file {self.path} holds no key for lock {lock_id}; ask your "
                    f"coordinator for one (hemlas keys issue {lock_id} --person NAME)")
        fit = [k for k in keys if k.role >= min_role]
        if not fit:
            return (f"your key(s) for lock {lock_id} are below the {role} role this needs; "
                    f"ask for a {role} key")
        later = [k for k in fit if now < k.not_before]
        if later and all(now < k.not_before or now > k.not_after for k in fit):
            first = min(later, key=lambda k: k.not_before)
            return (f"your key {first.key_id} for lock {lock_id} is not valid yet: from "
                    f"{_local(first.not_before)}; wait until then, or ask your coordinator for "
                    f"a key valid now")
        live = [k for k in fit if k.valid_at(now)]
        if not live:
            last = max(fit, key=lambda k: k.not_after)
            return (f"your key(s) for lock {lock_id} expired (the last at "
                    f"{_local(last.not_after)}); ask your coordinator for a new key")
        listed = ", ".join(str(k.key_id) for k in live if k.key_id in exclude)
        return (f"your key(s) for lock {lock_id} ({listed}) no longer open it: the fleet store "
                f"has them superseded (the lock was re-provisioned) or revoked; ask your "
                f"coordinator for a new key (hemlas keys issue {lock_id} --person NAME)")

    def advertising_keys(self) -> dict[bytes, str]:
        """{advertising key: lock id} of every lock this file holds keys for (scanning
        recognises them by it); none if there is no file."""
        return {key.adv_key: key.lock_id for key in self._load()}

    def supersede(self, lock_id: str) -> int:
        """Forget every key of ``lock_id``: re-provisioning gave the lock a new secret, so none
        issued before opens it any more, and the client must never choose one. Returns how many
        were forgotten."""
        keys = self._load()
        kept = [k for k in keys if k.lock_id != lock_id]
        if len(kept) != len(keys):
            self._save(kept)
        return len(keys) - len(kept)

    def _load(self) -> list[StaffKey]:
        try:
            with open(self.path, encoding="utf-8") as f:
                mode = os.fstat(f.fileno()).st_mode
                if os.name == "posix" and mode & 0o077:
                    # Its keys open customers' doors: refused rather than used (the README's
                    # "owner-only"), and not silently repaired: someone may have copied it.
                    raise KeyFileError(self.path, _(
                        "readable by group or others (mode {mode}): anyone on this device could "
                        "copy keys that open customers' doors; make it owner-only: chmod 600 "
                        "{path}").format(mode=f"{mode & 0o777:04o}", path=self.path))
                text = f.read()
        except FileNotFoundError:
            return []
        except OSError as err:
            raise KeyFileError(self.path, _("cannot read it: {reason}")
                               .format(reason=err.strerror or err)) from err
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
                if isinstance(data, dict) and data.get("version") == 1:
                    raise ValueError(_("version 1, from before the locks' protocol 3: its keys "
                                       "cannot find or open a lock"))
                raise ValueError(_("not a version {version} key file").format(version=FORMAT_VERSION))
            if not isinstance(data.get("keys"), list):
                raise ValueError(_("no list of keys"))
            return [_from_json(entry) for entry in data["keys"]]
        except (ValueError, KeyError, TypeError) as err:
            # ValueError covers JSONDecodeError and bad hex; the message never quotes a key.
            raise KeyFileError(self.path, _("corrupt ({error}); have the keys issued again")
                               .format(error=err)) from err

    def _save(self, keys: list[StaffKey]) -> None:
        data = {"version": FORMAT_VERSION,
                "keys": [_to_json(k) for k in sorted(keys, key=lambda k: (k.lock_id, k.key_id))]}
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            # mkstemp creates the file 0600, so the keys are never readable by others, not
            # even for a moment; os.replace then swaps it in whole.
            fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as err:
            raise KeyFileError(self.path, _("cannot write it: {reason}")
                               .format(reason=err.strerror or err)) from err
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())  # the data reaches the disk before the rename does
            os.replace(temp, self.path)
        except BaseException as err:
            Path(temp).unlink(missing_ok=True)
            if isinstance(err, OSError):
                raise KeyFileError(self.path, _("cannot write it: {reason}")
                                   .format(reason=err.strerror or err)) from err
            raise
        _sync_directory(directory)


def _to_json(key: StaffKey) -> dict:
    return {"lock_id": key.lock_id, "key_id": key.key_id, "role": key.role,
            "not_before": key.not_before, "not_after": key.not_after, "key": key.key.hex(),
            "adv_key": key.adv_key.hex()}


def _from_json(entry: dict) -> StaffKey:
    return StaffKey(entry["lock_id"], entry["key_id"], entry["role"], entry["not_before"],
                    entry["not_after"], bytes.fromhex(entry["key"]), bytes.fromhex(entry["adv_key"]))


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); elsewhere a directory cannot be opened."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
