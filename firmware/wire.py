# The numbers the lock and the host share, and the event record format.
# One source: the host imports this same file (as hemlas.firmware.wire); never copy it.
# Pure: imports only struct/binascii, raises only ValueError, does no I/O.

import struct
from binascii import crc32

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython: the host imports this module too

    def const(x):
        return x


# Lock states, ESPHome's numbering. A request is not a state: LOCKING/UNLOCKING are reported
# while the motor runs, LOCKED/UNLOCKED only when end of travel confirms them.
LOCK_UNKNOWN = const(0)
LOCK_LOCKED = const(1)
LOCK_UNLOCKED = const(2)
LOCK_JAMMED = const(3)
LOCK_LOCKING = const(4)
LOCK_UNLOCKING = const(5)

# Battery states, from the voltage under load against the board's thresholds.
BATTERY_OK = const(0)
BATTERY_LOW = const(1)  # battery swap needed
BATTERY_CRITICAL = const(2)  # fully discharged: do not swap, call the service desk

# Results of a request.
RESULT_OK = const(0)
RESULT_BUSY = const(1)  # the motor is already running (or a self-test holds the battery)
RESULT_JAMMED = const(2)  # the bolt did not reach its end, even after the retry
RESULT_BATTERY_CRITICAL = const(3)  # refused: the motor is not driven on a dead battery
RESULT_BAD_REQUEST = const(4)

# Event types in the lock's log. Fields are signed 32-bit integers, listed per type.
EVENT_BOOT = const(1)  # reset_cause, lock_state
EVENT_LOCKED = const(2)  # travel_ms, loaded_mv, attempts
EVENT_UNLOCKED = const(3)  # travel_ms, loaded_mv, attempts
EVENT_JAMMED = const(4)  # target_state, travel_ms, attempts
EVENT_SELFTEST = const(5)  # idle_mv, loaded_mv, battery_state, green_off_ms, blinks, red_done_ms
EVENT_BATTERY = const(6)  # battery_state, idle_mv, loaded_mv (logged when the state changes)
EVENT_REFUSED_BATTERY = const(7)  # target_state, idle_mv, loaded_mv
EVENT_FAULT = const(8)  # fault code (FAULT_*), detail

FAULT_LOG_RECOVERED = const(1)  # detail: bytes of a torn record skipped at boot
FAULT_STORE_RESET = const(2)  # the persistent state file was unreadable and was reset


# Event record: magic, field count, sequence number, time (s), type, fields, CRC-32 of all
# before it. The CRC lets a reader tell a whole record from one a power cut tore.
_RECORD_MAGIC = const(0xE7)
_HEADER = "<BBIIB"
_HEADER_SIZE = const(11)
_CRC_SIZE = const(4)
MAX_FIELDS = const(8)


def encode_record(seq, time_s, event_type, fields):
    count = len(fields)
    if count > MAX_FIELDS:
        raise ValueError("too many fields")
    body = struct.pack(_HEADER, _RECORD_MAGIC, count, seq, time_s, event_type)
    body += struct.pack("<%di" % count, *fields)
    return body + struct.pack("<I", crc32(body) & 0xFFFFFFFF)


def record_size(buf, offset=0):
    """Size of the whole record starting at offset, or 0 when no valid record starts there."""
    if len(buf) - offset < _HEADER_SIZE + _CRC_SIZE:
        return 0
    if buf[offset] != _RECORD_MAGIC or buf[offset + 1] > MAX_FIELDS:
        return 0
    size = _HEADER_SIZE + 4 * buf[offset + 1] + _CRC_SIZE
    if len(buf) - offset < size:
        return 0
    end = offset + size - _CRC_SIZE
    (stored,) = struct.unpack_from("<I", buf, end)
    if crc32(bytes(buf[offset:end])) & 0xFFFFFFFF != stored:
        return 0
    return size


def decode_record(buf, offset=0):
    """(seq, time_s, event_type, fields) of the record at offset; ValueError if it is not whole."""
    if not record_size(buf, offset):
        raise ValueError("bad record")
    _, count, seq, time_s, event_type = struct.unpack_from(_HEADER, buf, offset)
    fields = struct.unpack_from("<%di" % count, buf, offset + _HEADER_SIZE)
    return seq, time_s, event_type, fields
