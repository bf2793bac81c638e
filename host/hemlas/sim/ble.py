"""The harness side of the simulated `bluetooth` module: a Bumble device on the virtual radio.

The firmware's BLE calls (sim/mpy/bluetooth.py) arrive here as lines; each becomes an action on
a Bumble peripheral `Device` that the radio hub gives this lock, run on the radio's event loop.
Bumble's callbacks (a central connected, wrote, negotiated the MTU, left) go back to the
firmware as IRQ event lines with MicroPython's event numbers and data.
"""

from __future__ import annotations

import binascii
import logging

from bumble import att, gatt
from bumble.core import UUID
from bumble.device import AdvertisingType, Connection, Device
from bumble.hci import OwnAddressType

from ..errors import VirtualBoardError

logger = logging.getLogger(__name__)

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_MTU_EXCHANGED = 21

_FLAG_READ = 0x0002
_FLAG_WRITE_NO_RESPONSE = 0x0004
_FLAG_WRITE = 0x0008
_FLAG_NOTIFY = 0x0010
_FLAG_INDICATE = 0x0020
_DEFAULT_BUFFER = 20  # MicroPython's default value buffer: one write at the default MTU


def _unhex(word: str) -> bytes:
    return b"" if word == "-" else binascii.unhexlify(word)


def _uuid(text: str) -> UUID:
    return UUID.from_16_bits(int(text, 16)) if len(text) == 4 else UUID(text)


class _Value:
    """One characteristic's local value, with MicroPython's access rules."""

    def __init__(self, bridge: "BleBridge", flags: int):
        self.bridge = bridge
        self.flags = flags
        self.data = b""
        self.buffer = _DEFAULT_BUFFER
        self.handle = 0

    def read(self, connection: Connection) -> bytes:
        if not self.flags & _FLAG_READ:
            raise att.ATT_Error(att.ATT_READ_NOT_PERMITTED_ERROR, self.handle)
        return self.data

    def write(self, connection: Connection, value: bytes) -> None:
        if not self.flags & (_FLAG_WRITE | _FLAG_WRITE_NO_RESPONSE):
            # Bumble's server does not check permissions itself: without this the client
            # would wait 30 s for an answer that never comes.
            raise att.ATT_Error(att.ATT_WRITE_NOT_PERMITTED_ERROR, self.handle)
        self.data = bytes(value[: self.buffer])  # a board truncates to the value buffer
        self.bridge.event(_IRQ_GATTS_WRITE, connection.handle, self.handle, self.data.hex() or "-")


