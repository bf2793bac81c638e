"""The virtual board's machine and esp32 modules are the chip's (issue 12): what MicroPython
v1.28's esp32 port compiles for ESP32_GENERIC and ESP32_GENERIC_C3, raising as it does.

The expectations here are written from the port's source (ports/esp32/modesp32.c,
machine_pin.c, machine_adc.c, modmachine.c; ../shared/micropython) and ESP-IDF's soc_caps.h,
not from hemlas.sim.chips: a wrong fact in the table fails here."""

from __future__ import annotations

import os
import select
import shutil
import sys
import tempfile
import termios
import time
from pathlib import Path

import pytest

from hemlas.boards import FIRMWARE_DIR_ENV, firmware_dir
from hemlas.errors import VirtualBoardError
from hemlas.sim.board import VirtualBoard
from hemlas.sim.chips import Chip, Refusal
from hemlas.sim.scenario import run_full_scenario
from interpreters import EACH, executable

pytestmark = pytest.mark.virtual_board

# Run at a blank unit's REPL (serial mode: no firmware), with the board's simulated modules.
PROBE = r'''
import machine, esp32
def probe(expr):
    try:
        r = eval(expr)
        return "ok %r" % (r,)
    except Exception as e:
        return "%s %s" % (type(e).__name__, e.args[0] if len(e.args) == 1 else e.args)
'''


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def _repl_eval(vb):
    """A function evaluating one expression at the board's friendly REPL over its serial port."""
    fd = os.open(vb.serial_port, os.O_RDWR | os.O_NOCTTY)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~(termios.ECHO | termios.ICANON)
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    pending = bytearray()

    def read_until(marker: bytes, timeout=10.0) -> bytes:
        """Bytes up to and including marker; what follows stays pending for the next read."""
        deadline = time.monotonic() + timeout
        while marker not in pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} from the board: {bytes(pending)!r}")
            if select.select([fd], [], [], 0.1)[0]:
                pending.extend(os.read(fd, 4096))
        end = pending.index(marker) + len(marker)
        out = bytes(pending[:end])
        del pending[:end]
        return out

    os.write(fd, b"\r\nfrom chipprobe import probe\r\n")
    read_until(b"import probe")
    read_until(b">>> ")

    def evaluate(expr: str) -> str:
        os.write(fd, b"print(chr(2) + probe(%r) + chr(3))\r\n" % expr.encode())
        out = read_until(b"\x03")
        line = out[out.rindex(b"\x02") + 1:-1].decode()
        read_until(b">>> ")
        return line

    return evaluate, fd


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    """Evaluate expressions against each chip's simulated modules, on a serial-mode blank unit's
    REPL (so nothing of the firmware runs): {chip: function(expr) -> "ok ..." | "Error msg"}."""
    boards, evaluators, fds = [], {}, []
    try:
        for board_name, chip in (("virtual", "esp32"), ("esp32c3", "esp32c3")):
            vb = VirtualBoard(board_name, flash_dir=tmp_path_factory.mktemp(chip), serial=True,
                              factory_image=False)
            boards.append(vb)
            vb.start()
            (vb.flash_dir / "chipprobe.py").write_text(PROBE)
            evaluators[chip], fd = _repl_eval(vb)
            fds.append(fd)
        yield evaluators
    finally:
        for fd in fds:
            os.close(fd)
        for vb in boards:
            vb.close()


