"""The field client: talks to one lock over BLE through the ordinary bleak API.

    async with LockClient("HL-1A2B3C") as lock:
        await lock.unlock()

Which radio bleak uses (the platform's, or the virtual one) is configuration
(hemlas.radio.config); nothing here knows the difference.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections.abc import Callable, Collection

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakBluetoothNotAvailableError, BleakError, BleakGATTProtocolError

from . import advertising
from .codes import STATUS_TEXT, BatteryState, LockState, Status
from .results import (BatteryReading, EventRecord, FoundLock, LockStatus, MoveResult,
                      SelfTestResult, SwapRegistration)
from .errors import (AuthError, BatteryCriticalError, BatteryDepletedError, KeysRefusedError,
                     LockAuthenticityError, LockBusyError, LockDisconnectedError, LockError,
                     LockJammedError, LockNotFoundError, LockStatusError, LockTimeoutError,
                     NoKeyError, ProtocolError, RadioUnavailableError, UnverifiedAnswerError,
                     UnverifiedRefusalError)
from .firmware import wire
from .handle_cache import GattLayout, HandleCache, per_boot
from .i18n import _
from .keyfile import KeyFile, StaffKey
from .radio import config

# Retries as data. Only connecting is retried: a request may have been carried out even when
# its answer was lost, so repeating one is the caller's decision.
CONNECT_ATTEMPTS = 3
CONNECT_RETRY_DELAYS_S = (
    0.25,  # a lock that just dropped a link is advertising again within a fraction of a second
    1.0,  # then give a busy radio time to settle
)
RETRYABLE_CONNECT_ERRORS = (BleakError, asyncio.TimeoutError, EOFError)
SCAN_TIMEOUT_S = 20.0  # covers a power policy's sleep (esp32c3: 12 s) plus a weak signal
CONNECT_TIMEOUT_S = 10.0
# Connecting straight to the address the lock was last seen at (hemlas.handle_cache): a lock
# still there advertises within an interval or two (100 ms awake, 500 ms at the esp32c3's
# slowest); one that is not has rotated its address or gone to sleep (every wake is a boot,
# and a new address), and is looked for by a scan after this long.
DIRECT_CONNECT_TIMEOUT_S = 1.0
REQUEST_TIMEOUT_S = 20.0  # a self-test takes ~4.5 s; a jammed lock's retry up to ~5 s

_STATUS_ERRORS: dict[int, type[LockStatusError]] = {
    Status.BUSY: LockBusyError,
    Status.JAMMED: LockJammedError,
    Status.BATTERY_CRITICAL: BatteryCriticalError,
    **{status: AuthError for status in range(Status.AUTH_REQUIRED, Status.NOT_PROVISIONED + 1)},
    Status.FAULT: LockStatusError,
}
CLOCK_LAG_S = 30  # a lock this far behind the client's clock is moved forward (docs/security.md)
# HELLO refusals after which the next key in the key file is tried: the key itself is at fault
# (superseded by a re-provisioning: BAD_TAG; revoked; outside its window by the lock's clock).
NEXT_KEY_STATUSES = frozenset({Status.BAD_TAG, Status.KEY_REVOKED, Status.KEY_EXPIRED,
                               Status.KEY_NOT_YET_VALID, Status.KEY_WRONG_LOCK})
# A lock found within this long needs no word; after it, a caller's on_search hears that the
# search goes on: a lock asleep between its windows (esp32c3: up to 57 s) wakes at a knock, so
# the carer at the door is asked to knock (docs/knock.md).
SEARCH_NOTICE_AFTER_S = 3.0
SearchNotice = Callable[[str, float], None]  # (lock id, how long the search may take, s)


async def scan(timeout: float = 5.0, keyfile: KeyFile | None = None,
               also: dict[bytes, str] | None = None) -> list[FoundLock]:
    """Every lock advertising within timeout that this client can name, by lock id: those the
    key file (the default one if None) holds keys for, those in `also` ({advertising key: lock
    id}, e.g. from the fleet store), and unprovisioned ones on the bench."""
    adv_keys = {**(also or {}), **(keyfile or KeyFile()).advertising_keys()}
    try:
        found = await BleakScanner.discover(timeout=timeout, return_adv=True, **config.scanner_kwargs())
    except _NO_RADIO_ERRORS as err:
        raise RadioUnavailableError(_radio_detail(err)) from err
    locks = {}
    for device, adv in found.values():
        lock_id = advertising.which(adv_keys, adv.service_uuids)
        if lock_id is None and wire.LOCK_SERVICE_UUID in (adv.service_uuids or []):
            lock_id = adv.local_name  # not provisioned: it says who it is
        if lock_id:
            locks[lock_id] = FoundLock(lock_id, device.address, adv.rssi)
    return sorted(locks.values(), key=lambda lock: lock.lock_id)


async def find_lock(lock_id: str, timeout: float = SCAN_TIMEOUT_S,
                    on_search: SearchNotice | None = None,
                    adv_keys: Collection[bytes] | None = None) -> BLEDevice:
    """The advertising lock with this id.

    Raises:
        LockNotFoundError: no such lock advertised within timeout.
    """
    return (await find_advertising(lock_id, timeout, on_search, adv_keys))[0]


async def find_advertising(lock_id: str, timeout: float = SCAN_TIMEOUT_S,
                           on_search: SearchNotice | None = None,
                           adv_keys: Collection[bytes] | None = None) -> tuple[BLEDevice, FoundLock]:
    """The advertising lock with this id, and what its advertisement said.

    Args:
        on_search: called once with (lock_id, timeout) if the lock is not found within
            SEARCH_NOTICE_AFTER_S, so a person waiting hears that it is being searched for.
        adv_keys: the lock's advertising keys (a provisioned lock is known by them alone);
            None: those in the default key file.

    Raises:
        LockNotFoundError: no such lock advertised within timeout.
        RadioUnavailableError: there is no radio to scan with.
    """
    seen: dict = {}
    if adv_keys is None:
        adv_keys = [key for key, owner in KeyFile().advertising_keys().items() if owner == lock_id]

    def is_it(device, adv) -> bool:
        if advertising.match(lock_id, adv_keys, adv.service_uuids, adv.local_name):
            seen["found"] = FoundLock(lock_id, device.address, adv.rssi)
            return True
        return False

    try:
        # No service filter: a provisioned lock advertises no fixed UUID.
        search = asyncio.ensure_future(BleakScanner.find_device_by_filter(
            is_it, timeout=timeout, **config.scanner_kwargs()))
        if on_search is not None:
            done, _pending = await asyncio.wait({search}, timeout=min(SEARCH_NOTICE_AFTER_S, timeout))
            if not done:
                on_search(lock_id, timeout)
        device = await search
    except _NO_RADIO_ERRORS as err:
        raise RadioUnavailableError(_radio_detail(err)) from err
    if device is None:
        raise LockNotFoundError(lock_id, timeout)
    return device, seen["found"]


def hello_frame(key: StaffKey, client_nonce: bytes) -> bytes:
    """A HELLO with key: its fields encrypted under the HELLO key, so that only holders of a
    key for this lock read which key, role and lock it names; tagged with the key."""
    fields = struct.pack(wire.REQUEST_FORMATS[wire.OP_HELLO], key.key_id, key.role, key.not_before,
                         key.not_after) + key.lock_id.encode()
    payload = client_nonce + wire.crypt(wire.hello_key(key.adv_key, client_nonce), wire.TAG_HELLO, 0, 0, fields)
    frame = wire.encode_frame(wire.OP_HELLO, 0, 0, payload)
    return wire.with_tag(frame, wire.tag(key.key, wire.TAG_HELLO, frame))


# What bleak raises when the host has no radio to scan with: BlueZ's D-Bus socket missing
# (FileNotFoundError), no adapter or Bluetooth switched off.
_NO_RADIO_ERRORS = (BleakBluetoothNotAvailableError, FileNotFoundError, ConnectionRefusedError)


def _radio_detail(err: Exception) -> str:
    virtual = config.virtual_radio_socket()
    if virtual and isinstance(err, OSError):
        return _("nothing answers on the virtual radio's socket {path}").format(path=virtual)
    if isinstance(err, FileNotFoundError):
        return _("no BlueZ D-Bus socket")
    if err.args and isinstance(err.args[0], str):
        return err.args[0]  # bleak's BleakBluetoothNotAvailableError carries (message, reason)
    return str(err) or type(err).__name__


class LockClient:
    """One connection to one lock. An async context manager.

    Every request runs in an authenticated session (docs/security.md): the client opens it
    with a staff key, tags each request, and checks the lock's tag on every answer.

    Args:
        lock_id: the lock's id, as it advertises it (e.g. "HL-1A2B3C").
        key: the staff key to use; else the least-privileged valid key with at least `role`
            from `keyfile` (the user's key file by default).
        scan_timeout: how long to look for the lock.
        request_timeout: how long to wait for each answer.
        mtu: the ATT MTU to ask for (None: stay at the default 23). Only the virtual radio
            takes it; platform radios negotiate on their own.
        exclude_keys: key ids never to choose from the key file (the fleet store has them
            superseded or revoked).
        on_search: told when the lock is not found at once (see find_advertising).
        handle_cache: where the lock was last seen and its verified GATT handles (the file
            beside the key file by default); see connect().

    When the key is chosen from the key file and the lock refuses it (NEXT_KEY_STATUSES),
    the next one is tried; `refused_keys` then lists (key id, status) of those refused.
    """

    def __init__(self, lock_id: str, *, key: StaffKey | None = None, role: int = wire.ROLE_STAFF,
                 keyfile: KeyFile | None = None, scan_timeout: float | None = None,
                 request_timeout: float = REQUEST_TIMEOUT_S, mtu: int | None = config.DEFAULT_MTU,
                 sync_clock: bool = True, exclude_keys: Collection[int] = (),
                 on_search: SearchNotice | None = None, handle_cache: HandleCache | None = None):
        self.lock_id = lock_id
        self._cache = HandleCache() if handle_cache is None else handle_cache
        self._key = key
        self._exclude_keys = frozenset(exclude_keys)
        self._on_search = on_search
        self.refused_keys: list[tuple[int, int]] = []
        self._role = role
        self._keyfile = keyfile
        self._sync_clock = sync_clock
        self._mtu = mtu
        self._session_id = 0
        self._session_key: bytes | None = None
        self._cipher_key = b""  # the session's AES key (wire.derive_cipher_key)
        self.lock_time: int | None = None  # the lock's clock when the session opened
        self._scan_timeout = SCAN_TIMEOUT_S if scan_timeout is None else scan_timeout
        self._request_timeout = request_timeout
        self._client: BleakClient | None = None
        self._responses: asyncio.Queue[bytes] = asyncio.Queue()
        self._reassembler = wire.Reassembler(wire.MAX_RESPONSE)
        self._counter = 0
        self._request_lock = asyncio.Lock()
        self._disconnected = asyncio.Event()
        self._answered = False  # the lock has answered on this link: its handles are right

    async def __aenter__(self) -> "LockClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.disconnect()

    @property
    def mtu(self) -> int:
        return self._client.mtu_size if self._client else wire.DEFAULT_ATT_MTU

    async def connect(self, device: BLEDevice | None = None) -> None:
        """Find the lock and connect, retrying as CONNECT_RETRY_DELAYS_S says.

        Round trips are what a connection costs (hemlas.handle_cache). Without a device, a
        lock seen within ADDRESS_FRESH_S is connected to straight at that address, and looked
        for by a scan if it is not there (it rotated, or slept). On the very address its GATT
        handles were verified on, the platform's cached services are asked for and checked
        against them; anything wrong (a mismatch, a write refused, no answer to the HELLO)
        drops them and they are discovered again.

        Args:
            device: the lock as a scan already found it (first attempt only).

        Raises:
            LockNotFoundError: the lock is not advertising.
            LockDisconnectedError: every connection attempt failed.
        """
        keys = self._candidate_keys()
        adv_keys = {key.adv_key for key in keys}
        known = None if device is not None else self._cache.address(self.lock_id)
        last_error: Exception | None = None
        attempt = 0
        while True:
            if known is None and device is None:
                device = await find_lock(self.lock_id, self._scan_timeout,
                                         None if attempt else self._on_search, adv_keys)
            target = known if known is not None else device
            assert target is not None
            address = target if isinstance(target, str) else target.address
            if known is None:
                self._cache.saw(self.lock_id, address)
            layout = self._cache.layout(self.lock_id, address) if per_boot(address, adv_keys) else None
            try:
                await self._open_link(target, layout, keys,
                                      DIRECT_CONNECT_TIMEOUT_S if known is not None else CONNECT_TIMEOUT_S)
            except RETRYABLE_CONNECT_ERRORS as err:
                last_error = err
                if known is not None:
                    self._cache.missed(self.lock_id)  # not where it was: look for it, now
                    known = None
                    continue
                attempt += 1
                if attempt >= CONNECT_ATTEMPTS:
                    raise LockDisconnectedError(self.lock_id, _("could not connect: {error}")
                                                .format(error=last_error)) from last_error
                await asyncio.sleep(CONNECT_RETRY_DELAYS_S[min(attempt, len(CONNECT_RETRY_DELAYS_S)) - 1])
                device = None
                continue
            assert self._client is not None
            self._cache.verified(self.lock_id, address, GattLayout.of(self._client.services),
                                 private=per_boot(address, adv_keys))
            return

    async def _open_link(self, target: BLEDevice | str, layout: GattLayout | None,
                         keys: list[StaffKey], timeout: float) -> None:
        """Connect, subscribe and open the session; with layout, on the platform's cached
        services, and again with a discovery if they turn out wrong.

        Raises:
            RETRYABLE_CONNECT_ERRORS: the link could not be made (the caller retries).
            AuthError, LockAuthenticityError...: the HELLO's, as _hello_with_one_of says.
        """
        while True:
            client = await self._link(target, layout, timeout)
            if client is None:  # the cached services were not the verified ones
                self._cache.forget_layout(self.lock_id)
                layout = None
                continue
            self._client, self._answered = client, False
            self._disconnected.clear()
            try:
                await self._hello_with_one_of(keys)
            except (LockDisconnectedError, LockTimeoutError) as err:
                never_answered = not self._answered
                await self.disconnect()
                refused = isinstance(err.__cause__, BleakGATTProtocolError)
                if layout is None or not never_answered or not (refused or isinstance(err, LockTimeoutError)):
                    raise
                # Written to cached handles and refused, or never answered: take them for
                # wrong rather than the lock for gone, and discover them.
                self._cache.forget_layout(self.lock_id)
                layout = None
                continue
            except BaseException:
                await self.disconnect()
                raise
            return

    async def _link(self, target: BLEDevice | str, layout: GattLayout | None,
                    timeout: float) -> BleakClient | None:
        """A connected client subscribed to responses; None if layout was given and the
        platform's cached services did not match it, or refused the subscription."""
        cached = layout is not None
        # Only the lock service is discovered: every other service costs round trips. The
        # cache option is bleak's own: Windows then serves the services from its cache without
        # asking the lock (False: asks the lock, and refreshes its cache); the virtual radio
        # does as Windows does. Not BlueZ's dangerous_use_bleak_cache: it spares waiting for
        # ServicesResolved, not one round trip (bluetoothd discovers on its own), and bleak
        # warns it is unsafe while BlueZ is still changing the services.
        client = BleakClient(target, disconnected_callback=self._on_disconnect,
                             services=[wire.LOCK_SERVICE_UUID], timeout=timeout,
                             winrt={"use_cached_services": cached},
                             **config.client_kwargs(mtu=self._mtu))
        try:
            await client.connect()
            if cached and GattLayout.of(client.services) != layout:
                await self._quietly_disconnect(client)
                return None
            await client.start_notify(wire.RESPONSE_CHAR_UUID, self._on_notify)
        except BleakGATTProtocolError:
            await self._quietly_disconnect(client)
            if cached:
                return None  # a CCCD write refused: not the handle the cache said
            raise
        except BaseException:
            await self._quietly_disconnect(client)
            raise
        return client

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._quietly_disconnect(client)

    @staticmethod
    async def _quietly_disconnect(client: BleakClient) -> None:
        try:
            await client.disconnect()
        except (BleakError, asyncio.TimeoutError, EOFError):
            pass  # already gone

    def _on_disconnect(self, _client=None) -> None:
        self._disconnected.set()

    def _on_notify(self, _char, data: bytearray) -> None:
        try:
            frame = self._reassembler.feed(bytes(data))
        except ValueError:
            return  # a broken response: the request times out and says so
        if frame is not None:
            self._responses.put_nowait(bytes(frame))  # the buffer is reused

    def _candidate_keys(self) -> list[StaffKey]:
        """The given key, else the key file's usable keys for this lock, best first.

        Raises:
            NoKeyError: none, saying why (no key file, none for this lock, not yet valid...).
        """
        if self._key is not None:
            return [self._key]
        keyfile = self._keyfile or KeyFile()
        now = int(time.time())
        keys = keyfile.candidates(self.lock_id, self._role, now, self._exclude_keys)
        if not keys:
            raise NoKeyError(self.lock_id, wire_role_name(self._role),
                             keyfile.why_no_key(self.lock_id, self._role, now, self._exclude_keys))
        return keys

    async def _hello_with_one_of(self, keys: list[StaffKey]) -> None:
        """Open the session with the first key the lock accepts, on this one connection.

        Raises:
            KeysRefusedError: the lock refused every key for the key's own sake.
        """
        self.refused_keys = []
        for key in keys:
            try:
                await self._hello(key)
            except AuthError as err:
                if err.status not in NEXT_KEY_STATUSES or self._key is not None:
                    raise  # not the key's fault, or the caller's own key: said as it is
                self.refused_keys.append((key.key_id, err.status))
                continue
            self._key = key
            return
        raise KeysRefusedError(self.lock_id, self.refused_keys, STATUS_TEXT)

    @property
    def key(self) -> StaffKey | None:
        """The key the session was opened with."""
        return self._key

    # ---- the session ------------------------------------------------------------------------

    async def _hello(self, key: StaffKey) -> None:
        client_nonce = os.urandom(wire.NONCE_SIZE)
        frame = hello_frame(key, client_nonce)
        answer = await self._exchange(frame, wire.OP_HELLO, 0)
        _op, session_id, _counter, body, _tag = wire.decode_frame(answer)
        if len(body) == 1:
            # Refused: the lock had no session to tag it with, so anyone could have said it.
            # A key refusal lets the key file's next key be tried; nothing else is believed.
            if body[0] in NEXT_KEY_STATUSES:
                raise UnverifiedRefusalError(self.lock_id, body[0], _status_text(body[0]))
            self._raise_unverified(body[0])
        try:
            status, session_id, lock_nonce, lock_time = struct.unpack(
                wire.RESPONSE_FORMATS[wire.OP_HELLO], body)
        except struct.error as err:
            raise LockAuthenticityError(self.lock_id, _("malformed HELLO answer")) from err
        session_key = wire.derive_session_key(key.key, session_id, client_nonce, lock_nonce)
        if status != Status.OK or not wire.check_tag(session_key, wire.TAG_CLEAR, answer):
            raise LockAuthenticityError(self.lock_id, _("its answer to HELLO carries no valid tag"))
        self._session_id, self._session_key, self.lock_time = session_id, session_key, lock_time
        self._cipher_key = wire.derive_cipher_key(session_key)
        self._counter = 0
        now = int(time.time())
        if self._sync_clock and now - lock_time > CLOCK_LAG_S:
            # Forward only, and only as far as the lock allows a non-admin key (its clock
            # never goes back, so a lagging clock is the usual case after a power cut).
            try:
                await self.set_clock(min(now, lock_time + 600) if key.role < wire.ROLE_ADMIN else now)
            except AuthError:
                pass  # not fatal: keys keep working on the lock's own clock

    # ---- requests ---------------------------------------------------------------------------

    async def request(self, opcode: int, payload: bytes = b"") -> bytes:
        """Send one request in the session and return its response payload (status included).

        Raises:
            LockAuthenticityError: the answer does not carry the session's tag.
        """
        async with self._request_lock:
            if self._session_key is None:
                raise LockDisconnectedError(self.lock_id, _("no session"))
            self._counter += 1
            counter = self._counter
            frame = wire.seal(self._session_key, self._cipher_key, wire.TAG_REQUEST, opcode,
                              self._session_id, counter, payload)
            answer = await self._exchange(frame, opcode, counter)
            r_opcode, _session, _counter, body, _tag = wire.decode_frame(answer)
            if wire.check_tag(self._session_key, wire.TAG_RESPONSE, answer):
                body = wire.crypt(self._cipher_key, wire.TAG_RESPONSE, self._session_id, counter, body)
            elif not wire.check_tag(self._session_key, wire.TAG_CLEAR, answer):
                # OP_ERROR frames and SESSION_EXPIRED come untagged by design: whatever an
                # unverified answer says is its claim, never the lock's statement.
                if len(body) == 1:
                    self._raise_unverified(body[0])
                raise LockAuthenticityError(self.lock_id, _("an answer without the session's tag"))
            elif len(body) != 1:
                raise LockAuthenticityError(self.lock_id, _("a refusal of more than a status"))
            if len(body) == 1:
                self._raise_status(body[0])
            return body

    async def _exchange(self, frame: bytes, opcode: int, counter: int) -> bytes:
        """Write a frame's fragments and return the whole response frame to it."""
        client = self._client
        if client is None or not client.is_connected:
            raise LockDisconnectedError(self.lock_id, _("not connected"))
        # Until the lock has answered on this link, writes wait for the ATT write response:
        # a handle that is not the lock's control (a stale cache) is refused then and there.
        # After that the handles are proven, and the response would tell nothing more: the
        # link layer acknowledges every packet anyway, the lock's stack answers a write
        # before the firmware handles it (its IRQ only queues it and cannot refuse it), and
        # every refusal of the lock's own is a frame it notifies. So requests go as writes
        # without response, and their answer is the first packet back.
        response = not self._answered
        try:
            for part in wire.fragment(frame, client.mtu_size):
                await client.write_gatt_char(wire.CONTROL_CHAR_UUID, part, response=response)
        except (BleakError, EOFError) as err:
            raise LockDisconnectedError(self.lock_id, str(err)) from err
        answer = await self._await_response(opcode, counter)
        self._answered = True
        return answer

    async def _await_response(self, opcode: int, counter: int) -> bytes:
        """The next response frame for (opcode, counter), or an OP_ERROR frame."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._request_timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise LockTimeoutError(self.lock_id, _("request {opcode}").format(opcode=f"{opcode:#04x}"),
                                       self._request_timeout)
            get = asyncio.ensure_future(self._responses.get())
            gone = asyncio.ensure_future(self._disconnected.wait())
            done, _pending = await asyncio.wait({get, gone}, timeout=remaining,
                                                return_when=asyncio.FIRST_COMPLETED)
            if get not in done:
                get.cancel()
                gone.cancel()
                if gone in done:
                    raise LockDisconnectedError(self.lock_id, _("the link dropped before the answer"))
                continue
            gone.cancel()
            frame = get.result()
            try:
                r_opcode, _session, r_counter, _body, _tag = wire.decode_frame(frame)
            except ValueError as err:
                raise ProtocolError(self.lock_id, err.args[0], _("unreadable response")) from err
            if r_opcode == wire.OP_ERROR | wire.RESPONSE_BIT or (
                    r_counter == counter and r_opcode == opcode | wire.RESPONSE_BIT):
                return frame
            # an answer to an earlier request that timed out: not ours

    def _raise_unverified(self, status: int) -> None:
        raise UnverifiedAnswerError(self.lock_id, status, _status_text(status))

    def _raise_status(self, status: int) -> None:
        error = _STATUS_ERRORS.get(status, ProtocolError)
        raise error(self.lock_id, status, STATUS_TEXT.get(status, f"status {status}"))

    async def _call(self, opcode: int, *args) -> tuple:
        body = await self.request(opcode, struct.pack(wire.REQUEST_FORMATS[opcode], *args))
        fmt = wire.RESPONSE_FORMATS[opcode]
        try:
            fields = struct.unpack_from(fmt, body)
        except struct.error as err:
            raise ProtocolError(self.lock_id, Status.MALFORMED, _("short response")) from err
        return fields

    def _checked(self, fields: tuple) -> tuple:
        if fields[0] != Status.OK:
            self._raise_status(fields[0])
        return fields[1:]

    async def status(self) -> LockStatus:
        body = await self.request(wire.OP_STATUS)
        # The door byte trails: a lock of firmware 0.5 sends none (read as unknown, 255).
        without_door = wire.RESPONSE_FORMATS[wire.OP_STATUS][:-1]
        try:
            fields = struct.unpack_from(without_door, body)
        except struct.error as err:
            raise ProtocolError(self.lock_id, Status.MALFORMED, _("short response")) from err
        state, battery, busy, next_seq = self._checked(fields)
        size = struct.calcsize(without_door)
        door = body[size] if len(body) > size else wire.DOOR_UNKNOWN
        return LockStatus(LockState(state), BatteryState(battery), bool(busy), next_seq, _DOOR_NAMES.get(door))

    async def _move(self, opcode: int) -> MoveResult:
        state, travel_ms = self._checked(await self._call(opcode))
        return MoveResult(LockState(state), travel_ms)

    async def lock(self) -> MoveResult:
        """Throw the bolt; returns once end of travel confirms it.

        Raises:
            LockJammedError, BatteryCriticalError, LockBusyError, LockDisconnectedError,
            LockTimeoutError.
        """
        return await self._move(wire.OP_LOCK)

    async def unlock(self) -> MoveResult:
        """Retract the bolt; returns once end of travel confirms it (errors as lock())."""
        return await self._move(wire.OP_UNLOCK)

    async def battery(self) -> BatteryReading:
        state, idle, loaded, percent, last_swap, used_mah, days = self._checked(
            await self._call(wire.OP_BATTERY))
        return BatteryReading(BatteryState(state), idle, loaded, None if percent > 100 else percent,
                              last_swap or None, used_mah, None if days == wire.DAYS_UNKNOWN else days)

    async def register_battery_swap(self) -> SwapRegistration:
        """Technician: tell the lock a new battery is in. The lock checks it under load first.

        Raises:
            BatteryDepletedError: the new battery reads depleted; nothing was registered.
        """
        status, state, idle, loaded, swap_time = await self._call(wire.OP_BATTERY_SWAP)
        if status == Status.BATTERY_DEPLETED:
            raise BatteryDepletedError(self.lock_id, status, STATUS_TEXT[Status.BATTERY_DEPLETED], idle, loaded)
        if status != Status.OK:
            self._raise_status(status)
        return SwapRegistration(BatteryState(state), idle, loaded, swap_time)

    async def device_info(self) -> dict[str, str]:
        """The lock's model, firmware version and board name (only inside a session)."""
        body = await self.request(wire.OP_DEVICE_INFO)
        parts = body[1:].decode(errors="replace").split("\n")
        return dict(zip(("model", "firmware", "board"), parts + ["", "", ""]))

    async def selftest(self) -> SelfTestResult:
        idle, loaded, state, green_off, blinks, red_done = self._checked(await self._call(wire.OP_SELFTEST))
        return SelfTestResult(idle, loaded, BatteryState(state), green_off, blinks, red_done)

    async def set_clock(self, new_time: int) -> int:
        """Move the lock's clock (non-admin keys: forward, at most 10 minutes); returns it."""
        status, now = await self._call(wire.OP_SET_CLOCK, new_time)
        if status != Status.OK:
            self._raise_status(status)
        return now

    async def revoke(self, key_id: int, not_after: int) -> int:
        """Admin: add a key to the lock's revocation list; returns the list's length."""
        return self._checked(await self._call(wire.OP_REVOKE, key_id, not_after))[0]

    async def set_key_policy(self, min_key_id: int) -> int:
        """Admin: every key with an id below min_key_id stops working on this lock."""
        return self._checked(await self._call(wire.OP_KEY_POLICY, min_key_id))[0]

    async def read_log(self, from_seq: int = 0) -> list[EventRecord]:
        """Every event from from_seq on, oldest first, page by page."""
        records: list[EventRecord] = []
        while True:
            next_seq, page = await self.read_log_page(from_seq)
            records += page
            if not page or page[-1].seq + 1 >= next_seq:
                return records
            from_seq = page[-1].seq + 1

    async def read_log_page(self, from_seq: int) -> tuple[int, list[EventRecord]]:
        """One LOG_READ: the lock's next sequence number, and up to wire.MAX_LOG_RECORDS events
        from from_seq on (from its oldest, if from_seq is older than that), oldest first.

        Raises:
            ProtocolError: a record does not decode, or the records are not in sequence.
        """
        body = await self.request(wire.OP_LOG_READ, struct.pack(
            wire.REQUEST_FORMATS[wire.OP_LOG_READ], from_seq, wire.MAX_LOG_RECORDS))
        head = struct.calcsize(wire.RESPONSE_FORMATS[wire.OP_LOG_READ])
        status, next_seq, count = struct.unpack_from(wire.RESPONSE_FORMATS[wire.OP_LOG_READ], body)
        if status != Status.OK:
            self._raise_status(status)
        records: list[EventRecord] = []
        offset = head
        for _record in range(count):
            size = wire.record_size(body, offset)
            if not size:
                raise ProtocolError(self.lock_id, Status.MALFORMED, _("corrupt event record"))
            record = EventRecord(*wire.decode_record(body, offset))
            if record.seq < from_seq or record.seq >= next_seq or (records and record.seq <= records[-1].seq):
                raise ProtocolError(self.lock_id, Status.MALFORMED, _("event records out of sequence"))
            records.append(record)
            offset += size
        return next_seq, records


__all__ = ["LockClient", "scan", "find_lock", "LockError", "FoundLock", "LockStatus", "MoveResult",
           "BatteryReading", "SelfTestResult", "EventRecord"]


_DOOR_NAMES = {wire.DOOR_CLOSED: "closed", wire.DOOR_OPEN: "open", wire.DOOR_LEFT_OPEN: "left open"}


def _status_text(status: int) -> str:
    """A lock status as a person reads it; "status 99" for one this client does not know."""
    return STATUS_TEXT.get(status, _("status {code}").format(code=status))


def wire_role_name(role: int) -> str:
    return {wire.ROLE_STAFF: "staff", wire.ROLE_TECHNICIAN: "technician", wire.ROLE_ADMIN: "admin"}.get(role, str(role))
