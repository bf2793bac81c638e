# Simulated `bluetooth` for the virtual board: MicroPython's low-level BLE API as v1.28 gives it
# on an ESP32 (extmod/modbluetooth.c over extmod/nimble/modbluetooth_nimble.c), carried over the
# simulated machine's socket to the harness, which runs a Bumble device on the virtual radio
# (hemlas.sim.ble). IRQ events come back as "ble" lines and reach the handler with the same event
# numbers and data tuples as on a board. What differs from a board: docs/virtual-board.md.

import os
import sys
from binascii import hexlify, unhexlify

import machine
from micropython import const

# Every name and string here is a qstr in the firmware's pool (on a board this module is C, in
# ROM): underscore consts vanish at compile time, and messages come from the harness's answers.

FLAG_BROADCAST = 0x0001
FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_READ_REQUEST = const(4)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

_ENOTCONN = const(107)  # py/mperrno.h: the harness answers "errno N" with MicroPython's numbers

# The addr in an IRQ's data tuple is a memoryview over the stack's event memory, valid only
# while the handler runs (modbluetooth.c invoke_irq_handler_run; docs/library/bluetooth.rst,
# BLE.irq). One buffer serves every event and is cleared when the handler returns, so firmware
# that keeps the view without bytes() reads zeros here, as it would read garbage on a board.
_addr = memoryview(bytearray(6))


def _hex(data):
    return hexlify(bytes(data)).decode() if data else "-"


def _unhex(word):
    return b"" if word == b"-" else unhexlify(word)


def _check(answer):
    # The harness answers "errno N" where the stack returns an error code, and "?" and
    # MicroPython's message where it raises ValueError (a config key it does not know).
    if answer[:1] == b"?":
        raise ValueError(answer[1:].decode())
    if answer[:6] == b"errno ":
        raise OSError(int(answer[6:]))
    return answer


class UUID:
    def __init__(self, value):
        if isinstance(value, int):
            self._text = "%04x" % value
        elif isinstance(value, str):
            self._text = value.lower()
        else:
            raise TypeError("UUID from int or str")

    def __str__(self):
        return self._text

    def __repr__(self):
        return "UUID(%s)" % self._text

    def __eq__(self, other):
        return isinstance(other, UUID) and other._text == self._text


_ble = None


def BLE():
    """The radio is a singleton, as on the board."""
    global _ble
    if _ble is None:
        _ble = _BLE()
    return _ble


class _BLE:
    def __init__(self):
        self._handler = None
        self._values = {}  # local values of the GATT server, by handle
        self._active = False
        # Events flow from the start, so a client's read is answered (accepted) before irq().
        machine._listen("ble", self._on_event)

    def active(self, state=None):
        if state is not None:
            machine._call("ble_active %d" % (1 if state else 0))
            if state and not self._active:
                self._load_irk()
            self._active = bool(state)
        return self._active

    def _load_irk(self):
        # modbluetooth_nimble.c load_irk(), as the stack starts: our IRK from the handler
        # (secret type 10, key b"irk"), else a random one offered to it to store; refused,
        # NimBLE keeps its built-in default IRK (which the harness knows as such).
        key = memoryview(b"irk")
        irk = self._invoke(_IRQ_GET_SECRET, (10, 0, key))
        if irk is None or len(irk) != 16:
            irk = os.urandom(16)
            if not self._invoke(_IRQ_SET_SECRET, (10, key, memoryview(irk))):
                irk = b""
        machine._call("ble_irk %s" % _hex(irk))

    def config(self, *names, **values):
        # bluetooth_ble_config in modbluetooth.c: one name to get, keywords to set, never both.
        # The harness knows the keys (an ESP32 has no "rxbuf": its events are synchronous).
        if not values:
            if len(names) != 1:
                raise TypeError  # "must query one param"
            answer = _check(machine._call("ble_config_get %s" % names[0]))
            if b" " in answer:  # mac: "TYPE HEX"
                kind, addr = answer.split()
                return (int(kind), unhexlify(addr))
            return _unhex(answer) if names[0] == "gap_name" else int(answer)
        if names:
            raise TypeError  # "can't specify pos and kw args"
        for key in values:
            value = values[key]
            if not isinstance(value, (str, bytes, bytearray, memoryview)):
                value = str(int(value))  # mtu, addr_mode
            _check(machine._call("ble_config %s %s" % (key, _hex(value.encode() if isinstance(value, str) else value))))

    def irq(self, handler):
        self._handler = handler

    def _invoke(self, event, data):
        # invoke_irq_handler_run_protected: an exception is printed and disables the handler.
        handler = self._handler
        if handler is None:
            return None
        try:
            return handler(event, data)
        except Exception as err:
            print("Unhandled exception in IRQ callback handler")
            sys.print_exception(err)
            self._handler = None
        finally:
            _addr[:] = bytes(6)  # the event's memory is gone once the handler returns
        return None

    def _on_event(self, words):
        # "ble EVENT A B X": (conn, addr_type, addr) for a connect or disconnect, else (A, B).
        event, a, b = int(words[1]), int(words[2]), int(words[3])
        if event == _IRQ_GATTS_WRITE:
            # Keep the value with the event: a client writing faster than this task reads
            # must not overwrite what the handler is about to read.
            self._values[b] = _unhex(words[4])
        if event < _IRQ_GATTS_WRITE:
            _addr[:] = unhexlify(words[4])
            result = self._invoke(event, (a, b, _addr))
        else:
            result = self._invoke(event, (a, b))
        if event == _IRQ_GATTS_READ_REQUEST:
            # The client's read waits for the handler, which may gatts_write the value first;
            # a non-zero int it returns is the ATT error (mp_bluetooth_gatts_on_read_request).
            machine._call("ble_read_answer %s %d" % (words[4].decode(), result if isinstance(result, int) else 0))

    def gatts_register_services(self, services):
        parts = []
        for service_uuid, characteristics in services:
            chars = ",".join("%s/%d" % (c[0], c[1]) for c in characteristics)
            parts.append("%s=%s" % (service_uuid, chars))
        answer = machine._call("ble_register %s" % ";".join(parts)).decode()
        return tuple(tuple(int(h) for h in group.split(",")) for group in answer.split(";"))

    def gatts_read(self, value_handle):
        return self._values.get(value_handle, b"")

    def gatts_write(self, value_handle, data, send_update=False):
        self._values[value_handle] = bytes(data)
        machine._call("ble_write %d %d" % (value_handle, 1 if send_update else 0), data)

    def gatts_notify(self, conn_handle, value_handle, data=None):
        # Queued into the stack's bounded buffer pool: OSError(ENOMEM) when it is full,
        # OSError(ENOTCONN) when the central is gone (ble_hs_err_to_errno).
        if data is None:
            data = self._values.get(value_handle, b"")
        _check(machine._call("ble_notify %d %d" % (conn_handle, value_handle), data))

    def gatts_set_buffer(self, value_handle, length, append=False):
        machine._call("ble_buffer %d %d" % (value_handle, length))

    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        if interval_us is None:
            machine._call("ble_advertise_stop")
            return
        machine._call("ble_advertise %d %s %s %d" % (interval_us, _hex(adv_data), _hex(resp_data),
                                                    1 if connectable else 0))

    def gap_disconnect(self, conn_handle):
        # modbluetooth.c: True once asked, False if there was no such connection.
        answer = machine._call("ble_disconnect %d" % conn_handle)
        if answer == b"errno %d" % _ENOTCONN:
            return False
        _check(answer)
        return True