# (expression, ESP32_GENERIC's answer, ESP32_GENERIC_C3's answer), each from the port's source.
# A missing attribute's message is the interpreter's own (py/runtime.c:1225-1258): the unix port
# reports errors DETAILED, "module 'esp32' has no attribute ..."; an ESP32 build (NORMAL,
# ports/esp32/mpconfigport.h:66) says "'module' object has no attribute ...". Same type.
CASES = [
    # modesp32.c:321-333: wake_on_ext0/ext1/touch/ulp only where SOC_PM_SUPPORT_EXT0/EXT1_WAKEUP,
    # SOC_TOUCH_SENSOR_SUPPORTED, SOC_ULP_SUPPORTED; wake_on_gpio on every chip.
    ("hasattr(esp32, 'wake_on_ext0')", "ok True", "ok False"),
    ("hasattr(esp32, 'wake_on_ext1')", "ok True", "ok False"),
    ("hasattr(esp32, 'wake_on_touch')", "ok True", "ok False"),
    ("hasattr(esp32, 'wake_on_ulp')", "ok True", "ok False"),
    ("hasattr(esp32, 'wake_on_gpio')", "ok True", "ok True"),
    ("esp32.wake_on_ext0(machine.Pin(0), 0)", "ok None",
     "AttributeError module 'esp32' has no attribute 'wake_on_ext0'"),
    # modesp32.c:88-89: EXT0 only on RTC_VALID_EXT_PINS (modesp32.h:52-72); GPIO5 is not one.
    ("esp32.wake_on_ext0(machine.Pin(5), 0)", "ValueError invalid pin",
     "AttributeError module 'esp32' has no attribute 'wake_on_ext0'"),
    ("esp32.wake_on_ext0(None)", "ok None",
     "AttributeError module 'esp32' has no attribute 'wake_on_ext0'"),
    # modesp32.c:118-123: every ext1 pin an RTC pin.
    ("esp32.wake_on_ext1((machine.Pin(4), machine.Pin(5)), 1)", "ValueError invalid pin",
     "AttributeError module 'esp32' has no attribute 'wake_on_ext1'"),
    # machine_pin.c:100-125: a GPIO the build does not have (also for a wake pin given by number).
    ("machine.Pin(24)", "ValueError invalid pin", "ValueError invalid pin"),
    ("machine.Pin(30)", "ValueError invalid pin", "ValueError invalid pin"),
    ("esp32.wake_on_gpio((24,), 0)", "ValueError invalid pin", "ValueError invalid pin"),
    ("machine.Pin(19, machine.Pin.IN) is not None", "ok True", "ValueError invalid pin"),  # C3: USB JTAG
    ("machine.Pin(35, machine.Pin.IN) is not None", "ok True", "ValueError invalid pin"),
    # machine_pin.c:54-55, 198-201: GPIO34-39 are input only on the ESP32.
    ("machine.Pin(34, machine.Pin.OUT)", "ValueError pin can only be input", "ValueError invalid pin"),
    ("machine.Pin(34, machine.Pin.OPEN_DRAIN)", "ValueError pin can only be input", "ValueError invalid pin"),
    ("machine.Pin(10, machine.Pin.OUT) is not None", "ok True", "ok True"),
    # machine_adc.c:70-102, 214-218: ADC channels per pin.
    ("machine.ADC(machine.Pin(34)) is not None", "ok True", "ValueError invalid pin"),
    ("machine.ADC(machine.Pin(3)) is not None", "ValueError invalid pin", "ok True"),
    ("machine.ADC(machine.Pin(10))", "ValueError invalid pin", "ValueError invalid pin"),
    # ESP-IDF adc_oneshot_new_unit refuses ADC2 on the C3: check_esp_err's OSError(-0x102, name).
    ("machine.ADC(machine.Pin(5))", "ValueError invalid pin", "OSError (-258, 'ESP_ERR_INVALID_ARG')"),
    ("machine.ADC(machine.Pin(4)) is not None", "ok True", "ok True"),  # ESP32: ADC2 ch0; C3: ADC1 ch4
    # modmachine.c:63-81: the same constants on both chips; modesp32.c:362-363.
    ("(machine.EXT0_WAKE, machine.TIMER_WAKE, machine.DEEPSLEEP_RESET)", "ok (2, 4, 4)", "ok (2, 4, 4)"),
    ("(esp32.WAKEUP_ALL_LOW, esp32.WAKEUP_ANY_HIGH)", "ok (False, True)", "ok (False, True)"),
    # machine_rtc.c:60, 178-179: 2048 bytes of RTC user memory.
    ("machine.RTC().memory(bytes(2048))", "ok None", "ok None"),
    ("machine.RTC().memory(bytes(2049))", "ValueError buffer too long", "ValueError buffer too long"),
]


@pytest.mark.parametrize("expr,esp32_answer,c3_answer", CASES, ids=[c[0][:60] for c in CASES])
def test_simulated_modules_answer_as_the_chips_build(probes, expr, esp32_answer, c3_answer):
    assert probes["esp32"](expr) == esp32_answer
    assert probes["esp32c3"](expr) == c3_answer


def test_deep_sleep_with_a_gpio_wake_raises_as_each_chip_does(probes):
    """modmachine.c:179-206: the ESP32 has no deep-sleep GPIO wake; the C3 has it on GPIO0-5.
    A refused sleep raises before the chip sleeps (the board stays at its REPL)."""
    esp32, c3 = probes["esp32"], probes["esp32c3"]
    sleep = "(esp32.wake_on_gpio((machine.Pin(%d),), 0), machine.deepsleep(1000))"
    assert esp32("esp32.wake_on_ext0(None)") == "ok None"
    assert esp32(sleep % 4) == "ValueError DEEPSLEEP with gpio pins not supported on this chip"
    assert c3(sleep % 9) == "ValueError wake-up pin not supported"
    # pins=None keeps what is configured (modesp32.c:163): the refused GPIO9 is still there;
    # an empty tuple clears it.
    assert c3("(esp32.wake_on_gpio(None, 0), machine.deepsleep(1000))") == "ValueError wake-up pin not supported"
    assert c3("esp32.wake_on_gpio(())") == "ok None"
    assert esp32("esp32.wake_on_gpio(())") == "ok None"


