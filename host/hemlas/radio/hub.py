"""The virtual radio: a Bumble link that virtual locks and client processes share.

The hub runs in the virtual board's harness process. Each lock is a Bumble host (`Device`)
on its own emulated controller; each client process attaches over a Unix socket and gets a
controller of its own, speaking H4 HCI over that socket. All controllers sit on one
`LocalLink`, which carries advertisements, connections and ATT traffic between them.

Bumble's emulated controller is patched here where it differs from a real radio:
- scan responses carry the scan response data, not a copy of the advertising data;
- advertising intervals are honoured (HCI gives 0.625 ms units, Bumble read them as ms);
- LE Create Connection Cancel is answered, so a connect to an absent lock times out;
- a client that dies, or a lock that loses power, drops its links as a silent radio would;
- the locks' GATT servers refuse reads and writes their attributes do not permit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import itertools
import logging
import os
import sys
import threading
import traceback
from typing import cast

from bumble import att, core, gatt_server, hci, ll
from bumble.controller import Controller, LegacyAdvertiser
from bumble.device import Device
from bumble.link import LocalLink
from bumble.transport.common import StreamPacketSink, StreamPacketSource

# A silent peer is seen as a supervision timeout on real radios, whatever the cause.
_LINK_LOST = hci.HCI_CONNECTION_TIMEOUT_ERROR
# Legacy advertising types, numbered alike in LE Set Advertising Parameters and in
# advertising reports.
_ADV_IND = 0x00  # connectable and scannable
_ADV_SCAN_IND = 0x02  # scannable only
_ADV_NONCONN_IND = 0x03  # neither
_SCAN_RSP = 0x04  # report type of a scan response
_ACTIVE_SCANNING = 0x01  # LE Set Scan Parameters type: scan requests are sent
logger = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 60.0  # a loaded CI machine may starve the loop's thread for seconds
_TASK_END_TIMEOUT_S = 5.0  # cancelled tasks end in milliseconds; past this one is stuck
_RUN_TIMEOUT_S = 10.0  # hub operations (power on a host, add services) take milliseconds


@dataclasses.dataclass
class _Advertisement(ll.AdvInd):  # an AdvInd, so Bumble's controller hands it to scanners
    """A legacy advertising PDU of any undirected type, with the advertiser's scan response."""

    scan_response_data: bytes = b""
    advertising_type: int = _ADV_IND


@dataclasses.dataclass
class _Advertiser(LegacyAdvertiser):
    """Bumble's legacy advertiser with real intervals and real scan response data."""

    advertising_interval_min: int = 0x0800  # the HCI default (1.28 s), not 0: a busy loop

    def _on_timer_fired(self) -> None:
        self.send_advertising_data()
        # HCI advertising intervals are in 0.625 ms units.
        self.timer_handle = asyncio.get_running_loop().call_later(
            self.advertising_interval_min * 0.000625, self._on_timer_fired)

    def send_advertising_data(self) -> None:
        if self.enabled and self.advertising_type in (_ADV_IND, _ADV_SCAN_IND, _ADV_NONCONN_IND):
            self.controller.send_advertising_pdu(_Advertisement(
                advertiser_address=self.address, data=self.advertising_data,
                scan_response_data=self.scan_response_data,
                advertising_type=self.advertising_type))


