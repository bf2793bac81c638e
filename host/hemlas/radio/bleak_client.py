"""The bleak client backend for the virtual radio, on Bumble's GATT client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bleak.args import SizedBuffer
from bleak.assigned_numbers import gatt_char_props_to_strs
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.device import Connection, Peer
from bumble.gatt import GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR
from bumble.gatt_client import ServiceProxy

from .bleak_backend import BumbleArgs, GattCache, SharedRadio, bleak_errors, uuid_str
from .config import DEFAULT_MTU

logger = logging.getLogger(__name__)

_background_tasks: set[asyncio.Task] = set()  # the loop keeps only weak references


class BumbleBleakClient(BaseBleakClient):
    """A GATT client on the virtual radio; use through BleakClient(backend=..., bumble=...).

    It behaves as a real radio would where host code could tell the difference: it asks
    for a larger ATT MTU after connecting, refuses a write that does not fit in one ATT
    packet, refuses operations the characteristic's properties do not allow, and reports
    ATT error responses as BleakGATTProtocolError.

    Services come from the machine's GATT cache (GattCache) instead of a discovery only when
    the caller asks for it, as on Windows: ``winrt={"use_cached_services": True}``. That is
    the one platform option whose documented effect is to skip the discovery on the air;
    BlueZ's ``dangerous_use_bleak_cache`` only spares waiting for ServicesResolved while
    bluetoothd discovers on its own, so here it changes nothing. A discovery (asked for, or
    with nothing cached) refreshes the cache.

    Args:
        address_or_ble_device: the lock's address, or the BLEDevice a scanner returned.
        bumble: where the radio is and which MTU to ask for (see BumbleArgs).
        services: discover only these service UUIDs.
        winrt: the Windows backend's options; only use_cached_services is honoured.
        **kwargs: BaseBleakClient's (timeout, disconnected_callback) and other backends'.
    """

    def __init__(self, address_or_ble_device: BLEDevice | str, *, bumble: BumbleArgs,
                 services: set[str] | None = None, winrt: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, **kwargs)
        self._transport = bumble["transport"]
        self._mtu_request = bumble.get("mtu", DEFAULT_MTU)
        self._service_filter = services
        self._use_cached_services = bool((winrt or {}).get("use_cached_services"))
        self._cache = GattCache(self._transport)
        given_name = getattr(address_or_ble_device, "name", None)
        self._name = given_name or self.address.replace(":", "-")
        self._radio: SharedRadio | None = None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._disconnecting = False
        self._notify: dict[int, Callable[[bytes], None]] = {}  # subscriber by char handle

    @property
    def name(self) -> str:
        """The name from the scan, or the address with dashes."""
        return self._name

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU (23 until one is negotiated)."""
        return self._peer.gatt_client.mtu if self._peer else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        """Whether the link is up."""
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, negotiate the MTU and discover services (or take them from the cache, if
        asked for at construction), all within the timeout.

        Args:
            pair: not supported on the virtual radio; logged and ignored.
            **kwargs: other backends' (BlueZ's dangerous_use_bleak_cache: no effect here).

        Raises:
            TimeoutError: if the lock did not answer in time (it is absent or connected).
            BleakBluetoothNotAvailableError: if the virtual radio is not running.
            BleakError: if the connection or discovery failed.
        """
        if pair:
            logger.warning("the virtual radio does not pair; connecting without pairing")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        self._radio = await SharedRadio.acquire(self._transport)
        try:
            async with asyncio.timeout_at(deadline):
                await self._radio.connect_lock.acquire()
            try:
                if self._radio.device is None:
                    raise BleakError("connect: the virtual radio went away")
                with bleak_errors("connect"):
                    # Bumble's own timeout, so it cancels the connection attempt cleanly.
                    connection = await self._radio.device.connect(
                        hci.Address(self.address), timeout=max(deadline - loop.time(), 0.0))
            finally:
                self._radio.connect_lock.release()
            connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
            self._connection, self._peer = connection, Peer(connection)
            async with asyncio.timeout_at(deadline):
                with bleak_errors("service discovery"):
                    # No automatic exchange in Bumble: without this the MTU stays 23.
                    if self._mtu_request:
                        await self._peer.request_mtu(self._mtu_request)
                    cached = (self._cache.get(self._peer, self.address)
                              if self._use_cached_services else None)
                    if cached is None:
                        cached = await self._discover(self._peer)
                        self._cache.put(self.address, cached)
                    self.services = self._collection(cached)
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        """Disconnect (if connected) and let go of the radio."""
        if self._connection is not None:
            self._disconnecting = True
            try:
                with bleak_errors("disconnect"):
                    await self._connection.disconnect()
            finally:
                self._disconnecting = False
        radio, self._radio = self._radio, None
        if radio is not None:
            await radio.release()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Not supported on the virtual radio."""
        raise NotImplementedError("the virtual radio does not pair")

    async def unpair(self) -> None:
        """Not supported on the virtual radio."""
        raise NotImplementedError("the virtual radio does not pair")

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        """Read a characteristic's value (always from the lock: there is no cache).

        Raises:
            BleakGATTProtocolError: if the characteristic is not readable or the lock refused.
        """
        _require(characteristic, "read", att.ATT_READ_NOT_PERMITTED_ERROR)
        return bytearray(await self._att("read", characteristic.obj.read_value))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        """Read a descriptor's value (always from the lock)."""
        return bytearray(await self._att("read descriptor", descriptor.obj.read_value))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic,
                              data: SizedBuffer, response: bool) -> None:
        """Write a value in one ATT packet, with or without response.

        Raises:
            BleakGATTProtocolError: if the characteristic's properties do not allow this
                kind of write, or the lock answered with an ATT error.
            BleakError: if the value is longer than MTU - 3 bytes.
        """
        _require(characteristic, "write" if response else "write-without-response",
                 att.ATT_WRITE_NOT_PERMITTED_ERROR)
        value = self._fitting(data)
        await self._att("write", characteristic.obj.write_value, value, with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor,
                                    data: SizedBuffer) -> None:
        """Write a descriptor's value, with response."""
        value = self._fitting(data)
        await self._att("write descriptor", descriptor.obj.write_value, value,
                        with_response=True)

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        """Subscribe through the CCCD, preferring notifications to indications.

        Raises:
            BleakError: if the characteristic neither notifies nor indicates.
        """
        proxy = characteristic.obj
        if proxy.get_descriptor(GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR) is None:
            raise BleakError(f"{characteristic.uuid} has no CCCD: it cannot notify")

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        await self._att("subscribe", proxy.subscribe, on_value, prefer_notify=True)
        self._notify[characteristic.handle] = on_value

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Unsubscribe (writes zero to the CCCD)."""
        on_value = self._notify.pop(characteristic.handle, None)
        if on_value is not None:
            await self._att("unsubscribe", characteristic.obj.unsubscribe, on_value)

    def _fitting(self, data: SizedBuffer) -> bytes:
        # One ATT packet carries MTU - 3 bytes of value. Bumble would quietly split a longer
        # write; a phone or an ESP32 would not, so the firmware must never depend on it.
        limit = self.mtu_size - 3
        if len(data) > limit:
            raise BleakError(f"{len(data)} bytes do not fit in one write at MTU "
                             f"{self.mtu_size} (at most {limit})")
        return bytes(data)

    async def _att(self, what: str, operation: Callable[..., Any], *args: Any, **kwargs: Any):
        if self._connection is None:
            raise BleakError("Not connected")
        try:
            with bleak_errors(what):
                return await operation(*args, **kwargs)
        except asyncio.CancelledError as err:
            # Bumble cancels the pending ATT request when the link drops: that is a
            # disconnection, not a cancellation of the caller's task.
            task = asyncio.current_task()
            if self._connection is None and task is not None and not task.cancelling():
                raise BleakError(f"{what}: disconnected") from err
            raise

    async def _discover(self, peer: Peer) -> list[ServiceProxy]:
        uuids = [core.UUID(u) for u in self._service_filter or ()]
        services = await peer.discover_services(uuids)
        for service in services:
            await peer.discover_characteristics(service=service)
            for char in service.characteristics:
                await peer.discover_descriptors(characteristic=char)
                # Bumble forgets that it did, and would ask again on subscribing: a platform
                # stack discovers a characteristic's descriptors once.
                char.descriptors_discovered = True
        return services

    def _collection(self, services: list[ServiceProxy]) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service in services:
            bleak_service = BleakGATTService(service, service.handle, uuid_str(service.uuid))
            if self._service_filter and bleak_service.uuid not in self._service_filter:
                continue  # the cache may hold more than this client asked for
            collection.add_service(bleak_service)
            for char in service.characteristics:
                # BlueZ numbers a characteristic by its declaration: value handle - 1.
                bleak_char = BleakGATTCharacteristic(
                    char, char.handle - 1, uuid_str(char.uuid),
                    list(gatt_char_props_to_strs(char.properties)),
                    lambda: self.mtu_size - 3, bleak_service)
                collection.add_characteristic(bleak_char)
                for desc in char.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, uuid_str(desc.type), bleak_char))
        return collection

    def _on_disconnection(self, _reason: int) -> None:
        self._connection = self._peer = None
        self._notify.clear()
        if not self._disconnecting and self._radio is not None:
            # Unsolicited: nobody will call disconnect() for the radio, so let go of it here.
            radio, self._radio = self._radio, None
            task = asyncio.get_running_loop().create_task(radio.release())
            _background_tasks.add(task)
            task.add_done_callback(_background_tasks.discard)
        # Every disconnect, requested or not, as the BlueZ backend does.
        if self._disconnected_callback is not None:
            self._disconnected_callback()


def _require(characteristic: BleakGATTCharacteristic, prop: str, error_code: int) -> None:
    # Platform stacks refuse these before sending anything; Bumble would send them.
    if prop not in characteristic.properties:
        raise BleakGATTProtocolError(error_code)

