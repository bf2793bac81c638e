"""Which lock an advertisement is: private advertising (docs/protocol.md, "Advertising").

A provisioned lock advertises a rotating id (r ‖ 8 bytes only its advertising key makes from r)
from a resolvable private address made with the same key as its IRK; an unprovisioned one, on
the bench, its lock service UUID and its name. A client knows its locks by the advertising
keys in its key file; nobody else can tell one sighting of a lock from another.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from bumble import crypto

from .firmware import wire

_RPA_TOP_BITS = 0b01


def rotating_ids(service_uuids: Iterable[str]) -> list[bytes]:
    """The 16-byte values of an advertisement's 128-bit UUIDs, in the advertising data's byte
    order (bleak and BlueZ show a UUID most significant byte first; the air carries it least)."""
    values = []
    for text in service_uuids or ():
        digits = text.replace("-", "")
        if len(digits) == 32:
            values.append(bytes(reversed(bytes.fromhex(digits))))
    return values


def is_rotating_id_of(value: bytes, adv_key: bytes) -> bool:
    return len(value) == 16 and hmac.compare_digest(wire.rotating_id(adv_key, value[:8]), value)


def resolves(address: str, irk: bytes) -> bool:
    """Whether address ("AA:BB:CC:DD:EE:FF", most significant first) is a resolvable private
    address made with irk (Core spec Vol 6 Part B 1.3.2.3: hash == ah(irk, prand))."""
    try:
        raw = bytes.fromhex(address.split("/")[0].replace(":", ""))
    except ValueError:
        return False
    if len(raw) != 6 or raw[0] >> 6 != _RPA_TOP_BITS:
        return False
    prand, hash_ = raw[:3], raw[3:]
    # Bumble's ah() takes the key and prand least significant byte first, as HCI carries them.
    return crypto.ah(irk, bytes(reversed(prand))) == bytes(reversed(hash_))


def match(lock_id: str, adv_keys: Iterable[bytes], service_uuids: Iterable[str] | None,
          local_name: str | None) -> bool:
    """Whether an advertisement is lock_id's: by a rotating id one of adv_keys makes; or, with
    no advertising key for it (a lock not yet provisioned, on the bench), by its lock service
    UUID and its name. A client holding the key never takes the name's word for it: anyone can
    advertise a lock's name, and would be sent the carer's HELLO."""
    uuids = list(service_uuids or ())
    adv_keys = list(adv_keys)
    if adv_keys:
        return any(is_rotating_id_of(value, key) for value in rotating_ids(uuids) for key in adv_keys)
    return local_name == lock_id and wire.LOCK_SERVICE_UUID in uuids


def which(keys: dict[bytes, str], service_uuids: Iterable[str] | None) -> str | None:
    """The lock id of a private advertisement, from {adv_key: lock id}, or None."""
    for value in rotating_ids(service_uuids or ()):
        for key, lock_id in keys.items():
            if is_rotating_id_of(value, key):
                return lock_id
    return None