class BleBridge:
    """The lock's radio. Created per virtual board; lives as long as the board's power."""

    def __init__(self, radio, address: str, send_event, radio_power=None):
        self._radio = radio
        # radio_power(advertising, connections, interval_ms): the radio's power state changed
        # (the board's energy account charges advertising and connections their own current).
        self._radio_power = radio_power or (lambda advertising, connections: None)
        self._advertising = False
        self._interval_ms = 100.0
        self._address = address
        self._send_event = send_event
        self._device: Device | None = None
        self._values: dict[int, _Value] = {}
        self._chars: dict[int, gatt.Characteristic] = {}
        self._connections: dict[int, Connection] = {}
        self._name = "hemlas"
        self._max_mtu = 23

    @property
    def address(self) -> str:
        return self._address

    def event(self, *fields) -> None:
        self._send_event("ble " + " ".join(str(f) for f in fields))

    # ---- requests from the firmware -----------------------------------------------------

    def handle(self, words: list[str]) -> str:
        op = words[0]
        if op == "ble_active":
            if words[1] == "1":
                self._radio.run(self._power_on())
            else:
                self.power_lost()
            return "ok"
        if op == "ble_config":
            value = _unhex(words[2]).decode()
            if words[1] == "gap_name":
                self._name = value
            elif words[1] == "mtu":
                self._max_mtu = int(value)
                if self._device:
                    self._device.gatt_server.max_mtu = self._max_mtu
            return "ok"
        if op == "ble_config_get":
            return {"mac": self._address, "gap_name": self._name, "mtu": str(self._max_mtu)}[words[1]]
        device = self._device
        if device is None:
            raise ValueError("the radio is not active")  # OSError on the firmware side
        if op == "ble_register":
            return self._radio.run(self._register(device, words[1]))
        if op == "ble_write":  # ble_write HANDLE SEND_UPDATE DATA
            value = self._values[int(words[1])]
            value.data = _unhex(words[3])
            if words[2] == "1":
                self._radio.run(device.notify_subscribers(self._chars[value.handle], value.data))
            return "ok"
        if op == "ble_notify":
            connection = self._connections.get(int(words[1]))
            if connection is None:
                return "!ENOTCONN"
            char = self._chars[int(words[2])]
            self._radio.run(device.notify_subscriber(connection, char, _unhex(words[3]), force=True))
            return "ok"
        if op == "ble_buffer":
            self._values[int(words[1])].buffer = int(words[2])
            return "ok"
        if op == "ble_advertise":
            self._radio.run(self._advertise(device, int(words[1]), _unhex(words[2]), _unhex(words[3]),
                                            words[4] == "1"))
            self._interval_ms = int(words[1]) / 1000
            self._power_state(True)
            return "ok"
        if op == "ble_advertise_stop":
            self._radio.run(device.stop_advertising())
            self._power_state(False)
            return "ok"
        if op == "ble_disconnect":
            connection = self._connections.get(int(words[1]))
            if connection is None:
                return "!ENOTCONN"
            self._radio.run(connection.disconnect())
            return "ok"
        raise ValueError(f"unknown request {op!r}")

    def power_lost(self) -> None:
        """The lock lost power or reset: its radio goes silent and its links drop."""
        device, self._device = self._device, None
        self._connections.clear()
        self._power_state(False)
        self._values.clear()
        self._chars.clear()
        if device is not None:
            coro = self._radio.hub.remove_peripheral(device)
            try:
                self._radio.run(coro)
            except (VirtualBoardError, RuntimeError):  # RuntimeError: the radio already closed
                coro.close()
                logger.warning("radio did not release the lock's device", exc_info=True)

    def _power_state(self, advertising: bool) -> None:
        self._advertising = advertising
        self._radio_power(advertising, len(self._connections), self._interval_ms)

    # ---- on the radio's event loop ------------------------------------------------------

    async def _power_on(self) -> None:
        if self._device is not None:
            return
        device = await self._radio.hub.add_peripheral(self._name, self._address)
        device.gatt_server.max_mtu = self._max_mtu
        device.on("connection", self._on_connection)
        self._device = device

    def _on_connection(self, connection: Connection) -> None:
        handle = connection.handle
        self._connections[handle] = connection
        self._power_state(False)  # the controller stops advertising on a connection
        peer = connection.peer_address
        addr = bytes(reversed(bytes(peer))).hex()  # Bumble keeps addresses little-endian
        connection.on("disconnection", lambda reason: self._on_disconnection(connection, addr))
        connection.on("connection_att_mtu_update", lambda: self.event(_IRQ_MTU_EXCHANGED, handle, connection.att_mtu))
        self.event(_IRQ_CENTRAL_CONNECT, handle, int(peer.address_type) & 1, addr)

    def _on_disconnection(self, connection: Connection, addr: str) -> None:
        if self._connections.pop(connection.handle, None) is not None:
            self._power_state(self._advertising)
            self.event(_IRQ_CENTRAL_DISCONNECT, connection.handle, 1, addr)

    async def _register(self, device: Device, spec: str) -> str:
        services, groups = [], []
        for service_spec in spec.split(";"):
            service_uuid, _, char_specs = service_spec.partition("=")
            chars, handles = [], []
            for char_spec in char_specs.split(","):
                uuid, _, flags = char_spec.partition("/")
                value = _Value(self, int(flags))
                props = gatt.Characteristic.Properties(int(flags) & 0x3E)
                char = gatt.Characteristic(
                    _uuid(uuid), props,
                    gatt.Characteristic.Permissions.READABLE | gatt.Characteristic.Permissions.WRITEABLE,
                    gatt.CharacteristicValue(read=value.read, write=value.write),
                )
                chars.append(char)
                handles.append(value)
            services.append(gatt.Service(_uuid(service_uuid), chars))
            groups.append((chars, handles))
        device.add_services(services)
        answer = []
        for chars, values in groups:
            for char, value in zip(chars, values):
                value.handle = char.handle
                self._values[char.handle] = value
                self._chars[char.handle] = char
            answer.append(",".join(str(c.handle) for c in chars))
        return ";".join(answer)

    async def _advertise(self, device: Device, interval_us: int, adv: bytes, resp: bytes,
                         connectable: bool) -> None:
        if device.is_advertising:
            await device.stop_advertising()
        interval_ms = max(20.0, interval_us / 1000)
        await device.start_advertising(
            advertising_type=(AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE if connectable
                              else AdvertisingType.UNDIRECTED_SCANNABLE),
            own_address_type=OwnAddressType.RANDOM,
            advertising_data=adv,
            scan_response_data=resp,
            advertising_interval_min=interval_ms,
            advertising_interval_max=interval_ms,
        )
