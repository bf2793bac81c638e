# Simulated `bluetooth` for the virtual board: MicroPython's low-level BLE API, as the firmware
# uses it on an ESP32, carried over the simulated machine's socket to the harness, which runs a
# Bumble device on the virtual radio (hemlas.sim.ble). IRQ events come back as "ble" lines and
# reach the handler with the same event numbers and data tuples as on a board.

from binascii import hexlify, unhexlify

import machine

FLAG_BROADCAST = 0x0001
FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_MTU_EXCHANGED = 21


def _hex(data):
    return hexlify(bytes(data)).decode() if data else "-"


def _unhex(word):
    return b"" if word == b"-" else unhexlify(word)


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

    def active(self, state=None):
        if state is not None:
            machine._call("ble_active %d" % (1 if state else 0))
            self._active = bool(state)
        return self._active

    def config(self, *names, **values):
        for key in values:
            value = values[key]
            machine._call("ble_config %s %s" % (key, _hex(value.encode() if isinstance(value, str) else str(value).encode())))
        if names:
            return machine._call("ble_config_get %s" % names[0]).decode()

    def irq(self, handler):
        self._handler = handler
        machine._listen("ble", self._on_event)

    def _on_event(self, words):
        event = int(words[1])
        if event == _IRQ_GATTS_WRITE:
            conn, handle = int(words[2]), int(words[3])
            # Keep the value with the event: a client writing faster than this task reads
            # must not overwrite what the handler is about to read.
            self._values[handle] = _unhex(words[4])
            data = (conn, handle)
        elif event in (_IRQ_CENTRAL_CONNECT, _IRQ_CENTRAL_DISCONNECT):
            data = (int(words[2]), int(words[3]), _unhex(words[4]))
        elif event == _IRQ_MTU_EXCHANGED:
            data = (int(words[2]), int(words[3]))
        else:
            return
        if self._handler:
            self._handler(event, data)

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
        # Raises OSError when the central is gone, as on a board (ENOTCONN).
        if data is None:
            data = self._values.get(value_handle, b"")
        machine._call("ble_notify %d %d" % (conn_handle, value_handle), data)

    def gatts_set_buffer(self, value_handle, length, append=False):
        machine._call("ble_buffer %d %d" % (value_handle, length))

    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        if interval_us is None:
            machine._call("ble_advertise_stop")
            return
        machine._call("ble_advertise %d %s %s %d" % (interval_us, _hex(adv_data), _hex(resp_data),
                                                    1 if connectable else 0))

    def gap_disconnect(self, conn_handle):
        return machine._call("ble_disconnect %d" % conn_handle) == b"ok"
