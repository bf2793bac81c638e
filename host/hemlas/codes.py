"""Host-side names for the wire protocol's numbers. Every value comes from firmware/wire.py."""

from __future__ import annotations

from enum import IntEnum

from .firmware import wire


def _members(prefix: str) -> dict[str, int]:
    return {name[len(prefix):]: value for name, value in vars(wire).items()
            if name.startswith(prefix) and isinstance(value, int) and not name.endswith("_UUID")}


LockState = IntEnum("LockState", _members("LOCK_"))
BatteryState = IntEnum("BatteryState", _members("BATTERY_"))
Status = IntEnum("Status", _members("STATUS_"))
Opcode = IntEnum("Opcode", _members("OP_"))
EventType = IntEnum("EventType", _members("EVENT_"))

STATUS_TEXT = {
    Status.OK: "done",
    Status.BUSY: "busy: the motor is running or a self-test holds the battery",
    Status.JAMMED: "the bolt jammed and did not reach its end",
    Status.BATTERY_CRITICAL: "refused: the battery is fully discharged",
    Status.BAD_REQUEST: "the lock refused the request as malformed",
    Status.MALFORMED: "the lock could not read the frame",
    Status.UNKNOWN_OPCODE: "the lock does not know this request",
    Status.FRAGMENT_ORDER: "fragments arrived out of order",
    Status.TOO_LARGE: "the frame was too large",
    Status.UNSUPPORTED_VERSION: "the lock speaks another protocol version",
}
