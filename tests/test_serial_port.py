"""The virtual board's serial port, driven by the real mpremote as an ESP32's would be.

Each test runs the mpremote CLI (or its serial transport, where a test needs to see what was
negotiated) against VirtualBoard(serial=True): a blank unit, or one flashed with the firmware.
"""

import hashlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

from hemlas.boards import unit_board_file
from hemlas.errors import VirtualBoardError
from hemlas.sim import VirtualBoard, build

pytestmark = pytest.mark.virtual_board

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
SOFT_RESET, HARD_RESET = 5, 2


def mpremote(vb, *args, timeout=30.0):
    result = subprocess.run([MPREMOTE, "connect", vb.serial_port, *args], capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"mpremote {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def read_until(port, ending, timeout=10.0):
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(ending):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {ending!r} from the port; got {data[-300:]!r}")
        data += port.read(1)
    return data


@pytest.fixture
def blank():
    with VirtualBoard(serial=True, factory_image=False) as vb:
        yield vb


@pytest.fixture
def flashed():
    with VirtualBoard(serial=True) as vb:
        yield vb


def test_a_blank_unit_boots_to_the_repl_and_mpremote_runs_code_on_it(blank):
    assert blank.at_repl and list(blank.flash_dir.iterdir()) == []
    assert Path(blank.serial_port).exists()
    out = mpremote(blank, "exec", "import sys; print(sys.implementation.name)")
    assert out.strip() == "micropython"
    # A board's view of its own filesystem: "/" is the flash, the path a board's.
    out = mpremote(blank, "exec", "import os, sys; print(os.getcwd(), os.listdir('/'), sys.path)")
    assert out.strip() == "/ [] ['', '.frozen', '/lib']"
    with serial.Serial(blank.serial_port, 115200, timeout=0.1) as port:  # the friendly REPL
        port.write(b"\r")
        read_until(port, b">>> ")
        port.write(b"print(6 * 7)\r")
        assert read_until(port, b">>> ").endswith(b"print(6 * 7)\r\n42\r\n>>> ")


def test_mpremote_fs_works_on_the_flash(blank, tmp_path):
    assert mpremote(blank, "fs", "ls").strip() == "ls :"
    src = tmp_path / "hello.txt"
    src.write_text("hej från bänken\n")
    mpremote(blank, "fs", "cp", str(src), ":")
    mpremote(blank, "fs", "cp", str(src), ":/abs.txt")  # an absolute path is in the flash too
    assert (blank.flash_dir / "hello.txt").read_text() == "hej från bänken\n"
    assert (blank.flash_dir / "abs.txt").read_text() == "hej från bänken\n"
    assert mpremote(blank, "fs", "cat", ":hello.txt") == "hej från bänken\n"
    listing = mpremote(blank, "fs", "ls", ":/")  # sizes 0: the unix port's VfsPosix lists none
    assert "hello.txt" in listing and "abs.txt" in listing
    mpremote(blank, "fs", "mkdir", ":lib")
    mpremote(blank, "fs", "rm", ":abs.txt")
    assert sorted(p.name for p in blank.flash_dir.iterdir()) == ["hello.txt", "lib"]


def test_raw_paste_is_negotiated_and_a_large_copy_arrives_whole(blank, tmp_path):
    from mpremote.transport_serial import SerialTransport

    transport = SerialTransport(blank.serial_port)
    try:
        transport.enter_raw_repl()
        assert transport.exec("print(6 * 7)") == b"42\r\n"  # a board's stdout: CRLF
        assert transport.use_raw_paste  # the board answered "R\x01": raw-paste, not the fallback
        transport.exit_raw_repl()
    finally:
        transport.close()
    payload = bytes((i * 7 + i // 251) % 256 for i in range(48 * 1024))
    src = tmp_path / "blob.bin"
    src.write_bytes(payload)
    started = time.monotonic()
    mpremote(blank, "fs", "cp", str(src), ":blob.bin", timeout=60)
    copy_s = time.monotonic() - started
    assert (blank.flash_dir / "blob.bin").read_bytes() == payload
    back = tmp_path / "back.bin"
    mpremote(blank, "fs", "cp", ":blob.bin", str(back), timeout=60)
    assert back.read_bytes() == payload
    assert hashlib.sha256(payload).hexdigest() in mpremote(blank, "fs", "sha256sum", ":blob.bin")
    print(f"48 KiB copied to the board in {copy_s:.2f} s")


def test_the_firmware_copied_with_mpremote_boots_after_a_hard_reset(blank, tmp_path):
    files = build.compile_firmware(tmp_path / "fw")
    (tmp_path / "board.py").write_bytes(unit_board_file("virtual"))
    files.append(tmp_path / "board.py")
    started = time.monotonic()
    mpremote(blank, "fs", "cp", *map(str, files), ":", timeout=120)
    copy_s = time.monotonic() - started
    assert sorted(p.name for p in blank.flash_dir.iterdir()) == sorted(p.name for p in files)
    boots = blank.boots
    mpremote(blank, "reset")
    # mpremote soft-resets the board as it connects, then machine.reset() 0.1 s after it left.
    wait_for(lambda: blank.boots >= boots + 2 and blank.running, what="the reset")
    ready = blank.wait_ready()
    assert blank.reset_cause == HARD_RESET and ready["board"] == "virtual"
    assert blank.command("status")["state"] in (1, 2)
    size = sum(p.stat().st_size for p in files)
    print(f"{len(files)} firmware files, {size / 1024:.0f} KiB, copied in {copy_s:.2f} s")


def test_mpremote_interrupts_the_running_firmware_which_puts_its_outputs_safe(flashed):
    assert flashed.wait_ready()["board"] == "virtual" and not flashed.at_repl
    assert flashed.bolt_position == 0.0  # unlocked: locking drives the motor for ~0.6 s
    answers = []

    def lock():
        try:
            answers.append(flashed.command("lock", timeout=2))
        except VirtualBoardError as err:
            answers.append(err)

    worker = threading.Thread(target=lock)
    worker.start()
    wait_for(lambda: any(duty > 0 for _, _, duty in flashed.motor_timeline()), what="the motor")
    out = mpremote(flashed, "exec", "print('at the REPL')")
    assert out.strip() == "at the REPL"
    worker.join()
    assert isinstance(answers[0], VirtualBoardError)  # the lock never finished
    assert flashed.motor_timeline()[-1][2] == 0.0  # main()'s finally: the motor is off
    assert 0.0 < flashed.bolt_position < 1.0
    assert any("KeyboardInterrupt" in line for line in flashed.output)
    assert flashed.at_repl and flashed.running
    with pytest.raises(VirtualBoardError, match="REPL"):
        flashed.command("status")
    # mpremote soft-reset the board in its raw REPL, which runs boot.py but not main.py.
    assert flashed.reset_cause == SOFT_RESET


def test_mpremote_reset_brings_the_firmware_back(flashed):
    flashed.wait_ready()
    mpremote(flashed, "exec", "import machine; machine.RTC().memory(b'kept')")
    assert flashed.at_repl
    boots = flashed.boots
    mpremote(flashed, "reset")
    wait_for(lambda: flashed.boots >= boots + 2 and flashed.running, what="the reset")
    flashed.wait_ready()
    assert flashed.reset_cause == HARD_RESET
    assert flashed.command("status")["board"] == "virtual"


def test_ctrl_d_at_the_repl_soft_resets_into_main_keeping_rtc_memory(flashed):
    flashed.wait_ready()
    mpremote(flashed, "exec", "import machine; machine.RTC().memory(b'kept')")
    with serial.Serial(flashed.serial_port, 115200, timeout=0.1) as port:
        port.write(b"\r")
        read_until(port, b">>> ")
        boots = flashed.boots
        port.write(b"\x04")  # Ctrl-D at the friendly REPL: a soft reset, then boot.py and main.py
        read_until(port, b"MPY: soft reboot\r\n")
        read_until(port, b'"ready": ', timeout=15)
    flashed.wait_ready()
    assert flashed.boots == boots + 1 and flashed.reset_cause == SOFT_RESET
    assert flashed.command("status")["board"] == "virtual"
    # Ctrl-C with a terminal tool: the firmware stops at the REPL. (On the 64-bit unix port the
    # interrupted firmware leaves the 96 KiB heap too full to compile a line: mpremote's own soft
    # reset clears it.) RTC memory outlived both soft resets.
    with serial.Serial(flashed.serial_port, 115200, timeout=0.1) as port:
        port.write(b"\x03")
        assert b"KeyboardInterrupt" in read_until(port, b">>> ")
    assert flashed.at_repl
    out = mpremote(flashed, "exec", "import machine; print(machine.RTC().memory())")
    assert out.strip() == "b'kept'"


def test_control_bytes_before_a_command_are_noise_not_part_of_it(flashed):
    """mpremote's exit_raw_repl() types "\\r\\x02" (Ctrl-B); sent after machine.reset() they reach
    the unit as it boots again. The firmware's console must not read them into the next command
    (it answered "\\x02status" as an unknown command, and a bench waited 30 s for "status")."""
    from hemlas.serialconsole import SerialConsole

    flashed.wait_ready()
    with SerialConsole(flashed.serial_port) as console:
        console._serial.write(b"\r\x02\x1b\x7f")  # Ctrl-B, ESC, DEL: as a tool or a reset leaves them
        assert console.command("status")["board"] == "virtual"


def test_a_ctrl_c_while_machine_reset_runs_does_not_undo_the_reset(blank, monkeypatch):
    """machine.reset() never returns on an ESP32 (esp_restart()). mpremote's Ctrl-C can reach
    the unit while it runs; on the virtual board that KeyboardInterrupt once aborted the reset
    and left the unit in its raw REPL (a flash then waited 10 s for a REPL that never came).
    The Ctrl-C is made to arrive, as a SIGINT, while the harness carries out the reset."""
    import os
    import signal

    from mpremote.transport_serial import SerialTransport

    carry_out = blank.pins.handle

    def reset_with_a_ctrl_c_arriving(words, now):
        answer = carry_out(words, now)
        if words[0] == "reset":
            os.kill(blank._proc.pid, signal.SIGINT)
            time.sleep(0.2)  # the interrupt is taken before the answer is read
        return answer

    monkeypatch.setattr(blank.pins, "handle", reset_with_a_ctrl_c_arriving)
    transport = SerialTransport(blank.serial_port, baudrate=115200)
    try:
        transport.enter_raw_repl(soft_reset=False)
        boots = blank.boots
        transport.exec_raw_no_follow("import machine\nmachine.reset()")
        wait_for(lambda: blank.boots > boots and blank.at_repl, what="the reset")
    finally:
        transport.close()
    assert blank.reset_cause == HARD_RESET