def test_the_esp32s_wake_sources_exclude_each_other_as_its_rtc_does(probes):
    """modesp32.c:52-62, 67-76, 142-150, 154-174: touch and ULP wake share the RTC with ext0
    and gpio wake: 'no resources' either way round."""
    esp32 = probes["esp32"]
    assert esp32("esp32.wake_on_ext0(machine.Pin(4), 0)") == "ok None"
    assert esp32("esp32.wake_on_touch(True)") == "ValueError no resources"
    assert esp32("esp32.wake_on_ulp(True)") == "ValueError no resources"
    assert esp32("esp32.wake_on_ext0(None)") == "ok None"
    assert esp32("esp32.wake_on_touch(True)") == "ok None"
    assert esp32("esp32.wake_on_ext0(machine.Pin(4), 0)") == "ValueError no resources"
    assert esp32("esp32.wake_on_gpio((machine.Pin(4),), 0)") == "ValueError no resources"
    assert esp32("esp32.wake_on_touch(False)") == "ok None"
    # wake_on_ext0() with no pin is the configured one (modesp32.c:78): none is -> invalid pin.
    assert esp32("esp32.wake_on_ext0()") == "ValueError invalid pin"


def test_a_board_with_a_32k_crystal_cannot_use_its_pins(probes):
    """boards/esp32c3.py has xtal_32k: GPIO0/1 carry the crystal (C3 datasheet XTAL_32K_P/N)."""
    crystal = "ValueError GPIO%d carries the board's 32 kHz crystal (xtal_32k)"
    assert probes["esp32c3"]("machine.Pin(0, machine.Pin.IN)") == crystal % 0
    assert probes["esp32c3"]("machine.ADC(1)") == crystal % 1
    assert probes["esp32c3"]("machine.PWM(0)") == crystal % 0
    assert probes["esp32"]("machine.Pin(0, machine.Pin.IN) is not None") == "ok True"  # no crystal there
    # Without the crystal the pads are GPIOs (and ADC1 channels 0/1) like any other.
    bare = Chip("esp32c3", xtal_32k=False)
    assert bare.pin_id(0) == 0
    bare.check_adc(1)
    with pytest.raises(Refusal, match="crystal"):
        Chip("esp32c3", xtal_32k=True).check_adc(1)


@pytest.mark.parametrize("interpreter", EACH)
@pytest.mark.parametrize("board", ["virtual", "esp32-devkitc", "esp32c3"])
def test_each_board_runs_the_full_scenario_at_the_default_heap(boot_board, board, interpreter):
    """The per-chip checks cost the firmware nothing: each board's firmware boots and runs every
    feature in the default heap (an ESP32's 96 KiB, 128 KiB in a 64-bit port's objects, plus
    the simulated modules' measured cost), on both interpreters. (Their qstrs are the
    firmware's: a pool doubling needs ~7.7 KB contiguous.)"""
    vb = boot_board(board, power_policy=None, interpreter=executable(interpreter))
    assert vb.heap_kb == (96 if interpreter == "esp32like" else 128)
    run_full_scenario(vb)
    assert vb.running and vb.crashed is None


def test_a_chip_the_virtual_board_does_not_simulate_is_refused_saying_so():
    with pytest.raises(VirtualBoardError, match="chip 'esp32s3'.*esp32, esp32c3"):
        Chip.for_board({"chip": "esp32s3"})
    assert Chip.for_board({}).name == "esp32"  # a board file without "chip": the ESP32


# ---- the bar of issue 12: hw.deep_sleep on the virtual esp32c3 behaves as on a C3 -----------

_OLD_DEEP_SLEEP = """        esp32.wake_on_ext0(self.button.pin, level)
        machine.deepsleep(ms)"""


def _sleep_then_press(vb):
    """The board's own policy puts the lock to sleep with its button armed; a press during the
    sleep wakes it, and the woken lock runs its self-test (green on, then red)."""
    _wait(lambda: vb.pins.asleep, 8)  # the policy task put it to sleep, not an exception
    assert vb.pins.wake_ext0 == (vb.board["pins"]["button"], 0)  # armed: low wakes (active low)
    assert vb.pins.wake_kind == "gpio"  # the C3's deep-sleep GPIO wake, not an RTC EXT0
    press = vb.press_button()
    _wait(lambda: any(led == "red" for _, led, _on in vb.led_timeline(press)), 15)
    greens = [t for t, led, on in vb.led_timeline(press) if led == "green" and on]
    assert greens and greens[0] < 2.0  # woke on the press, booted, and the self-test runs
    assert vb.wakes == 1 and vb.reset_cause == 4  # DEEPSLEEP_RESET
    assert not any("Traceback" in line for line in vb.output), vb.output[-20:]


