"""The harness side of the simulated `bluetooth` module: a Bumble device on the virtual radio.

The firmware's BLE calls (sim/mpy/bluetooth.py) arrive here as lines; each becomes an action on
a Bumble peripheral `Device` that the radio hub gives this lock, run on the radio's event loop.
Bumble's callbacks (a central connected, wrote, read, negotiated the MTU, left) go back to the
firmware as IRQ event lines with MicroPython's event numbers and data.

Notifications go through a bounded pool of buffers, as NimBLE's: gatts_notify takes a buffer
(ble_hs_mbuf_from_flat in MicroPython's modbluetooth_nimble.c) that is freed only once the radio
has sent it, a few per connection event; with none free the call fails with ENOMEM. The pool
holds NOTIFY_POOL buffers by default: what a burst of notifies gets on an ESP32 with MicroPython
v1.28, whose sdkconfig.ble leaves NimBLE's msys mbuf pools (MSYS_1_BLOCK_COUNT,
MSYS_2_BLOCK_COUNT) at ESP-IDF's defaults (measured in issue 12: 70 accepted, then errno 12
x130 for 200 notifies in a burst). Tests set `notify_pool`, `notify_per_event` and `stalled`.
"""

from __future__ import annotations

import asyncio
import binascii
import itertools
import logging
import threading
import time

from bumble import att, gatt
from bumble.core import UUID
from bumble.device import AdvertisingType, Connection, Device
from bumble.hci import Address, HCI_LE_Set_Random_Address_Command, OwnAddressType

from ..errors import VirtualBoardError

logger = logging.getLogger(__name__)

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_GATTS_READ_REQUEST = 4
_IRQ_MTU_EXCHANGED = 21
_ADDR_MODE_RPA = 2
# NimBLE's built-in IRK (ble_hs_pvcy_default_irk in ble_hs_pvcy.c): our IRK when the firmware
# gives none and stores none. The same on every NimBLE device, so anyone resolves its RPAs.
NIMBLE_DEFAULT_IRK = bytes.fromhex("ef8de2164fec430dbf5bdd34c0531eb8")
_ENOMEM = 12  # MP_ENOMEM: ble_hs_err_to_errno maps BLE_HS_ENOMEM to it
_ENOTCONN = 107  # MP_ENOTCONN, from BLE_HS_ENOTCONN
_ENODEV = 19  # MP_ENODEV: ERRNO_BLUETOOTH_NOT_ACTIVE
_EINVAL = 22
_UNKNOWN_KEY = "?unknown config param"  # ValueError with modbluetooth.c's message, in the firmware
_GAP_NAME_MAX = 31  # ESP-IDF's CONFIG_BT_NIMBLE_GAP_DEVICE_NAME_MAX_LEN
_MIN_MTU, _MAX_MTU = 23, 527  # BLE_ATT_MTU_DFLT, BLE_ATT_MTU_MAX: ble_att_set_preferred_mtu's range

