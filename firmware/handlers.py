# Requests from the BLE link: one frame in, one frame out (docs/protocol.md). Never raises:
# every frame, however broken, gets a response, and nothing is carried out unless the whole
# request is valid.

import struct

import wire


async def handle_frame(app, frame):
    try:
        opcode, session, counter, payload, _tag = wire.decode_frame(frame)
    except ValueError as err:
        session, counter = wire.peek_counter(frame)
        return error_frame(err.args[0], session, counter)
    handler = _HANDLERS.get(opcode)
    if handler is None:
        return _refusal(opcode, session, counter, wire.STATUS_UNKNOWN_OPCODE)
    try:
        fields = wire.unpack_payload(wire.REQUEST_FORMATS[opcode], payload)
    except ValueError as err:
        return _refusal(opcode, session, counter, err.args[0])
    body = await handler(app, *fields)
    return wire.encode_frame(opcode | wire.RESPONSE_BIT, session, counter, body)


def error_frame(status, session=0, counter=0):
    """The answer to something that was not a readable frame at all."""
    return wire.encode_frame(wire.OP_ERROR | wire.RESPONSE_BIT, session, counter, bytes((status,)))


def _refusal(opcode, session, counter, status):
    # A status byte alone: the request was refused before anything was carried out.
    return wire.encode_frame((opcode & 0x7F) | wire.RESPONSE_BIT, session, counter, bytes((status,)))


def _pack(opcode, *fields):
    return struct.pack(wire.RESPONSE_FORMATS[opcode], *fields)


async def _status(app):
    lock = app.lock
    return _pack(wire.OP_STATUS, wire.STATUS_OK, lock.state, app.battery.state, int(lock.busy),
                 app.log.next_seq)


async def _move(app, opcode, target):
    status = await app.lock.request(target)
    return _pack(opcode, status, app.lock.state, min(app.lock.last_travel_ms, 0xFFFF))


async def _lock(app):
    return await _move(app, wire.OP_LOCK, wire.LOCK_LOCKED)


async def _unlock(app):
    return await _move(app, wire.OP_UNLOCK, wire.LOCK_UNLOCKED)


async def _battery(app):
    battery = app.battery
    state = await app.measure_battery()
    return _pack(wire.OP_BATTERY, wire.STATUS_OK, state, battery.idle_mv, battery.loaded_mv,
                 battery.percent, 0)


async def _selftest(app):
    result = await app.selftest()
    if result is None:
        return bytes((wire.STATUS_BUSY,))  # one is running (the button was pressed)
    idle, loaded, state, green_off, blinks, red_done = result
    return _pack(wire.OP_SELFTEST, wire.STATUS_OK, idle, loaded, state, green_off, blinks, red_done)


async def _log_read(app, from_seq, max_records):
    records = app.log.read(from_seq, min(max_records, wire.MAX_LOG_RECORDS))
    head = _pack(wire.OP_LOG_READ, wire.STATUS_OK, app.log.next_seq, len(records))
    return head + b"".join(wire.encode_record(*r) for r in records)


_HANDLERS = {
    wire.OP_STATUS: _status,
    wire.OP_LOCK: _lock,
    wire.OP_UNLOCK: _unlock,
    wire.OP_BATTERY: _battery,
    wire.OP_SELFTEST: _selftest,
    wire.OP_LOG_READ: _log_read,
}