def test_deep_sleep_on_the_esp32c3_sleeps_and_the_button_wakes_it_into_the_selftest(boot_board):
    vb = boot_board("esp32c3", power_policy={"awake_ms": 300, "sleep_ms": 60_000})
    _sleep_then_press(vb)


def test_the_pre_issue_12_deep_sleep_dies_on_the_esp32c3(tmp_path, monkeypatch):
    """The same check fails on the firmware before issue 12 (hw.deep_sleep armed
    esp32.wake_on_ext0, which the C3's build has not): the policy task dies with an
    AttributeError and the lock stays awake. Run on a copy of firmware/ with that code."""
    old = tmp_path / "firmware"
    shutil.copytree(firmware_dir(), old, ignore=shutil.ignore_patterns("__pycache__"))
    hw = old / "hw.py"
    source = hw.read_text()
    start = source.index("        # Each chip's build has its own wake sources")
    end = source.index("        machine.deepsleep(ms)") + len("        machine.deepsleep(ms)")
    hw.write_text(source[:start] + _OLD_DEEP_SLEEP + source[end:])
    monkeypatch.setenv(FIRMWARE_DIR_ENV, str(old))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its own build: never the others'
    vb = VirtualBoard("esp32c3", flash_dir=tmp_path / "flash",
                      power_policy={"awake_ms": 300, "sleep_ms": 60_000})
    try:
        vb.start()
        with pytest.raises(AssertionError):
            _sleep_then_press(vb)
        assert not vb.pins.asleep  # awake at ~25 mA: days, not months, on its pack
        assert any("AttributeError: module 'esp32' has no attribute 'wake_on_ext0'" in line
                   for line in vb.output), vb.output[-20:]
    finally:
        vb.close()


# ---- docs/virtual-board.md's table of the chip APIs is kept true -------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "virtual-board.md"
_TABLE_MARKER = "<!-- chip-api-table: checked by tests/test_chips.py -->"


def _api_table() -> list[tuple[str, str, str, str]]:
    """(api, ESP32 mark, ESP32-C3 mark, virtual board's cell) for each row of the table."""
    lines = DOC.read_text().split(_TABLE_MARKER, 1)[1].strip().splitlines()
    assert lines[0].startswith("| API |") and lines[1].startswith("|---")
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        api, esp32, c3, board = (cell.strip() for cell in line.strip("|").split("|", 3))
        rows.append((api.strip("`"), esp32, c3, board))
    return rows


def test_the_docs_table_of_chip_apis_matches_the_simulated_modules(probes):
    rows = _api_table()
    assert len(rows) >= 30
    wrong = []
    for api, esp32_mark, c3_mark, board in rows:
        parent, _, name = api.rpartition(".")
        expr = f"hasattr({parent}, {name!r})"
        real = {"esp32": esp32_mark, "esp32c3": c3_mark}
        assert set(real.values()) <= {"yes", "no"}, api
        kind = board.split(":")[0].split(";")[0].strip()
        assert kind in ("same", "differs", "absent"), f"{api}: {board!r} says neither same, differs nor absent"
        for chip, mark in real.items():
            offered = probes[chip](expr) == "ok True"
            if kind == "absent" and offered:
                wrong.append(f"{api} on {chip}: the table says absent, the simulated module has it")
            if kind != "absent" and offered != (mark == "yes"):
                wrong.append(f"{api} on {chip}: the table says {mark}, the simulated module {'has' if offered else 'lacks'} it")
    assert wrong == []


def test_the_table_check_catches_a_wrong_row(probes, monkeypatch, tmp_path):
    """The check is real: a row claiming the C3 has wake_on_ext0 fails it."""
    fake = tmp_path / "virtual-board.md"
    fake.write_text(f"{_TABLE_MARKER}\n| API | ESP32 | ESP32-C3 | On the virtual board |\n|---|---|---|---|\n"
                    + "| `esp32.wake_on_ext0` | yes | yes | same |\n" * 30)
    monkeypatch.setattr(sys.modules[__name__], "DOC", fake)
    with pytest.raises(AssertionError):
        test_the_docs_table_of_chip_apis_matches_the_simulated_modules(probes)
