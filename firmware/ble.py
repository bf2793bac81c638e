# The BLE layer: the only firmware module that imports bluetooth. MicroPython's low-level API,
# as on the ESP32. IRQs only copy data out and set a flag; run() does the work, one request at a
# time, fragments in and fragments out (docs/protocol.md).

import asyncio
import os

import bluetooth
from micropython import const

import wire
from handlers import error_frame, handle_frame

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)
_SECRET_OUR_IRK = const(10)  # SECRET_TYPE_OUR_IRK in modbluetooth_nimble.c's load_irk()
_ADDR_MODE_RPA = const(2)  # a resolvable private address from our IRK

_FLAG_WRITE_NO_RESPONSE = const(0x0004)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)

_ADV_FLAGS = const(0x01)
_ADV_UUID128_COMPLETE = const(0x07)
_ADV_COMPLETE_NAME = const(0x09)
_ADV_LE_ONLY_GENERAL = const(0x06)  # LE general discoverable, BR/EDR not supported
_ADV_MAX = const(31)
# The rotating id and the address change together when the radio restarts: at boot and this
# often while nobody is connected. Below NimBLE's own RPA timeout (900 s in ESP-IDF), so the
# stack never changes the address under an unchanged id (docs/protocol.md, "Advertising").
_ROTATE_MS = const(600_000)

_MAX_ATT_MTU = const(247)  # what the lock accepts when a client asks for more
_CONTROL_BUFFER = const(244)  # one write at the largest MTU (247 - 3)
_MAX_QUEUED_WRITES = const(16)  # fragments waiting for the task; beyond this a client floods
# gatts_notify queues into NimBLE's bounded buffer pool and raises OSError(ENOMEM) when it is
# full (BLE_HS_ENOMEM, mapped in MicroPython's modbluetooth_nimble.c); the radio frees buffers
# as it sends, a few per connection event (7.5 ms at the shortest). So wait and send the same
# fragment again; a pool that frees nothing for seconds is a link that is as good as gone.
_ENOMEM = const(12)
_NOTIFY_RETRY_MS = const(5)
_NOTIFY_PATIENCE_MS = const(2000)

_EV_CONNECT = const(1)
_EV_DISCONNECT = const(2)
_EV_WRITE = const(3)
_EV_MTU = const(4)


def _adv_field(kind, value):
    return bytes((len(value) + 1, kind)) + value


def _uuid128_le(text):
    raw = bytes.fromhex(text.replace("-", ""))
    return bytes(reversed(raw))  # advertising data carries UUIDs little-endian


