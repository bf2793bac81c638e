"""What the bleak backend's scanner and client share: one Bumble host on the virtual radio.

Bumble objects bind to the running event loop, and the link routes by address, so each
process keeps one host (a Bumble `Device` with its own random address) per event loop and
radio, shared by every scanner and client on that loop. It is opened by the first user and
closed by the last, so a per-test event loop leaves no connection behind.

Clients also share the machine's GATT cache (GattCache), as programs on one computer share
the operating system's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import uuid
from typing import Any, ClassVar, NotRequired, TypedDict

from bleak.exc import (BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason,
                       BleakError, BleakGATTProtocolError)
from bumble import att, core, hci
from bumble.device import Device, Peer
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy, ServiceProxy
from bumble.transport import open_transport
from bumble.transport.common import Transport


class BumbleArgs(TypedDict):
    """The `bumble=` argument of BleakScanner and BleakClient on the virtual radio."""

    transport: str
    """Bumble transport of the radio hub, e.g. "unix:/tmp/radio.sock"."""
    mtu: NotRequired[int | None]
    """ATT MTU the client asks for after connecting (config.DEFAULT_MTU); None keeps 23."""


class SharedRadio:
    """One Bumble host on one radio for one event loop, counted by its users."""

    _open: ClassVar[dict[tuple[asyncio.AbstractEventLoop, str], SharedRadio]] = {}

    def __init__(self, key: tuple[asyncio.AbstractEventLoop, str]) -> None:
        self._key = key
        self._lock = asyncio.Lock()
        self._users = 0
        self._scanners = 0
        # A Bumble host makes one LE connection at a time; clients of a loop take turns.
        self.connect_lock = asyncio.Lock()
        self.device: Device | None = None
        self._transport: Transport | None = None

    @classmethod
    async def acquire(cls, transport: str) -> SharedRadio:
        """Get this loop's host on the radio, powering it on for the first user.

        Raises:
            BleakBluetoothNotAvailableError: if no radio hub answers at that transport.
        """
        key = (asyncio.get_running_loop(), transport)
        while True:
            radio = cls._open.setdefault(key, cls(key))
            async with radio._lock:
                if cls._open.get(key) is not radio:
                    continue  # its last user closed it while we waited
                if radio.device is None:
                    await radio._power_on()
                radio._users += 1
                return radio

    async def release(self) -> None:
        """Give the host back; the last user closes it."""
        async with self._lock:
            self._users -= 1
            if self._users:
                return
            self._forget()
            transport, self._transport, self.device = self._transport, None, None
            if transport is not None:
                await transport.close()

    async def start_scanning(self, active: bool) -> None:
        """Scan while at least one scanner wants to (the first one sets the mode)."""
        async with self._lock:
            self._scanners += 1
            if self._scanners == 1 and self.device is not None:
                with bleak_errors("start scanning"):
                    await self.device.start_scanning(active=active)

    async def stop_scanning(self) -> None:
        """Stop scanning when the last scanner stops."""
        async with self._lock:
            self._scanners -= 1
            if self._scanners == 0 and self.device is not None:
                with bleak_errors("stop scanning"):
                    await self.device.stop_scanning()

    async def _power_on(self) -> None:
        spec = self._key[1]
        try:
            self._transport = await open_transport(spec)
            # Its own random address: the link routes by address, so processes must differ.
            device = Device.with_hci("hemlas", hci.Address.generate_static_address(),
                                     self._transport.source, self._transport.sink)
            await device.power_on()
        except BaseException as err:
            self._forget()  # the next user tries afresh
            if self._transport is not None:
                await self._transport.close()
                self._transport = None
            if isinstance(err, (OSError, core.BaseBumbleError)):
                raise BleakBluetoothNotAvailableError(
                    f"no virtual radio at {spec}: {err}",
                    BleakBluetoothNotAvailableReason.NO_BLUETOOTH) from err
            raise
        self.device = device
        self._transport.source.terminated.add_done_callback(lambda _: self._on_radio_lost())

    def _on_radio_lost(self) -> None:
        # The hub went away (its process stopped); Bumble has already ended every link of
        # this host. The next acquire() powers on a new one (or finds no radio).
        self.device = None

    def _forget(self) -> None:
        if self._open.get(self._key) is self:
            del self._open[self._key]


class GattCache:
    """The virtual radio's stand-in for the operating system's GATT cache.

    Windows keeps the services it discovered on a device, by the device's address, for every
    program on the machine, and serves them without asking the device again when a client
    asks for it (bleak: ``BleakClient(..., winrt={"use_cached_services": True})``); an
    uncached read refreshes it. This is that cache for the machine the virtual radio is: one
    JSON file beside the radio's socket, shared by the processes on that radio (and gone
    with the radio's own directory). It holds what a discovery found: handles, UUIDs,
    properties.

    Args:
        transport: the radio's Bumble transport ("unix:/path/radio.sock"); any other kind
            of transport gets a cache of this process only.
    """

    _memory: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, transport: str) -> None:
        self._path = transport[len("unix:"):] + ".gatt-cache.json" if transport.startswith("unix:") else None
        self._key = transport

    def get(self, peer: Peer, address: str) -> list[ServiceProxy] | None:
        """The services cached for this address as Bumble proxies on peer's connection, as
        if just discovered; None if there are none (or none readable)."""
        cached = self._load().get(address.upper())
        try:
            return _proxies(peer, cached) if isinstance(cached, list) else None
        except (KeyError, TypeError, ValueError, core.BaseBumbleError):
            return None  # not a cache this code wrote: discovered again, and replaced

    def put(self, address: str, services: list[ServiceProxy]) -> None:
        """Replace what is cached for this address with these discovered services."""
        entries = self._load()
        entries[address.upper()] = [_entry(service) for service in services]
        if self._path is None:
            self._memory[self._key] = entries
            return
        with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
            directory = os.path.dirname(self._path) or "."
            with tempfile.NamedTemporaryFile("w", dir=directory, delete=False,
                                             prefix=".gatt-cache.") as tmp:
                json.dump(entries, tmp)
            try:
                os.replace(tmp.name, self._path)  # whole: another process may be reading it
            except OSError:
                os.unlink(tmp.name)
                raise

    def _load(self) -> dict[str, Any]:
        if self._path is None:
            return dict(self._memory.get(self._key, {}))
        try:
            with open(self._path, encoding="utf-8") as file:
                entries = json.load(file)
        except (OSError, ValueError):
            return {}
        return entries if isinstance(entries, dict) else {}


def _entry(service: ServiceProxy) -> dict[str, Any]:
    """A discovered service as the GATT cache keeps it: handles, UUIDs, properties."""
    return {"uuid": service.uuid.to_bytes().hex(), "handle": service.handle,
            "end": service.end_group_handle,
            "characteristics": [
                {"uuid": char.uuid.to_bytes().hex(), "handle": char.handle,
                 "end": char.end_group_handle, "properties": int(char.properties),
                 "descriptors": [{"uuid": desc.type.to_bytes().hex(), "handle": desc.handle}
                                 for desc in char.descriptors]}
                for char in service.characteristics]}


def _proxies(peer: Peer, entries: list[dict[str, Any]]) -> list[ServiceProxy]:
    """The cached services as Bumble proxies on this connection, as if just discovered."""
    client = peer.gatt_client
    services = []
    for entry in entries:
        service = ServiceProxy(client, entry["handle"], entry["end"], _uuid(entry["uuid"]))
        for c in entry["characteristics"]:
            char = CharacteristicProxy(client, c["handle"], c["end"], _uuid(c["uuid"]), c["properties"])
            char.descriptors = [DescriptorProxy(client, d["handle"], _uuid(d["uuid"]))
                                for d in c["descriptors"]]
            char.descriptors_discovered = True
            service.characteristics.append(char)
        services.append(service)
    client.services.extend(services)  # where a discovery would have put them
    return services


def _uuid(hex_le: str) -> core.UUID:
    return core.UUID.from_bytes(bytes.fromhex(hex_le))


@contextlib.contextmanager
def bleak_errors(what: str):
    """Turn the Bumble errors raised inside into bleak's, naming the operation."""
    try:
        yield
    except att.ATT_Error as err:
        raise BleakGATTProtocolError(err.error_code) from err
    except core.TimeoutError as err:
        raise TimeoutError(f"{what}: no answer in time") from err
    except core.BaseBumbleError as err:
        raise BleakError(f"{what}: {err}") from err


def uuid_str(bumble_uuid: core.UUID) -> str:
    """A Bumble UUID as bleak writes UUIDs: 128-bit, lower case, with dashes."""
    return str(uuid.UUID(bytes=bytes(reversed(bumble_uuid.to_bytes(force_128=True)))))
