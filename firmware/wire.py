# The wire protocol and the numbers the lock and the host share: UUIDs, frames, fragments,
# opcodes, payload layouts, lock/battery states, status codes, and the event record format.
# docs/protocol.md is its normative specification.
# One source: the host imports this same file (as hemlas.firmware.wire); never copy it.
# Pure: imports only struct/binascii/hashlib/cryptolib, raises only ValueError (args[0] is a STATUS_
# code where a frame is refused), does no I/O.

import struct
from binascii import crc32
from hashlib import sha256

try:
    from cryptolib import aes  # pyright: ignore[reportMissingImports]
except ImportError:  # CPython: the host's AES, in ECB as the chip's cryptolib gives it
    from hemlas.aes import aes  # pyright: ignore[reportMissingImports]

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
PERCENT_UNKNOWN = const(255)
DAYS_UNKNOWN = const(0xFFFF)

# Roles of a staff key. Each includes the rights of those below it.
ROLE_STAFF = const(1)  # status, lock, unlock, battery, event log, battery-swap registration
ROLE_TECHNICIAN = const(2)  # also self-test
ROLE_ADMIN = const(3)  # also revocation, clock and key policy

# Status of a request: the first byte of every response payload.
STATUS_OK = const(0)
STATUS_BUSY = const(1)  # the motor is already running (or a self-test holds the battery)
STATUS_JAMMED = const(2)  # the bolt did not reach its end, even after the retry
STATUS_BATTERY_CRITICAL = const(3)  # refused: the motor is not driven on a dead battery
STATUS_BAD_REQUEST = const(4)  # a well-formed frame whose payload is wrong for its opcode
STATUS_MALFORMED = const(5)  # not a frame: too short, length field wrong
STATUS_UNKNOWN_OPCODE = const(6)
STATUS_FRAGMENT_ORDER = const(7)  # a fragment out of order, or a continuation without a start
STATUS_TOO_LARGE = const(8)  # a frame longer than MAX_FRAME
STATUS_UNSUPPORTED_VERSION = const(9)
STATUS_AUTH_REQUIRED = const(10)  # no session: say HELLO with a key first
STATUS_BAD_TAG = const(11)  # the authentication tag does not match: tampered, or a wrong key
STATUS_REPLAYED = const(12)  # a counter not above the last one, or another session's frame
STATUS_KEY_EXPIRED = const(13)
STATUS_KEY_NOT_YET_VALID = const(14)
STATUS_KEY_REVOKED = const(15)
STATUS_KEY_WRONG_LOCK = const(16)  # the key was issued for another lock
STATUS_PERMISSION_DENIED = const(17)  # the key's role does not allow this request
STATUS_SESSION_EXPIRED = const(18)  # idle too long, or the challenge was not answered in time
STATUS_REVOCATION_FULL = const(19)  # no room in the revocation list (and none expired)
STATUS_CLOCK_REFUSED = const(20)  # that clock change needs the admin role
STATUS_NOT_PROVISIONED = const(21)  # the lock has no secret yet: provision it over serial
STATUS_FAULT = const(22)  # the lock met an internal error (logged); the request may be retried
STATUS_BATTERY_DEPLETED = const(23)  # swap not registered: the new battery reads depleted under load

# Event types in the lock's log. Fields are signed 32-bit integers, listed per type.
EVENT_BOOT = const(1)  # reset_cause, lock_state, boot count
EVENT_LOCKED = const(2)  # travel_ms, loaded_mv, attempts, key id (0: not over BLE)
EVENT_UNLOCKED = const(3)  # travel_ms, loaded_mv, attempts, key id (0: not over BLE)
EVENT_JAMMED = const(4)  # target_state, travel_ms, attempts
EVENT_SELFTEST = const(5)  # idle_mv, loaded_mv, battery_state, green_off_ms, blinks, red_done_ms
EVENT_BATTERY = const(6)  # battery_state, idle_mv, loaded_mv (logged when the state changes)
EVENT_REFUSED_BATTERY = const(7)  # target_state, idle_mv, loaded_mv
EVENT_FAULT = const(8)  # fault code (FAULT_*), detail
EVENT_SESSION = const(9)  # key id, role: an authenticated session began
EVENT_AUTH_FAILED = const(10)  # status, key id (0 if none was given)
EVENT_AUTH_SUPPRESSED = const(11)  # failures not logged one by one during a back-off
EVENT_REVOKED = const(12)  # key id, by key id
EVENT_CLOCK_SET = const(13)  # old time, new time, by key id
EVENT_POLICY = const(14)  # minimum key id, by key id
EVENT_PROVISIONED = const(15)  # 1 first time, 2 re-provisioned (never the secret)
EVENT_BATTERY_SWAP = const(16)  # idle_mv, loaded_mv, mAh used on the old battery, by key id
EVENT_SWAP_REFUSED = const(17)  # idle_mv, loaded_mv, by key id: the new battery read depleted
# The knock sensor's door events (boards with one: docs/knock.md).
EVENT_DOOR_OPENED = const(18)  # (none): the leaf swung open
EVENT_DOOR_CLOSED = const(19)  # seconds it was open (0: not known)
EVENT_DOOR_LEFT_OPEN = const(20)  # seconds open so far: nobody closed it after a visit
EVENT_FORCED = const(21)  # peak mg: a blow on the door while locked