class BleLink:
    def __init__(self, app, lock_id, interval_ms, ble):
        if len(lock_id) > _ADV_MAX - 2:
            raise ValueError("lock id too long for the scan response")
        self._app = app
        self._lock_id = lock_id
        # The IRK of the private address and the key of the rotating id; None unprovisioned.
        self._irk = app.auth.advertising_key
        self._interval_us = interval_ms * 1000
        self.rotate_ms = ble.get("rotate_ms", _ROTATE_MS)  # the board's "ble"
        app.charge.adv_interval_ms = interval_ms
        self._events = []
        self._flag = asyncio.ThreadSafeFlag()
        self._reassembler = wire.Reassembler()
        self._conn = None
        self._mtu = wire.DEFAULT_ATT_MTU
        self.dropped_writes = 0
        self._ble = bluetooth.BLE()  # built in the app's entry point, switched on by start()

    def start(self):
        ble = self._ble
        ble.irq(self._irq)  # first: NimBLE asks for our IRK while it starts (load_irk)
        ble.active(True)
        ble.config(mtu=_MAX_ATT_MTU)
        if self._irk:
            ble.config(addr_mode=_ADDR_MODE_RPA)  # the GAP name stays the stack's default
        else:
            ble.config(gap_name=self._lock_id)  # on the bench: the technician looks for it
        # The lock service alone: no Battery or Device Information service, which anyone who
        # connects could read (BATTERY and DEVICE_INFO answer inside a session).
        lock_service = (
            bluetooth.UUID(wire.LOCK_SERVICE_UUID),
            (
                (bluetooth.UUID(wire.CONTROL_CHAR_UUID), _FLAG_WRITE | _FLAG_WRITE_NO_RESPONSE),
                (bluetooth.UUID(wire.RESPONSE_CHAR_UUID), _FLAG_NOTIFY),
            ),
        )
        ((self._control, self._response),) = ble.gatts_register_services((lock_service,))
        ble.gatts_set_buffer(self._control, _CONTROL_BUFFER)
        self._advertise()

    async def rotate(self):
        """A new rotating id and address every rotate_ms that no client is connected."""
        while True:
            await asyncio.sleep_ms(self.rotate_ms)
            if self._conn is None:
                self._ble.active(False)  # NimBLE makes a new RPA when it starts again
                self._events.clear()  # of the radio that just stopped
                self._reassembler.reset()
                self.start()

    def _advertise(self):
        adv = _adv_field(_ADV_FLAGS, bytes((_ADV_LE_ONLY_GENERAL,)))
        if self._irk:
            adv += _adv_field(_ADV_UUID128_COMPLETE, wire.rotating_id(self._irk, os.urandom(8)))
            resp = b""
        else:
            adv += _adv_field(_ADV_UUID128_COMPLETE, _uuid128_le(wire.LOCK_SERVICE_UUID))
            # Flags + a 128-bit UUID is 21 bytes; the name would overflow 31, so it goes in
            # the scan response, which scanners request actively.
            resp = _adv_field(_ADV_COMPLETE_NAME, self._lock_id.encode())
        self._ble.gap_advertise(self._interval_us, adv, resp_data=resp)
        self._radio_state(True, 0)
        self._app.policy.advertising()

    def _radio_state(self, advertising, connections):
        charge = self._app.charge
        charge.tick()  # the time so far at the old draw
        charge.advertising = advertising
        charge.connections = connections

    def _irq(self, event, data):
        if event == _IRQ_GET_SECRET:
            return self._irk if data[0] == _SECRET_OUR_IRK else None  # no bonds are kept
        if event == _IRQ_SET_SECRET:
            return False
        if event == _IRQ_GATTS_WRITE:
            conn, handle = data
            if handle != self._control:
                return
            if len(self._events) >= _MAX_QUEUED_WRITES:
                self.dropped_writes += 1
                return
            self._events.append((_EV_WRITE, conn, self._ble.gatts_read(handle)))
        elif event == _IRQ_CENTRAL_CONNECT:
            self._events.append((_EV_CONNECT, data[0], None))
        elif event == _IRQ_CENTRAL_DISCONNECT:
            self._events.append((_EV_DISCONNECT, data[0], None))
        elif event == _IRQ_MTU_EXCHANGED:
            self._events.append((_EV_MTU, data[0], data[1]))
        else:
            return
        self._flag.set()

    async def run(self):
        while True:
            await self._flag.wait()
            while self._events:
                try:
                    await self._handle(*self._events.pop(0))
                except Exception as err:  # a full heap, a radio error: log it, keep serving
                    self._app.fault(err)

    async def _handle(self, kind, conn, value):
        self._app.policy.activity()  # a client is here: no sleep under it
        if kind == _EV_CONNECT:
            self._radio_state(False, 1)  # a connection ends advertising
            self._conn = conn
            self._mtu = wire.DEFAULT_ATT_MTU
            self._reassembler.reset()
            self._app.auth.end_session()  # a session never outlives its connection
        elif kind == _EV_DISCONNECT:
            if conn == self._conn:
                self._conn = None
                self._reassembler.reset()
                self._app.auth.end_session()
            self._advertise()  # reachable again for the next visit
        elif kind == _EV_MTU:
            self._mtu = value
        elif conn == self._conn:
            await self._on_fragment(conn, value)

    async def _on_fragment(self, conn, data):
        reassembler = self._reassembler
        cut_short = reassembler.cut_short
        try:
            frame = reassembler.feed(data)
        except ValueError as err:
            await self._send(conn, error_frame(err.args[0]))
            return
        if reassembler.cut_short != cut_short:
            await self._send(conn, error_frame(wire.STATUS_FRAGMENT_ORDER))
        if frame is None:
            return
        if len(frame) > 1 and frame[1] == wire.OP_HELLO:
            # Guessing keys costs time: the back-off grows with recent failures.
            delay = self._app.auth.backoff_ms()
            if delay:
                await asyncio.sleep_ms(delay)
        try:
            response = await handle_frame(self._app, frame)
        except Exception as err:  # out of heap, a flash error: answer it, keep serving
            self._app.fault(err)
            response = error_frame(wire.STATUS_FAULT)
        await self._send(conn, response)

    async def _send(self, conn, frame):
        for part in wire.iter_fragments(frame, self._mtu):
            waited = 0
            while True:
                if conn != self._conn:
                    return  # the client left mid-response
                try:
                    self._ble.gatts_notify(conn, self._response, part)  # pyright: ignore[reportCallIssue]
                    break
                except OSError as err:
                    if err.args[0] != _ENOMEM or waited >= _NOTIFY_PATIENCE_MS:
                        return  # the link dropped under us (ENOTCONN): the disconnect event follows
                await asyncio.sleep_ms(_NOTIFY_RETRY_MS)  # the pool is full: the radio frees it
                waited += _NOTIFY_RETRY_MS
            await asyncio.sleep_ms(0)  # let the other tasks run between fragments
