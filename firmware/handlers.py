# Requests from the BLE link: one frame in, one frame out (docs/protocol.md). Never raises:
# every frame, however broken, gets a response, and nothing is carried out unless the whole
# request is valid and authenticated (docs/security.md).

import struct

import wire


async def handle_frame(app, frame):
    auth = app.auth
    try:
        opcode, session_id, counter, payload, _tag = wire.decode_frame(frame)
    except ValueError as err:
        session_id, counter = wire.peek_counter(frame)
        return error_frame(err.args[0], session_id, counter)
    if opcode == wire.OP_HELLO:
        return _hello(auth, frame, session_id, counter, payload)
    if opcode not in _HANDLERS:
        return _refusal(opcode, session_id, counter, wire.STATUS_UNKNOWN_OPCODE, auth)
    status = auth.check(frame, opcode, session_id, counter)
    if status != wire.STATUS_OK:
        return _refusal(opcode, session_id, counter, status, auth)
    try:
        fields = wire.unpack_payload(wire.REQUEST_FORMATS[opcode], auth.open(session_id, counter, payload))
    except ValueError as err:
        return _refusal(opcode, session_id, counter, err.args[0], auth)
    body = await _HANDLERS[opcode](app, *fields)
    return auth.seal(opcode | wire.RESPONSE_BIT, session_id, counter, body)


def error_frame(status, session_id=0, counter=0):
    """The answer to something that was not a readable frame at all (never tagged)."""
    return wire.encode_frame(wire.OP_ERROR | wire.RESPONSE_BIT, session_id, counter, bytes((status,)))


def _refusal(opcode, session_id, counter, status, auth=None):
    # A status byte alone, in the clear: refused before anything was carried out. Tagged
    # (TAG_CLEAR) when a session exists, so a client can tell the lock's refusal from a forgery.
    frame = wire.encode_frame((opcode & 0x7F) | wire.RESPONSE_BIT, session_id, counter, bytes((status,)))
    return auth.sign(frame) if auth else frame


def _hello(auth, frame, session_id, counter, payload):
    fixed = wire.NONCE_SIZE + struct.calcsize(wire.REQUEST_FORMATS[wire.OP_HELLO])
    if len(payload) < fixed + 1:
        auth.end_session()
        return _refusal(wire.OP_HELLO, session_id, counter, wire.STATUS_BAD_REQUEST)
    status, session = auth.hello(frame, payload)
    if session is None:
        return _refusal(wire.OP_HELLO, session_id, counter, status)
    body = _pack(wire.OP_HELLO, wire.STATUS_OK, session.id, session.nonce, auth.clock.now())
    return auth.sign(wire.encode_frame(wire.OP_HELLO | wire.RESPONSE_BIT, session.id, counter, body))


def _pack(opcode, *fields):
    return struct.pack(wire.RESPONSE_FORMATS[opcode], *fields)


async def _status(app):
    lock = app.lock
    door = app.policy.door  # the knock sensor's (docs/knock.md): unknown on boards without one
    return _pack(wire.OP_STATUS, wire.STATUS_OK, lock.state, app.battery.state, int(lock.busy),
                 app.log.next_seq, door.state if door else wire.DOOR_UNKNOWN)


async def _move(app, opcode, target):
    status = await app.lock.request(target, app.auth.session.key_id)
    return _pack(opcode, status, app.lock.state, min(app.lock.last_travel_ms, 0xFFFF))


async def _lock(app):
    return await _move(app, wire.OP_LOCK, wire.LOCK_LOCKED)


async def _unlock(app):
    return await _move(app, wire.OP_UNLOCK, wire.LOCK_UNLOCKED)


async def _battery(app):
    battery = app.battery
    state = await app.measure_battery()
    charge = app.charge
    return _pack(wire.OP_BATTERY, wire.STATUS_OK, state, battery.idle_mv, battery.loaded_mv,
                 battery.percent, charge.swap_time, min(charge.used_uah // 1000, 0xFFFF),
                 battery.days_left())


async def _battery_swap(app):
    status = await app.register_battery_swap(app.auth.session.key_id)
    battery = app.battery
    return _pack(wire.OP_BATTERY_SWAP, status, battery.state, battery.idle_mv, battery.loaded_mv,
                 app.charge.swap_time)


async def _device_info(app):
    # Only in a session: the lock id is nobody's business in radio range, nor the model.
    return bytes((wire.STATUS_OK,)) + app.device_info.encode()


async def _selftest(app):
    result = await app.selftest()
    if result is None:
        return bytes((wire.STATUS_BUSY,))  # one is running (the button was pressed)
    idle, loaded, state, green_off, blinks, red_done = result
    return _pack(wire.OP_SELFTEST, wire.STATUS_OK, idle, loaded, state, green_off, blinks, red_done)


async def _log_read(app, from_seq, max_records):
    # The host asks from its sync cursor: every record below it is on the host, so the log
    # may let noise push those out (eventlog.py). Kept in flash, once per advance.
    log = app.log
    if log.synced < from_seq <= log.next_seq:
        log.synced = from_seq
        app.store.update(synced=from_seq)
    records = app.log.read(from_seq, min(max_records, wire.MAX_LOG_RECORDS))
    head = _pack(wire.OP_LOG_READ, wire.STATUS_OK, app.log.next_seq, len(records))
    return head + b"".join(wire.encode_record(*r) for r in records)


async def _revoke(app, key_id, not_after):
    auth = app.auth
    status = auth.revoke(key_id, not_after)
    if status == wire.STATUS_OK:
        app.log.append(wire.EVENT_REVOKED, (key_id, auth.session.key_id))
    return _pack(wire.OP_REVOKE, status, min(auth.revoked_count, 255))


async def _set_clock(app, new_time):
    status = app.auth.set_clock(new_time)
    return _pack(wire.OP_SET_CLOCK, status, app.auth.clock.now())


async def _key_policy(app, min_key_id):
    app.store.update(min_key_id=min_key_id)
    app.log.append(wire.EVENT_POLICY, (min_key_id, app.auth.session.key_id))
    return _pack(wire.OP_KEY_POLICY, wire.STATUS_OK, min_key_id)


_HANDLERS = {
    wire.OP_STATUS: _status,
    wire.OP_LOCK: _lock,
    wire.OP_UNLOCK: _unlock,
    wire.OP_BATTERY: _battery,
    wire.OP_SELFTEST: _selftest,
    wire.OP_LOG_READ: _log_read,
    wire.OP_BATTERY_SWAP: _battery_swap,
    wire.OP_DEVICE_INFO: _device_info,
    wire.OP_REVOKE: _revoke,
    wire.OP_SET_CLOCK: _set_clock,
    wire.OP_KEY_POLICY: _key_policy,
}
