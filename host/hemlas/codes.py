"""Host-side names for the wire protocol's numbers. Every value comes from firmware/wire.py."""

from __future__ import annotations

from enum import IntEnum

from .firmware import wire
from .i18n import N_, Texts


def _members(prefix: str) -> dict[str, int]:
    return {name[len(prefix):]: value for name, value in vars(wire).items()
            if name.startswith(prefix) and isinstance(value, int) and not name.endswith("_UUID")}


LockState = IntEnum("LockState", _members("LOCK_"))
BatteryState = IntEnum("BatteryState", _members("BATTERY_"))
Status = IntEnum("Status", _members("STATUS_"))
Opcode = IntEnum("Opcode", _members("OP_"))
EventType = IntEnum("EventType", _members("EVENT_"))

STATUS_TEXT = Texts({
    Status.OK: N_("done"),
    Status.BUSY: N_("busy: the motor is running or a self-test holds the battery"),
    Status.JAMMED: N_("the bolt jammed and did not reach its end"),
    Status.BATTERY_CRITICAL: N_("refused: the battery is fully discharged"),
    Status.BAD_REQUEST: N_("the lock refused the request as malformed"),
    Status.MALFORMED: N_("the lock could not read the frame"),
    Status.UNKNOWN_OPCODE: N_("the lock does not know this request"),
    Status.FRAGMENT_ORDER: N_("fragments arrived out of order"),
    Status.TOO_LARGE: N_("the frame was too large"),
    Status.UNSUPPORTED_VERSION: N_("the lock speaks another protocol version"),
    Status.AUTH_REQUIRED: N_("the lock requires an authenticated session"),
    Status.BAD_TAG: N_("authentication failed (a wrong key, or a tampered frame)"),
    Status.REPLAYED: N_("the lock refused a replayed frame"),
    Status.KEY_EXPIRED: N_("the key has expired"),
    Status.KEY_NOT_YET_VALID: N_("the key is not valid yet"),
    Status.KEY_REVOKED: N_("the key has been revoked"),
    # Since protocol 3 the lock reads a HELLO's lock id only with its own advertising key: a key
    # from before a re-provisioning (another secret) reads as another lock's.
    Status.KEY_WRONG_LOCK: N_("the key is for another lock, or from before the lock was re-provisioned"),
    Status.PERMISSION_DENIED: N_("the key's role does not allow this"),
    Status.SESSION_EXPIRED: N_("the session expired"),
    Status.REVOCATION_FULL: N_("the lock's revocation list is full"),
    Status.CLOCK_REFUSED: N_("that clock change needs an admin key"),
    Status.NOT_PROVISIONED: N_("the lock is not provisioned"),
    Status.FAULT: N_("the lock met an internal error; try again"),
    Status.BATTERY_DEPLETED: N_("swap not registered: the new battery reads depleted under load"),
})

Role = IntEnum("Role", _members("ROLE_"))

# Each event type's fields by name, in the order the lock logs them: the comments beside
# wire.EVENT_* and docs/protocol.md ("Event fields") say the same; the host's one table.
EVENT_FIELDS: dict[int, tuple[str, ...]] = {
    EventType.BOOT: ("reset_cause", "lock_state", "boot_count"),
    EventType.LOCKED: ("travel_ms", "loaded_mv", "attempts", "key_id"),
    EventType.UNLOCKED: ("travel_ms", "loaded_mv", "attempts", "key_id"),
    EventType.JAMMED: ("target_state", "travel_ms", "attempts"),
    EventType.SELFTEST: ("idle_mv", "loaded_mv", "battery_state", "green_off_ms", "blinks",
                         "red_done_ms"),
    EventType.BATTERY: ("battery_state", "idle_mv", "loaded_mv"),
    EventType.REFUSED_BATTERY: ("target_state", "idle_mv", "loaded_mv"),
    EventType.FAULT: ("fault", "detail"),
    EventType.SESSION: ("key_id", "role"),
    EventType.AUTH_FAILED: ("status", "key_id"),
    EventType.AUTH_SUPPRESSED: ("failures",),
    EventType.REVOKED: ("key_id", "by_key_id"),
    EventType.CLOCK_SET: ("old_time", "new_time", "by_key_id"),
    EventType.POLICY: ("min_key_id", "by_key_id"),
    EventType.PROVISIONED: ("provisioning",),
    EventType.BATTERY_SWAP: ("idle_mv", "loaded_mv", "old_battery_mah", "by_key_id"),
    EventType.SWAP_REFUSED: ("idle_mv", "loaded_mv", "by_key_id"),
    EventType.DOOR_OPENED: (),
    EventType.DOOR_CLOSED: ("open_s",),
    EventType.DOOR_LEFT_OPEN: ("open_s",),
    EventType.FORCED: ("peak_mg",),
}
# Fields whose value is a code with a name (shown beside it, as formats.named does).
EVENT_FIELD_CODES: dict[str, type[IntEnum]] = {
    "lock_state": LockState, "target_state": LockState, "battery_state": BatteryState,
    "status": Status, "role": Role,
}


def event_name(event_type: int) -> str:
    try:
        return EventType(event_type).name.lower()
    except ValueError:
        return f"unknown ({event_type})"


def event_fields(event_type: int, fields: tuple[int, ...]) -> dict[str, int]:
    """An event's fields by name; fields the table does not know (a newer lock's trailing
    ones) as field_N."""
    names = EVENT_FIELDS.get(event_type, ())
    return {names[i] if i < len(names) else f"field_{i}": value for i, value in enumerate(fields)}