FAULT_LOG_RECOVERED = const(1)  # detail: bytes of a torn record skipped at boot
FAULT_STORE_RESET = const(2)  # the persistent state file was unreadable and was reset
FAULT_TASK = const(3)  # a task met an unexpected error and carried on
FAULT_KNOCK_SENSOR = const(4)  # the board's knock sensor did not answer on I2C
DOOR_CLOSED = const(0)
DOOR_OPEN = const(1)
DOOR_LEFT_OPEN = const(2)
DOOR_UNKNOWN = const(255)  # no knock sensor on this board


# Event record: magic, field count, sequence number, time (s), type, fields, CRC-32 of all
# before it. The CRC lets a reader tell a whole record from one a power cut tore.
_RECORD_MAGIC = const(0xE7)
# The header's layout, "<BBIIB", is written out where it is used: a module-level name of it
# would cost the lock a name and a dict slot (as each label below would).
_HEADER_SIZE = const(11)
_CRC_SIZE = const(4)
MAX_FIELDS = const(8)


def encode_record(seq, time_s, event_type, fields):
    count = len(fields)
    if count > MAX_FIELDS:
        raise ValueError("too many fields")
    body = struct.pack("<BBIIB", _RECORD_MAGIC, count, seq, time_s, event_type)
    body += struct.pack("<%di" % count, *fields)
    return body + struct.pack("<I", crc32(body) & 0xFFFFFFFF)


def record_length(field_count):
    return _HEADER_SIZE + 4 * field_count + _CRC_SIZE


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
    _, count, seq, time_s, event_type = struct.unpack_from("<BBIIB", buf, offset)
    fields = struct.unpack_from("<%di" % count, buf, offset + _HEADER_SIZE)
    return seq, time_s, event_type, fields


# ---- GATT ----------------------------------------------------------------------------------
# The lock service. Clients write request fragments to CONTROL and subscribe to RESPONSE.
LOCK_SERVICE_UUID = "7dc50001-6466-4220-bab7-4b93a4e6cd73"
CONTROL_CHAR_UUID = "7dc50002-6466-4220-bab7-4b93a4e6cd73"
RESPONSE_CHAR_UUID = "7dc50003-6466-4220-bab7-4b93a4e6cd73"
BATTERY_SERVICE_UUID = const(0x180F)
BATTERY_LEVEL_UUID = const(0x2A19)
DEVICE_INFO_SERVICE_UUID = const(0x180A)
MANUFACTURER_UUID = const(0x2A29)
MODEL_UUID = const(0x2A24)
SERIAL_UUID = const(0x2A25)
FIRMWARE_REV_UUID = const(0x2A26)
HARDWARE_REV_UUID = const(0x2A27)

# ---- Frames --------------------------------------------------------------------------------
# version u8, opcode u8, session u32, counter u32, payload length u16, payload, tag (16 bytes).
# Version 3: every request but HELLO belongs to an authenticated session, and every payload in
# it is encrypted (docs/security.md).
PROTOCOL_VERSION = const(3)
# The header's layout: "<BBIIH" where it is used.
FRAME_HEADER_SIZE = const(12)
TAG_SIZE = const(16)
# The largest request the lock accepts: its reassembly buffer, allocated once at boot, so a
# frame is never joined on a heap that may be fragmented. A HELLO with a 29-byte lock id is
# 86 bytes, the largest request; anything over MAX_FRAME is refused as it arrives.
MAX_FRAME = const(128)
MAX_RESPONSE = const(512)  # the largest answer: a LOG_READ page of 8 records is 410 bytes
RESPONSE_BIT = const(0x80)  # a response's opcode is the request's with this bit set