class RadioController(Controller):
    """Bumble's emulated controller, behaving as a radio where firmware or host could tell."""

    # Legacy advertising and scanning only: what MicroPython's gap_advertise uses on the
    # ESP32, and the path where scan responses and intervals are fixed above. Hosts see
    # the feature missing and use the legacy HCI commands.
    le_features = Controller.le_features & ~(
        hci.LeFeatureMask.LE_EXTENDED_ADVERTISING | hci.LeFeatureMask.LE_PERIODIC_ADVERTISING)

    def __init__(self, name: str, **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.le_legacy_advertiser = _Advertiser(self)

    def on_advertising_pdu(self, pdu) -> None:
        if not isinstance(pdu, _Advertisement):  # from a controller not made here
            super().on_advertising_pdu(pdu)
            return
        if self.le_scan_enable:
            self._report(pdu.advertising_type, pdu, pdu.data)
            if (self.le_scan_type == _ACTIVE_SCANNING
                    and pdu.advertising_type in (_ADV_IND, _ADV_SCAN_IND)):
                self._report(_SCAN_RSP, pdu, pdu.scan_response_data)
        pending = self.pending_le_connection
        if (pdu.advertising_type == _ADV_IND and pending is not None
                and pending.peer_address == pdu.advertiser_address):
            self.create_le_connection(pdu.advertiser_address)

    def _report(self, event_type: int, pdu: _Advertisement, data: bytes) -> None:
        report = hci.HCI_LE_Advertising_Report_Event.Report(
            event_type=event_type, address_type=pdu.advertiser_address.address_type,
            address=pdu.advertiser_address, data=data, rssi=-50)
        self.send_hci_packet(hci.HCI_LE_Advertising_Report_Event([report]))

    def on_hci_le_create_connection_cancel_command(self, _command):
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        failed = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR, connection_handle=0,
            role=hci.Role.CENTRAL, peer_address_type=pending.peer_address.address_type,
            peer_address=pending.peer_address, connection_interval=0, peripheral_latency=0,
            supervision_timeout=0, central_clock_accuracy=0)
        # The spec sends this event after the command's Command Complete, which the caller
        # queues (call_soon) once we return: queue ours one loop turn later.
        asyncio.get_running_loop().call_soon(self.send_hci_packet, failed)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def leave_link(self) -> None:
        """Go silent like a radio that lost power: peers see their links drop, now."""
        self.host = None  # the host is gone or powerless: tell it nothing more
        self.le_legacy_advertiser.stop()
        self.le_scan_enable = False
        self.pending_le_connection = None
        for connection in list(self.le_connections.values()):
            # Without this the peer would stay connected forever: the emulated link has no
            # supervision timeout.
            with contextlib.suppress(core.InvalidArgumentError):  # the peer left first
                connection.send_ll_control_pdu(ll.TerminateInd(_LINK_LOST))
            del self.le_connections[connection.peer_address]
        self.link.remove_controller(self)


class _CheckedGattServer(gatt_server.Server):
    """Bumble's GATT server plus the permission checks every real stack makes.

    Without them a write to a read-only value is stored or, for a value with no write
    function, never answered: the client waits out the 30 s ATT timeout.
    """

    _READ = (att.Attribute.READABLE, att.ATT_READ_NOT_PERMITTED_ERROR)
    _WRITE = (att.Attribute.WRITEABLE, att.ATT_WRITE_NOT_PERMITTED_ERROR)
    _NEEDS: dict[int, tuple[int, int]] = {  # opcode: (permission needed, error if missing)
        att.Opcode.ATT_READ_REQUEST: _READ, att.Opcode.ATT_READ_BLOB_REQUEST: _READ,
        att.Opcode.ATT_WRITE_REQUEST: _WRITE, att.Opcode.ATT_WRITE_COMMAND: _WRITE,
        att.Opcode.ATT_PREPARE_WRITE_REQUEST: _WRITE,
    }

    def on_gatt_pdu(self, bearer, att_pdu) -> None:
        need = self._NEEDS.get(att_pdu.op_code)
        if need is not None:
            handle = att_pdu.attribute_handle  # pyright: ignore[reportAttributeAccessIssue]
            attribute = self.get_attribute(handle)
            if attribute is not None and not attribute.permissions & need[0]:
                if att_pdu.op_code != att.Opcode.ATT_WRITE_COMMAND:  # commands get no answer
                    self.send_response(bearer, att.ATT_Error_Response(
                        request_opcode_in_error=att_pdu.op_code,
                        attribute_handle_in_error=handle, error_code=need[1]))
                return
        super().on_gatt_pdu(bearer, att_pdu)


class _ClientPort(StreamPacketSource):
    """One attached client process: its socket, speaking H4 HCI to its own controller."""

    _names = itertools.count(1)

    def __init__(self, hub: RadioHub) -> None:
        super().__init__()
        self._hub = hub
        self.transport: asyncio.WriteTransport | None = None
        self.controller: RadioController | None = None

    def connection_made(self, transport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)  # a Unix stream socket's
        # Its own controller, so a client that dies takes only its own state with it.
        self.controller = RadioController(
            f"client-{next(self._names)}", host_source=self,
            host_sink=StreamPacketSink(self.transport), link=self._hub.link)
        self._hub._ports.add(self)

    def connection_lost(self, exc) -> None:
        self.drop()
        self.on_transport_lost()

    def drop(self) -> None:
        """Take this client's controller off the link (once)."""
        self._hub._ports.discard(self)
        if self.controller is not None:
            self.controller.leave_link()
            self.controller = None


