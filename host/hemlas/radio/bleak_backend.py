"""What the bleak backend's scanner and client share: one Bumble host on the virtual radio.

Bumble objects bind to the running event loop, and the link routes by address, so each
process keeps one host (a Bumble `Device` with its own random address) per event loop and
radio, shared by every scanner and client on that loop. It is opened by the first user and
closed by the last, so a per-test event loop leaves no connection behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import ClassVar, NotRequired, TypedDict

from bleak.exc import (BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason,
                       BleakError, BleakGATTProtocolError)
from bumble import att, core, hci
from bumble.device import Device
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