OP_STATUS = const(0x01)
OP_LOCK = const(0x02)
OP_UNLOCK = const(0x03)
OP_BATTERY = const(0x04)
OP_SELFTEST = const(0x05)
OP_LOG_READ = const(0x06)
OP_BATTERY_SWAP = const(0x07)  # staff: register a new battery (docs/battery.md)
OP_DEVICE_INFO = const(0x08)  # model, firmware, board: only inside a session
OP_HELLO = const(0x10)  # open a session with a key (tagged with the key itself)
OP_REVOKE = const(0x11)  # admin: add a key to the revocation list
OP_SET_CLOCK = const(0x12)  # admin: any time; others: forward, a little (docs/security.md)
OP_KEY_POLICY = const(0x13)  # admin: keys with an id below the minimum stop working
OP_ERROR = const(0x7F)  # response to a frame that could not be read at all

# Payload layouts (struct formats, little-endian). Responses start with the status byte.
REQUEST_FORMATS = {
    OP_STATUS: "<",
    OP_LOCK: "<",
    OP_UNLOCK: "<",
    OP_BATTERY: "<",
    OP_SELFTEST: "<",
    OP_LOG_READ: "<IB",  # from_seq, max records
    OP_BATTERY_SWAP: "<",
    OP_DEVICE_INFO: "<",
    # HELLO: the client nonce (NONCE_SIZE, clear), then encrypted under hello_key: key id,
    # role, not before, not after (lock time, s), and the lock id the key was issued for (the
    # rest of the payload, UTF-8).
    OP_HELLO: "<IBII",
    OP_REVOKE: "<II",  # key id, its not-after (the entry may go once the key has expired)
    OP_SET_CLOCK: "<I",  # new lock time (s)
    OP_KEY_POLICY: "<I",  # minimum key id
}
RESPONSE_FORMATS = {
    OP_STATUS: "<BBBBIB",  # status, lock state, battery state, busy, next event seq, door (DOOR_*)
    OP_LOCK: "<BBH",  # status, lock state, travel ms
    OP_UNLOCK: "<BBH",
    # status, battery state, idle mV, loaded mV, percent (255: unknown), last swap (lock time,
    # 0: never), mAh used since it, days left at the recent rate (0xFFFF: not yet known)
    OP_BATTERY: "<BBHHBIHH",
    OP_BATTERY_SWAP: "<BBHHI",  # status, battery state, idle mV, loaded mV, swap time (lock time)
    OP_SELFTEST: "<BHHBHBH",  # status, idle mV, loaded mV, battery state, green off ms, blinks, red done ms
    OP_LOG_READ: "<BIB",  # status, next seq, record count; then the records (encode_record)
    OP_HELLO: "<BI16sI",  # status, session id, lock nonce, lock time
    OP_REVOKE: "<BB",  # status, entries in the list
    OP_SET_CLOCK: "<BI",  # status, lock time now
    OP_KEY_POLICY: "<BI",  # status, minimum key id now
    OP_ERROR: "<B",  # status
}
# The smallest role each request needs (HELLO: none).
REQUIRED_ROLE = {
    OP_STATUS: ROLE_STAFF,
    OP_LOCK: ROLE_STAFF,
    OP_UNLOCK: ROLE_STAFF,
    OP_BATTERY: ROLE_STAFF,
    OP_SET_CLOCK: ROLE_STAFF,  # forward only, a little, below admin
    OP_LOG_READ: ROLE_STAFF,  # every connection syncs the visit record (docs/security.md)
    OP_SELFTEST: ROLE_TECHNICIAN,
    OP_DEVICE_INFO: ROLE_STAFF,
    OP_BATTERY_SWAP: ROLE_STAFF,  # the routine: the carer swaps and registers (docs/security.md)
    OP_REVOKE: ROLE_ADMIN,
    OP_KEY_POLICY: ROLE_ADMIN,
}
MAX_LOG_RECORDS = const(8)  # per LOG_READ response: small, so the lock needs little heap for it


def encode_frame(opcode, session, counter, payload=b"", tag=bytes(TAG_SIZE)):  # default: untagged
    if len(tag) != TAG_SIZE:
        raise ValueError(STATUS_MALFORMED)
    frame = struct.pack("<BBIIH", PROTOCOL_VERSION, opcode, session, counter, len(payload))
    frame = frame + payload + tag
    if len(frame) > MAX_RESPONSE:
        raise ValueError(STATUS_TOO_LARGE)
    return frame


def frame_body(frame):
    """The frame without its tag: what the tag authenticates."""
    return frame[: len(frame) - TAG_SIZE]