_FLAG_READ = 0x0002
_FLAG_WRITE_NO_RESPONSE = 0x0004
_FLAG_WRITE = 0x0008
_FLAG_NOTIFY = 0x0010
_FLAG_INDICATE = 0x0020
_DEFAULT_BUFFER = 20  # MicroPython's default value buffer: one write at the default MTU
_DEFAULT_GAP_NAME = "MPY ESP32"  # CONFIG_BT_NIMBLE_SVC_GAP_DEVICE_NAME in ports/esp32/boards/sdkconfig.ble
NOTIFY_POOL = 70  # buffers a burst of notifies gets (see the module's docstring)
NOTIFY_PER_EVENT = 4  # notifications the controller sends per connection event
_CONNECTION_INTERVAL_MS = 30.0  # when the link reports none (the emulated link has no timing)
_READ_ANSWER_TIMEOUT_S = 5.0  # a firmware that never answers a read request: the read fails


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

    async def read(self, connection: Connection) -> bytes:
        if not self.flags & _FLAG_READ:
            raise att.ATT_Error(att.ATT_READ_NOT_PERMITTED_ERROR, self.handle)
        # NimBLE's access callback asks the firmware first (_IRQ_GATTS_READ_REQUEST); its
        # handler may gatts_write a fresh value, or return an ATT error code to refuse.
        code = await self.bridge.read_request(connection.handle, self.handle)
        if code:
            raise att.ATT_Error(code, self.handle)
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

    def __init__(self, radio, address: str, send_event, radio_power=None, start_ms: float = 0.0):
        self._radio = radio
        # How long ble.active(True) takes on the chip (the board's power["ble_start_ms"]): the
        # controller and NimBLE starting; the firmware waits, awake, as it would on a board.
        self._start_s = start_ms / 1000
        # radio_power(advertising, connections, interval_ms): the radio's power state changed
        # (the board's energy account charges advertising and connections their own current).
        self._radio_power = radio_power or (lambda advertising, connections: None)
        self._advertising = False
        self.advertised_at: float | None = None  # when advertising last began (monotonic)
        self._interval_ms = 100.0
        self._address = address
        self._send_event = send_event
        self._device: Device | None = None
        self._values: dict[int, _Value] = {}
        self._chars: dict[int, gatt.Characteristic] = {}
        self._connections: dict[int, Connection] = {}
        self._name = _DEFAULT_GAP_NAME
        self._irk = NIMBLE_DEFAULT_IRK  # our IRK, as the stack loaded it (ble_irk)
        self._rpa = False  # addr_mode 2: advertising from a resolvable private address
        self.current_address = address  # what the lock advertises from now
        self._max_mtu = 23
        self._reads: dict[int, asyncio.Future] = {}
        self._read_tokens = itertools.count(1)
        # The notify pool: shared by all connections, as NimBLE's msys pools are.
        self.notify_pool = NOTIFY_POOL
        self.notify_per_event = NOTIFY_PER_EVENT
        self.stalled = False  # the central stops taking packets: the link stays, nothing drains
        self._pool_lock = threading.Lock()
        self._pool_used = 0
        self._pool_generation = 0  # a power loss empties the pool; late releases are ignored
        self._queues: dict[int, asyncio.Queue] = {}
        self._drainers: dict[int, asyncio.Task] = {}

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
                if self._device is None and self._start_s:
                    time.sleep(self._start_s)
                self._radio.run(self._power_on())
            else:
                self.power_lost(reset=False)
            return "ok"
        if op == "ble_irk":  # ble_irk HEX: the IRK the stack loaded as it started ("-": its default)
            self._irk = _unhex(words[1]) or NIMBLE_DEFAULT_IRK
            return "ok"
        if op == "ble_config":  # ble_config KEY HEX: one keyword of BLE.config()
            return self._config(words[1], _unhex(words[2]))
        if op == "ble_config_get":
            if words[1] == "mac":  # a random static address: type 1, most significant byte first
                if self._device is None:
                    return f"errno {_ENODEV}"
                if self._rpa:
                    return f"errno {_EINVAL}"  # mp_bluetooth_get_current_address: not for an RPA
                return "1 " + self._address.replace(":", "").lower()
            if words[1] == "gap_name":
                return self._name.encode().hex() or "-"
            # "rxbuf" is unknown too: the ESP32 port's events are synchronous (no ring buffer).
            return str(self._max_mtu) if words[1] == "mtu" else _UNKNOWN_KEY
        if op == "ble_read_answer":  # ble_read_answer TOKEN CODE: the handler's verdict
            future = self._reads.get(int(words[1]))
            if future is not None:
                self._radio.call_soon(_resolve, future, int(words[2]))
            return "ok"
        device = self._device
        if device is None:
            return f"errno {_ENODEV}"  # ERRNO_BLUETOOTH_NOT_ACTIVE in modbluetooth_nimble.c
        if op == "ble_register":
            return self._radio.run(self._register(device, words[1]))
        if op == "ble_write":  # ble_write HANDLE SEND_UPDATE DATA
            value = self._values[int(words[1])]
            value.data = _unhex(words[3])
            if words[2] == "1":
                self._radio.run(device.notify_subscribers(self._chars[value.handle], value.data))
            return "ok"
        if op == "ble_notify":
            handle = int(words[1])
            if handle not in self._connections:
                return f"errno {_ENOTCONN}"
            char = self._chars[int(words[2])]
            with self._pool_lock:
                if self._pool_used >= self.notify_pool:
                    return f"errno {_ENOMEM}"
                self._pool_used += 1
                generation = self._pool_generation
            self._radio.call_soon(self._enqueue, handle, (generation, char, _unhex(words[3])))
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
                return f"errno {_ENOTCONN}"
            self._radio.run(connection.disconnect())
            return "ok"
        raise ValueError(f"unknown request {op!r}")

    def _config(self, key: str, value: bytes) -> str:
        """BLE.config(key=value), as modbluetooth.c's bluetooth_ble_config takes it."""
        if key == "gap_name":
            if len(value) > _GAP_NAME_MAX:
                return f"errno {_EINVAL}"  # mp_bluetooth_gap_set_device_name
            self._name = value.decode()
            if self._device:
                self._radio.run(self._apply_gap_name(self._device))
            return "ok"
        if key == "mtu":
            if self._device is None:
                return f"errno {_ENODEV}"
            mtu = int(value)
            if not _MIN_MTU <= mtu <= _MAX_MTU:
                return f"errno {_EINVAL}"  # ble_att_set_preferred_mtu refuses it
            self._max_mtu = mtu
            self._device.gatt_server.max_mtu = mtu
            return "ok"
        if key == "addr_mode":
            # mp_bluetooth_set_address_mode; 2 (RPA): the controller makes a resolvable
            # private address from our IRK, new each time the stack starts (rpa()).
            if self._device is None:
                return f"errno {_ENODEV}"  # ERRNO_BLUETOOTH_NOT_ACTIVE
            mode = int(value)
            self._rpa = mode == _ADDR_MODE_RPA
            if self._rpa:
                self._radio.run(self._use_rpa(self._device))
            return "ok"
        return _UNKNOWN_KEY

    def power_lost(self, reset: bool = True) -> None:
        """The lock lost power or reset (or, reset False, switched its radio off with
        active(False)): its radio goes silent and its links drop."""
        with self._pool_lock:  # the harness and the process's reader thread may both call this
            device, self._device = self._device, None
        self._rpa = False
        if reset:  # the GAP name lives in the stack's RAM: active(False) keeps it
            self._name = _DEFAULT_GAP_NAME
        self.current_address = self._address
        self._connections.clear()
        with self._pool_lock:
            self._pool_used = 0
            self._pool_generation += 1
        for task in list(self._drainers.values()):
            self._radio.call_soon(task.cancel)
        self._drainers.clear()
        self._queues.clear()
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
        if advertising and not self._advertising:
            self.advertised_at = time.monotonic()  # benchmarks split a wake's latency by it
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
        await self._apply_gap_name(device)

    async def _use_rpa(self, device: Device) -> None:
        # Bumble's IRK is little-endian, as NimBLE's and HCI's are.
        address = Address.generate_private_address(self._irk)
        await device.send_command(HCI_LE_Set_Random_Address_Command(random_address=address))
        device.random_address = address
        self.current_address = str(address).split("/")[0]

    async def _apply_gap_name(self, device: Device) -> None:
        """The name in the GAP service (0x1800, Device Name 0x2A00), as config(gap_name=) sets it."""
        device.name = self._name
        for attribute in device.gatt_server.attributes:
            if isinstance(attribute, gatt.Characteristic) and attribute.uuid == gatt.GATT_DEVICE_NAME_CHARACTERISTIC:
                attribute.value = self._name.encode()

    async def read_request(self, conn_handle: int, value_handle: int) -> int:
        """Ask the firmware's IRQ handler about a client's read: 0, or an ATT error code."""
        token = next(self._read_tokens)
        future = asyncio.get_running_loop().create_future()
        self._reads[token] = future
        self.event(_IRQ_GATTS_READ_REQUEST, conn_handle, value_handle, token)
        try:
            return await asyncio.wait_for(future, _READ_ANSWER_TIMEOUT_S)
        except asyncio.TimeoutError:
            return att.ATT_UNLIKELY_ERROR_ERROR  # the firmware is hung: no value to give
        finally:
            self._reads.pop(token, None)

    def _release(self, generation: int) -> None:
        with self._pool_lock:
            if generation == self._pool_generation and self._pool_used > 0:
                self._pool_used -= 1

    def _enqueue(self, conn_handle: int, item: tuple) -> None:
        queue = self._queues.get(conn_handle)
        if queue is None:  # the link dropped after the notify was accepted
            self._release(item[0])
            return
        queue.put_nowait(item)

    async def _drain(self, connection: Connection, queue: asyncio.Queue) -> None:
        """Send queued notifications a few per connection event, freeing their buffers."""
        parameters = getattr(connection, "parameters", None)
        interval_ms = getattr(parameters, "connection_interval", 0) or _CONNECTION_INTERVAL_MS
        interval_s = max(7.5, interval_ms) / 1000
        held = None
        try:
            while True:
                held = await queue.get()
                sent = 0
                while held is not None:
                    while self.stalled:
                        await asyncio.sleep(interval_s)
                    generation, char, data = held
                    device = self._device
                    if device is not None:
                        await device.notify_subscriber(connection, char, data, force=True)
                    held = None
                    self._release(generation)
                    sent += 1
                    if sent < self.notify_per_event and not queue.empty():
                        held = queue.get_nowait()
                await asyncio.sleep(interval_s)  # the next connection event
        finally:
            if held is not None:
                self._release(held[0])
            while not queue.empty():
                self._release(queue.get_nowait()[0])

    def _on_connection(self, connection: Connection) -> None:
        handle = connection.handle
        self._connections[handle] = connection
        queue: asyncio.Queue = asyncio.Queue()
        self._queues[handle] = queue
        self._drainers[handle] = asyncio.get_running_loop().create_task(self._drain(connection, queue))
        self._power_state(False)  # the controller stops advertising on a connection
        peer = connection.peer_address
        addr = bytes(reversed(bytes(peer))).hex()  # Bumble keeps addresses little-endian
        connection.on("disconnection", lambda reason: self._on_disconnection(connection, addr))
        connection.on("connection_att_mtu_update", lambda: self.event(_IRQ_MTU_EXCHANGED, handle, connection.att_mtu))
        self.event(_IRQ_CENTRAL_CONNECT, handle, int(peer.address_type) & 1, addr)

    def _on_disconnection(self, connection: Connection, addr: str) -> None:
        self._queues.pop(connection.handle, None)
        drainer = self._drainers.pop(connection.handle, None)
        if drainer is not None:
            drainer.cancel()  # NimBLE frees a closed link's queued packets
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


def _resolve(future: asyncio.Future, code: int) -> None:
    if not future.done():
        future.set_result(code)
