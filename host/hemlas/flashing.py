"""Flashing a lock unit over its serial port with mpremote, and provisioning it (docs/flashing.md).

The order makes a broken-off flash harmless and a second run the fix: the old main.py goes
first (a half-flashed unit then boots to the REPL instead of running a mix of old and new
modules), then a hard reset stops the firmware's watchdog (_stop_watchdog), every module is
written and checked by its SHA-256 on the device, main.py comes last.
The fleet store hears of a unit only once the unit confirmed its new secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport
from serial import SerialException

from . import client, provisioning
from .boards import load_board, unit_board_file
from .errors import HemlasError, LockNotFoundError, RadioUnavailableError
from .i18n import _
from .serialconsole import SerialConsole, SerialConsoleError
from .sim import build

# (file name, bytes written, bytes in all): called as a file is copied.
Progress = Callable[[str, int, int], None]
_CHUNK = 1024  # bytes per raw-REPL write: fewer round trips than mpremote's default 256
_READ_TIMEOUT_S = 1.0  # per read; mpremote gives up after 10 s without a character
# Catching a unit that sleeps between visits (the esp32c3 board: ~0.6 s awake every 12 s). In
# deep sleep its UART hears nothing, so a Ctrl-C must land inside an awake window: one every
# 0.1 s lands within the shortest window a board file gives, and wake-up's boot.
_INTERRUPT_EVERY_S = 0.1
_SAY_WAITING_AFTER_S = 1.0  # an awake unit answers a Ctrl-C within milliseconds
_WAKE_MARGIN_S = 10.0  # beyond the board's sleep: boot, and a technician reaching the button
_AT_REPL = (b">>> ", b"raw REPL; CTRL-B to exit")


class FlashError(HemlasError):
    """The unit could not be flashed; the message says what to do."""


@dataclass
class FlashReport:
    lock_id: str
    board: str
    firmware_version: str
    micropython: str
    provisioning: str  # "new", "kept" or "reprovisioned"
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    ready: dict = field(default_factory=dict)
    # How the unit was seen running: {"by": "ble", "address", "rssi"} or {"by": "serial", "why"}.
    confirmed: dict = field(default_factory=dict)


def firmware_image(board_name: str, out_dir: Path) -> list[tuple[str, bytes]]:
    """The files a unit gets, in the order they are written: modules, the board file, main.py."""
    load_board(board_name)  # a clear error for an unknown board before anything is built
    compiled = build.compile_firmware(out_dir)
    files = [(p.name, p.read_bytes()) for p in compiled if p.name != "main.py"]
    files.append(("board.py", unit_board_file(board_name)))  # BOARD alone: HOST stays here
    files.extend((p.name, p.read_bytes()) for p in compiled if p.name == "main.py")
    return files


def flash(port: str, board_name: str, store, *, lock_id: str | None = None, reprovision: bool = False,
          progress: Progress | None = None, ready_timeout: float = 30.0, ble: bool | None = None,
          ble_timeout: float = client.SCAN_TIMEOUT_S, board_change: bool = False,
          confirm: Callable[[str], bool] | None = None,
          waiting: Callable[[str], None] | None = None) -> FlashReport:
    """Flash the firmware for board_name onto the unit on port, and provision it into store.

    The unit is confirmed by its ready line over serial and then, unless ble is False, by its
    advertisement over the radio (HEMLAS_RADIO's). ble None: over BLE where a radio is
    available, over serial alone otherwise; True: a radio is required.

    Args:
        board_change: the store records the unit with another board file, and the unit's
            hardware really changed; without it that is refused (the wrong pins drive a motor).
        confirm: asked (a question, answered True to go on) before re-provisioning a lock that
            is mounted at a customer; None refuses it.
        waiting: told (a sentence) when the unit does not answer at once: asleep, most likely.

    Raises:
        FlashError: the port could not be used or went away, the unit runs an incompatible
            MicroPython, a file did not verify, the unit's identity or board conflicts with the
            store, or a re-provisioning was not confirmed.
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hemlas-flash-") as out:
        files = firmware_image(board_name, Path(out))
    transport = _open(port)
    try:
        _catch(transport, port, board_name, waiting)
        implementation, _mpy = _check_micropython(transport, files)
        current_id, provisioned = _identity(transport)
        try:
            plan = _plan(store, current_id, provisioned, lock_id, reprovision)
            _check_record(store, lock_id or current_id, board_name, plan, board_change, confirm)
        except FlashError:
            _hard_reset(transport)  # refused before a write: the unit goes back to its firmware now
            raise
        report = FlashReport(lock_id or current_id or "", board_name, "", implementation, plan)
        if transport.fs_exists("main.py"):
            transport.fs_rmfile("main.py")
        _stop_watchdog(transport, port)
        total = sum(len(data) for _, data in files)
        done = 0
        for name, data in files:
            step = done

            def on_chunk(written: int, _size: int, name=name, step=step) -> None:
                if progress:
                    progress(name, step + written, total)

            transport.fs_writefile(name, data, chunk_size=_CHUNK, progress_callback=on_chunk)
            if transport.fs_hashfile(name, "sha256") != hashlib.sha256(data).digest():
                raise FlashError(_("{name} did not verify on the unit (its SHA-256 differs): run "
                                   "the command again").format(name=name))
            done += len(data)
            report.files.append(name)
        report.bytes = total
        _hard_reset(transport)  # boot the new firmware
        report.ready = _provision_and_confirm(SerialConsole(port, opened=transport.serial), store,
                                              board_name, report, plan, ready_timeout)
    except TransportExecError as err:
        raise FlashError(_("the unit failed a command while flashing: {output}; nothing was "
                           "recorded: run the command again")
                         .format(output=err.error_output.strip())) from err
    except (TransportError, SerialException, OSError) as err:
        raise FlashError(_("the connection to {port} was lost while flashing ({error}); nothing was "
                           "recorded: reconnect the unit and run the command again")
                         .format(port=port, error=err)) from err
    finally:
        _close(transport)
    report.lock_id = report.ready.get("lock_id", report.lock_id)
    report.firmware_version = report.ready.get("firmware", "")
    if board_change and plan == "kept":  # a new or re-provisioned unit is recorded with its board
        store.record_board(report.lock_id, board_name)
    # A provisioned unit advertises privately: known by its advertising key, from the store.
    adv_keys = [key for key, lock_id in store.advertising_keys().items() if lock_id == report.lock_id]
    report.confirmed = _confirm_advertising(report.lock_id, ble, ble_timeout, adv_keys)
    report.seconds = time.monotonic() - started
    return report


def _confirm_advertising(lock_id: str, ble: bool | None, timeout: float, adv_keys: list[bytes]) -> dict:
    """The unit heard advertising its lock id over the radio. It is flashed and provisioned by
    now (the store has it, rightly): a failure here is a unit that does not reach the air."""
    if ble is False:
        return {"by": "serial", "why": _("BLE confirmation not asked for")}
    try:
        _device, found = asyncio.run(client.find_advertising(lock_id, timeout, adv_keys=adv_keys))
    except RadioUnavailableError as err:
        if ble:
            raise FlashError(_("{lock_id} is flashed and provisioned and answers over serial, but "
                               "{error}").format(lock_id=lock_id, error=err)) from err
        return {"by": "serial", "why": str(err)}
    except LockNotFoundError as err:
        raise FlashError(_("{lock_id} is flashed and provisioned and answers over serial, but was "
                           "not heard advertising within {seconds} s: check its antenna and "
                           "supply, then run `hemlas hil` on it")
                         .format(lock_id=lock_id, seconds=f"{timeout:.0f}")) from err
    return {"by": "ble", "address": found.address, "rssi": found.rssi}


def reset_unit(port: str, timeout: float = 30.0, board_name: str | None = None,
               waiting: Callable[[str], None] | None = None) -> dict:
    """A hard reset over serial (machine.reset() from the raw REPL); the ready line after it."""
    transport = _open(port)
    try:
        _catch(transport, port, board_name, waiting)
        transport.enter_raw_repl(soft_reset=True)
        _hard_reset(transport)
        return SerialConsole(port, opened=transport.serial).wait_ready(timeout)
    except (TransportError, SerialException, OSError) as err:
        raise FlashError(_("could not reset the unit on {port}: {error}")
                         .format(port=port, error=err)) from err
    finally:
        _close(transport)


def _hard_reset(transport: SerialTransport) -> None:
    """machine.reset() from the raw REPL: on an ESP32 esp_restart(), a chip reset."""
    transport.exec_raw_no_follow("import machine\nmachine.reset()")
    # Only mpremote's bookkeeping: its exit_raw_repl() would type "\r\x02" into a unit that is
    # booting again, and the firmware's console would read them before the next command.
    transport.in_raw_repl = False


def _stop_watchdog(transport: SerialTransport, port: str) -> None:
    """Hard-reset the unit, main.py removed, and take its REPL again before copying.

    The firmware started an ESP32's watchdog (machine.WDT: ESP-IDF's task watchdog), and
    nothing stops one once started (docs/library/machine.WDT.rst): not the Ctrl-C that took the
    REPL, nor the soft reset into the raw REPL (ports/esp32/main.c leaves it registered). Nobody
    feeds it at the REPL, so it resets the unit within its 8 s, and the copy at 115200 baud takes
    longer. Only a chip reset (machine.reset(), esp_restart()) ends it; without main.py the unit
    then boots to the REPL and no firmware starts it again, nor its power policy's deep sleep."""
    _hard_reset(transport)
    transport.serial.reset_input_buffer()  # what the old raw REPL said before it went
    try:
        _catch(transport, port, None, None)
    except FlashError as err:
        raise FlashError(_("the unit on {port} did not come back to its REPL after the reset that "
                           "stops its watchdog (its main.py is removed, so it boots to the REPL): "
                           "check its supply and cable, and run the command again")
                         .format(port=port)) from err
    transport.enter_raw_repl(soft_reset=False)  # a fresh heap already: the reset just happened


def _open(port: str) -> SerialTransport:
    try:
        # A read timeout: without one mpremote waits forever on a port whose board lost power
        # but whose USB-serial bridge (or pty) stays, instead of reporting a pulled cable.
        return SerialTransport(port, baudrate=115200, timeout=_READ_TIMEOUT_S)
    except (TransportError, SerialException, OSError) as err:
        raise FlashError(_("cannot open {port}: {error}").format(port=port, error=err)) from err


def _close(transport: SerialTransport) -> None:
    try:
        transport.close()
    except (SerialException, OSError):
        pass  # the port is gone already


def _catch(transport: SerialTransport, port: str, board_name: str | None,
           waiting: Callable[[str], None] | None) -> None:
    """Interrupt the unit as a technician would one that sleeps between visits: Ctrl-C again and
    again until the REPL answers, which it does within its next awake window (or at once, after
    a press of its button). A unit in deep sleep hears nothing: its UART is off, and a
    USB-serial of its own (the ESP32-C3's) is gone from the host until it wakes."""
    sleep_s = _sleep_s(board_name)
    patience_s = sleep_s + _WAKE_MARGIN_S
    deadline = time.monotonic() + patience_s
    said = time.monotonic() + _SAY_WAITING_AFTER_S
    seen = b""
    while True:
        transport.serial.write(b"\r\x03")
        until = time.monotonic() + _INTERRUPT_EVERY_S
        while time.monotonic() < until:
            waiting_bytes = transport.serial.in_waiting
            if waiting_bytes:
                seen = (seen + transport.serial.read(waiting_bytes))[-256:]
                if any(prompt in seen for prompt in _AT_REPL):
                    return
            else:
                time.sleep(0.005)
        now = time.monotonic()
        if waiting and said and now > said:
            waiting(_("waiting for the unit on {port} to wake: it sleeps up to {seconds} s between "
                      "its awake windows (its button, or a reset, wakes it now)")
                    .format(port=port, seconds=f"{sleep_s:.0f}"))
            said = 0.0
        if now > deadline:
            raise FlashError(_("the unit on {port} did not answer within {seconds} s: press its "
                               "button (it may be asleep), check its supply and cable, and run the "
                               "command again").format(port=port, seconds=f"{patience_s:.0f}"))


def _sleep_s(board_name: str | None) -> float:
    """The longest the board's power policy sleeps between awake windows (0: always awake)."""
    try:
        policy = load_board(board_name)["power"].get("policy") if board_name else None
    except HemlasError:
        policy = None
    return (policy or {}).get("sleep_ms", 0) / 1000


def _check_micropython(transport: SerialTransport, files) -> tuple[str, int]:
    """Interrupt the running firmware, soft-reset into the raw REPL (a clean heap, main.py not
    run), check the .mpy version matches."""
    transport.enter_raw_repl(soft_reset=True)
    name, version, mpy = json.loads(transport.eval(
        "__import__('json').dumps([__import__('sys').implementation.name, "
        "'.'.join(str(v) for v in __import__('sys').implementation.version[:3]), "
        "getattr(__import__('sys').implementation, '_mpy', 0)])", parse=False))
    ours = next(data for fname, data in files if fname.endswith(".mpy"))[1]
    if name != "micropython" or (mpy & 0xFF) != ours:
        raise FlashError(_("the unit runs {name} {version} (.mpy v{theirs}); this firmware is built "
                           "as .mpy v{ours}: flash a matching MicroPython with esptool first "
                           "(docs/flashing.md)").format(name=name, version=version,
                                                        theirs=mpy & 0xFF, ours=ours))
    return f"{name} {version}", mpy


def _identity(transport: SerialTransport) -> tuple[str | None, bool]:
    """The unit's lock id (if it has one) and whether it holds a secret. The secret itself is
    never read: only its presence."""
    lock_id = None
    if transport.fs_exists("identity.json"):
        try:
            lock_id = json.loads(transport.fs_readfile("identity.json")).get("lock_id")
        except (ValueError, AttributeError):
            lock_id = None  # unreadable: as good as none (provisioning writes a new one)
    return lock_id, transport.fs_exists("secret.bin")


def _plan(store, current_id: str | None, provisioned: bool, lock_id: str | None, reprovision: bool) -> str:
    """"new", "kept" or "reprovisioned"; a FlashError for an identity the store cannot vouch for."""
    if reprovision:
        return "reprovisioned" if provisioned else "new"
    if not provisioned:
        return "new"
    if lock_id and lock_id != current_id:
        raise FlashError(_("the unit is already provisioned as {current}: give --reprovision to "
                           "make it {lock_id} (every key issued for {current} stops working)")
                         .format(current=current_id, lock_id=lock_id))
    if current_id is None or not any(lock.lock_id == current_id for lock in store.locks()):
        raise FlashError(_("the unit is provisioned as {current}, which this fleet store does not "
                           "know, so its keys cannot be issued here: give --reprovision to give it "
                           "a new secret").format(current=current_id or _("an unknown lock")))
    return "kept"


def _check_record(store, lock_id: str | None, board_name: str, plan: str, board_change: bool,
                  confirm: Callable[[str], bool] | None) -> None:
    """What the store knows of the unit must agree with what is about to happen to it."""
    record = next((lock for lock in store.locks() if lock.lock_id == lock_id), None) if lock_id else None
    if record is None:
        return
    if record.board != board_name and not board_change:
        raise FlashError(_("the fleet store records {lock_id} as a {board} unit, not {given}: flash "
                           "it with --board {board}, or give --board-change if its hardware really "
                           "changed (the wrong board file drives the wrong pins)")
                         .format(lock_id=lock_id, board=record.board, given=board_name))
    if plan == "reprovisioned" and record.customer_number is not None:
        customer = store.customer(record.customer_number)
        question = (_("{lock_id} is mounted at customer {number} ({name}, {address}): "
                      "re-provisioning stops every key for it, the carers' too") if customer.address
                    else _("{lock_id} is mounted at customer {number} ({name}): re-provisioning "
                           "stops every key for it, the carers' too")).format(
            lock_id=lock_id, number=customer.customer_number, name=customer.name,
            address=customer.address)
        if confirm is None or not confirm(question):
            raise FlashError(_("{question}; not re-provisioned: confirm at a terminal, or give --yes")
                             .format(question=question))


def _provision_and_confirm(console: SerialConsole, store, board_name: str, report: FlashReport, plan: str,
                           timeout: float) -> dict:
    try:
        ready = console.wait_ready(timeout)
        if plan in ("new", "reprovisioned"):
            provisioning.provision(console.command, store, board_name, ready.get("firmware", ""),
                                   report.lock_id or None, reprovision=plan == "reprovisioned")
            ready = console.wait_ready(timeout)  # it restarts with its identity
        if not ready.get("provisioned"):
            raise FlashError(_("the unit {lock_id} came up without its secret")
                             .format(lock_id=ready.get("lock_id")))
        return ready
    except SerialConsoleError as err:
        raise FlashError(_("{error}; the files are on the unit: run the command again to finish")
                         .format(error=err)) from err