def with_tag(frame, tag):
    return frame_body(frame) + tag


def decode_frame(frame):
    """(opcode, session, counter, payload, tag); ValueError(STATUS_...) if not a valid frame."""
    if len(frame) > MAX_RESPONSE:
        raise ValueError(STATUS_TOO_LARGE)
    if len(frame) < FRAME_HEADER_SIZE + TAG_SIZE:
        raise ValueError(STATUS_MALFORMED)
    version, opcode, session, counter, length = struct.unpack_from("<BBIIH", frame, 0)
    if version != PROTOCOL_VERSION:
        raise ValueError(STATUS_UNSUPPORTED_VERSION)
    if FRAME_HEADER_SIZE + length + TAG_SIZE != len(frame):
        raise ValueError(STATUS_MALFORMED)
    end = FRAME_HEADER_SIZE + length
    return opcode, session, counter, bytes(frame[FRAME_HEADER_SIZE:end]), bytes(frame[end:])


def peek_counter(frame):
    """The session and counter of a frame too broken to decode, for its error response."""
    if len(frame) >= FRAME_HEADER_SIZE:
        return struct.unpack_from("<II", frame, 2)
    return 0, 0


def unpack_payload(fmt, payload):
    """Fields of a fixed-layout payload; ValueError(STATUS_BAD_REQUEST) if the size is wrong."""
    if struct.calcsize(fmt) != len(payload):
        raise ValueError(STATUS_BAD_REQUEST)
    return struct.unpack(fmt, payload)


# ---- Fragments ------------------------------------------------------------------------------
# Each ATT write or notification carries one fragment: a header byte, then up to MTU - 4 bytes
# of the frame. Header: FIRST (bit 7), LAST (bit 6), index (bits 0-5, counting from 0 mod 64).
FRAGMENT_FIRST = const(0x80)
FRAGMENT_LAST = const(0x40)
_INDEX_MASK = const(0x3F)
DEFAULT_ATT_MTU = const(23)
_ATT_OVERHEAD = const(3)  # opcode + handle of a write or notification


def iter_fragments(frame, att_mtu=DEFAULT_ATT_MTU):
    """The fragments of a frame, one at a time (the lock never holds them all at once)."""
    chunk = att_mtu - _ATT_OVERHEAD - 1
    if chunk < 1:
        raise ValueError(STATUS_BAD_REQUEST)
    count = (len(frame) + chunk - 1) // chunk or 1
    for i in range(count):
        header = (i & _INDEX_MASK) | (FRAGMENT_FIRST if i == 0 else 0)
        if i == count - 1:
            header |= FRAGMENT_LAST
        yield bytes((header,)) + frame[i * chunk:(i + 1) * chunk]


def fragment(frame, att_mtu=DEFAULT_ATT_MTU):
    """Split a frame into fragments that each fit one ATT write or notification."""
    return list(iter_fragments(frame, att_mtu))


class Reassembler:
    """Joins fragments into frames. feed() returns a whole frame, or None while one is partial.

    Fragments are copied into one buffer of max_frame bytes allocated here, once: joining never
    allocates, so no input can run the heap out. The frame returned is a memoryview of that
    buffer, valid until the next feed() (copy it with bytes() to keep it).
    A fragment that breaks the sequence raises ValueError(STATUS_...) and drops what was
    pending, so bad input never stalls the channel; one that would overflow the buffer raises
    TOO_LARGE before anything is copied. A FIRST fragment always starts a new frame; a frame it
    cut short is counted in cut_short, for the caller to answer.
    """

    def __init__(self, max_frame=MAX_FRAME):
        self.buffer = bytearray(max_frame)
        self.cut_short = 0
        self.reset()

    @property
    def pending(self):
        return self._next >= 0

    def reset(self):
        self._size = 0
        self._next = -1  # index expected next; -1 when no frame is pending

    def feed(self, data):
        if not data:
            self.reset()
            raise ValueError(STATUS_MALFORMED)
        header = data[0]
        if header & FRAGMENT_FIRST:
            if self.pending:
                self.cut_short += 1
            self.reset()
            self._next = 0
        if self._next < 0 or header & _INDEX_MASK != self._next:
            self.reset()
            raise ValueError(STATUS_FRAGMENT_ORDER)
        start = self._size
        end = start + len(data) - 1
        if end > len(self.buffer):
            self.reset()
            raise ValueError(STATUS_TOO_LARGE)
        memoryview(self.buffer)[start:end] = memoryview(data)[1:]
        self._size = end
        self._next = (self._next + 1) & _INDEX_MASK
        if header & FRAGMENT_LAST:
            self.reset()
            return memoryview(self.buffer)[:end]
        return None