class RadioHub:
    """The shared link, its locks, and the Unix socket that client processes attach to.

    All methods run on the hub's event loop (see RadioThread for a synchronous harness).

    Args:
        socket_path: where clients attach, as `HEMLAS_RADIO=virtual:<socket_path>`.
    """

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.link = LocalLink()
        self._server: asyncio.AbstractServer | None = None
        self._ports: set[_ClientPort] = set()
        self._peripherals: dict[Device, RadioController] = {}

    async def start(self) -> None:
        """Listen for client processes on the socket."""
        self._server = await asyncio.get_running_loop().create_unix_server(
            lambda: _ClientPort(self), self.socket_path)

    async def add_peripheral(self, name: str, address: str) -> Device:
        """Put a powered-on lock host on the link, on a controller of its own.

        The caller adds the GATT services and starts and stops advertising.

        Args:
            name: the host's name, for logs.
            address: its random static address, e.g. "F0:12:34:56:78:01".

        Returns:
            The Bumble Device.
        """
        controller = RadioController(name, link=self.link)
        device = Device.with_hci(name, hci.Address(address), controller, controller)
        # Bumble's Device builds its server itself; the subclass adds no state, only checks.
        device.gatt_server.__class__ = _CheckedGattServer
        await device.power_on()
        self._peripherals[device] = controller
        return device

    async def remove_peripheral(self, device: Device) -> None:
        """The lock lost power: its links drop and its controller leaves the link.

        Args:
            device: a Device returned by add_peripheral.
        """
        controller = self._peripherals.pop(device, None)
        if controller is not None:  # None: the hub closed first and took every lock off
            controller.leave_link()

    async def close(self) -> None:
        """Drop every client and lock, and stop listening."""
        if self._server is not None:
            self._server.close()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
        for port in list(self._ports):
            port.drop()
            if port.transport is not None:
                port.transport.close()
        for device in list(self._peripherals):
            await self.remove_peripheral(device)


class RadioThread:
    """A RadioHub on an asyncio loop in a daemon thread, for a synchronous harness.

    Bumble objects belong to that loop: touch the hub, its devices and their GATT servers
    only from coroutines passed to run().

    Args:
        socket_path: passed to RadioHub.
    """

    def __init__(self, socket_path: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.hub = RadioHub(socket_path)
        self._thread = threading.Thread(target=self.loop.run_forever, name="radio", daemon=True)

    def start(self) -> RadioHub:
        """Start the loop and the hub; returns the hub."""
        self._thread.start()
        self.run(self.hub.start())
        return self.hub

    def run(self, coro, timeout_s: float = _RUN_TIMEOUT_S):
        """Run a coroutine on the radio loop and return its result.

        Raises:
            TimeoutError: if it does not finish within timeout_s.
        """
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def close(self) -> None:
        """Close the hub, end the tasks left on the loop, then stop and close it.

        Raises:
            TimeoutError: the loop did not answer within _CLOSE_TIMEOUT_S; the message holds
                what its thread was doing.
        """
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
        try:
            future.result(_RUN_TIMEOUT_S)
        except TimeoutError:
            # Slow, or stuck: say where, then give a starved machine longer before failing.
            logger.warning("the radio loop has not closed in %.0f s; it is at:\n%s",
                           _RUN_TIMEOUT_S, self._loop_stack())
            try:
                future.result(_CLOSE_TIMEOUT_S - _RUN_TIMEOUT_S)
            except TimeoutError:
                raise TimeoutError(f"the radio loop did not close; it is at:\n{self._loop_stack()}") from None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()

    def _loop_stack(self) -> str:
        frame = sys._current_frames().get(self._thread.ident or -1)
        return "".join(traceback.format_stack(frame)) if frame is not None else "(not running)"

    async def _shutdown(self) -> None:
        await self.hub.close()
        # Bumble leaves tasks behind (GATT handlers, advertising restarts): end them as
        # asyncio.run would, rather than have the loop destroy them pending.
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=_TASK_END_TIMEOUT_S)
        for task in pending:  # a task that ignores its cancellation: name it, do not hang on it
            stack = io.StringIO()
            task.print_stack(file=stack)
            logger.warning("a radio task did not end when cancelled:\n%s", stack.getvalue())