# ---- Authentication ---------------------------------------------------------------------------
# HMAC-SHA256 (RFC 2104) on hashlib.sha256, which MicroPython has in C; tags are its first 16
# bytes. Every derivation is bound to its purpose by a label, and tags to their direction.
SECRET_SIZE = const(32)
NONCE_SIZE = const(16)
_BLOCK = const(64)
# Each derivation's label (b"hemlas ... vN") is written where it is used, once.
TAG_HELLO = const(0)  # HELLO, tagged with the key
TAG_REQUEST = const(1)  # client to lock, encrypted, tagged with the session key
TAG_RESPONSE = const(2)  # lock to client, encrypted
TAG_CLEAR = const(3)  # lock to client in the clear: HELLO's answer and refusals
CIPHER_KEY_SIZE = const(16)  # AES-128
_AES_ECB = const(1)


def hmac_sha256(key, message):
    if len(key) > _BLOCK:
        key = sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    inner = sha256(bytes(b ^ 0x36 for b in key))
    inner.update(message)
    outer = sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def equal(a, b):
    """Compare in constant time (for equal lengths): no early exit on the first difference."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def derive_key(secret, lock_id, key_id, role, not_before, not_after):
    """A staff key's 32 bytes, from the lock secret and every field of the key.

    The lock recomputes it from the fields a client presents, so it stores nothing per key;
    a key for another lock, role or window is a different key.
    """
    fields = struct.pack("<IBII", key_id, role, not_before, not_after)
    return hmac_sha256(secret, b"hemlas key v2" + fields + lock_id.encode())


def derive_session_key(key, session_id, client_nonce, lock_nonce):
    return hmac_sha256(key, b"hemlas session v2" + struct.pack("<I", session_id) + client_nonce + lock_nonce)


def tag(key, direction, frame):
    """The tag of a frame (its tag field ignored): direction is TAG_HELLO/REQUEST/RESPONSE."""
    return hmac_sha256(key, bytes((direction,)) + frame_body(frame))[:TAG_SIZE]


def check_tag(key, direction, frame):
    return equal(tag(key, direction, frame), frame[len(frame) - TAG_SIZE:])


def derive_cipher_key(session_key):
    """The session's AES-128 key (the HMAC key stays the session key itself)."""
    return hmac_sha256(session_key, b"hemlas cipher v3")[:CIPHER_KEY_SIZE]


def crypt(cipher_key, direction, session_id, counter, data):
    """AES-128-CTR of data: encrypts and decrypts alike. Counter block i is direction u8,
    session u32, frame counter u32, 3 zero bytes, i u32 (little-endian): never the same twice
    under one key, as a frame counter is used once per direction. CTR is built on ECB, the one
    mode the esp32 port's cryptolib offers besides CBC."""
    length = len(data)
    if not length:
        return b""
    blocks = bytearray((length + 15) & ~15)
    for i in range(len(blocks) // 16):
        struct.pack_into("<BII3xI", blocks, 16 * i, direction, session_id, counter, i)
    stream = aes(cipher_key, _AES_ECB).encrypt(blocks)
    mixed = int.from_bytes(data, "little") ^ int.from_bytes(stream[:length], "little")
    return mixed.to_bytes(length, "little")


def seal(session_key, cipher_key, direction, opcode, session_id, counter, payload):
    """A frame in a session: the payload encrypted, then the tag over header and ciphertext."""
    body = crypt(cipher_key, direction, session_id, counter, payload)
    frame = encode_frame(opcode, session_id, counter, body)
    return with_tag(frame, tag(session_key, direction, frame))


def derive_advertising_key(secret):
    """The lock's advertising key (its IRK): it travels with the staff keys, the secret never."""
    return hmac_sha256(secret, b"hemlas advertising v3")[:16]


def rotating_id(advertising_key, prand):
    """The 16 bytes a provisioned lock advertises: 8 random bytes, then 8 that only a holder
    of its advertising key can compute from them (and so tell which lock it is)."""
    return prand + hmac_sha256(advertising_key, b"hemlas rotating id v3" + prand)[:8]


def hello_key(advertising_key, client_nonce):
    """The AES key of a HELLO's fields: only holders of a key for the lock read them."""
    return hmac_sha256(advertising_key, b"hemlas hello v3" + client_nonce)[:CIPHER_KEY_SIZE]
