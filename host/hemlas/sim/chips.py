"""What MicroPython v1.28's esp32 port offers on each chip, and how it refuses the rest.

The one source of these facts: the harness (hemlas.sim.pins) checks every Pin, ADC, wake and
deep-sleep request of the simulated machine and esp32 modules against them, and answers a
refusal as a line "!Type message" that the module raises as that exception (machine._call).
The modules themselves stay small: on a board they are C in flash, and every name they hold
here is a qstr in the firmware's pool (a 640-entry pool needs ~7.7 KB of contiguous heap).

Every fact cites where it is compiled in. "mp:" is the v1.28.0 release source
(../shared/micropython/micropython-1.28.0-src.tar.gz, ports/esp32/...); "idf:" is ESP-IDF's
components/soc/<chip>/include/soc/soc_caps.h and esp_hw_support (v1.28 builds with ESP-IDF
v5.5.1: ports/esp32/README.md:55), read from espressif/esp-idf.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import VirtualBoardError

# mp: modesp32.h:52-72, the #else branch: RTC_VALID_EXT_PINS for every chip but S2/S3/C6 --
# the ESP32's RTC GPIOs, also on the C3, where Pin.irq(wake=) checks it (machine_pin.c:341).
_ESP32_RTC_EXT_PINS = frozenset((0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39))

WAKE_FUNCTIONS = ("wake_on_touch", "wake_on_ext0", "wake_on_ext1", "wake_on_ulp", "wake_on_gpio")

CHIPS: dict[str, dict] = {
    "esp32": {
        # mp: machine_pin.h:34-72 (ESP32_GENERIC has no SPIRAM, so GPIO16/17 are there: :52-55).
        "pins": frozenset(tuple(range(0, 24)) + (25, 26, 27) + tuple(range(32, 40))),
        # mp: machine_pin.c:54-55 GPIO_FIRST_NON_OUTPUT 34; :198-201 raises for an output mode.
        "input_only": frozenset(range(34, 40)),
        # mp: machine_adc.c:71-89 (pin -> (ADC block, channel)).
        "adc": {36: (1, 0), 37: (1, 1), 38: (1, 2), 39: (1, 3), 32: (1, 4), 33: (1, 5),
                34: (1, 6), 35: (1, 7), 4: (2, 0), 0: (2, 1), 2: (2, 2), 15: (2, 3), 13: (2, 4),
                12: (2, 5), 14: (2, 6), 27: (2, 7), 25: (2, 8), 26: (2, 9)},
        # ADC2 reads while the radio runs: idf: the ADC oneshot guide says Wi-Fi (not BLE) holds
        # ADC2, and adc_oneshot_read arbitrates; the firmware has no Wi-Fi, so ADC2 stays usable.
        "adc2": True,
        # idf: esp32 soc_caps.h "Power Management CAPS": SOC_PM_SUPPORT_EXT0_WAKEUP,
        # SOC_PM_SUPPORT_EXT1_WAKEUP; COMMON CAPS: SOC_TOUCH_SENSOR_SUPPORTED, SOC_ULP_SUPPORTED.
        # mp: modesp32.c:321-333 compiles wake_on_touch/ext0/ext1/ulp on those; wake_on_gpio always.
        "esp32_wake": WAKE_FUNCTIONS,
        "rtc_ext_pins": _ESP32_RTC_EXT_PINS,
        # idf: esp32 soc_caps.h has no SOC_GPIO_SUPPORT_DEEPSLEEP_WAKEUP, so mp: modmachine.c:180-183
        # refuses a deep sleep with wake_on_gpio pins set (empty: no pin may wake by GPIO).
        "gpio_deepsleep_wake": frozenset(),
        # ESP32 datasheet v4.x, Table "Pin Definitions": GPIO32 = 32K_XP, GPIO33 = 32K_XN.
        "xtal_32k": (32, 33),
        # Hardware I2C id -> its default (scl, sda). idf: esp32 soc_caps.h SOC_I2C_NUM 2, so
        # hal/i2c_types.h has I2C_NUM_0 and I2C_NUM_1 (I2C_NUM_MAX 2); mp: machine_i2c.h:30-49.
        "i2c": {0: (18, 19), 1: (25, 26)},
    },
    "esp32c3": {
        # mp: machine_pin.h:91-112; ESP32_GENERIC_C3 keeps the USB serial/JTAG (mpconfigport.h:285-286:
        # SOC_USB_SERIAL_JTAG_SUPPORTED and no USB CDC), so GPIO18/19 are not there (:107-110).
        "pins": frozenset(tuple(range(0, 14)) + (20, 21)),
        # mp: machine_pin.c:54-60 defines no GPIO_FIRST_NON_OUTPUT for the C3: every pin drives.
        "input_only": frozenset(),
        # mp: machine_adc.c:96-102. ADC2 (GPIO5) is listed, but see "adc2".
        "adc": {0: (1, 0), 1: (1, 1), 2: (1, 2), 3: (1, 3), 4: (1, 4), 5: (2, 0)},
        # idf: esp_adc/adc_oneshot.c adc_oneshot_new_unit: on the C3 without
        # CONFIG_ADC_ONESHOT_FORCE_USE_ADC2_ON_C3 (MicroPython's boards/sdkconfig.* do not set it)
        # ADC2 is refused with ESP_ERR_INVALID_ARG (0x102, the C3 errata: unstable results);
        # mp: machine_adc.c:191 check_esp_err -> mphalport.c:64-104 OSError(-258, "ESP_ERR_INVALID_ARG").
        "adc2": False,
        # idf: esp32c3 soc_caps.h defines neither SOC_PM_SUPPORT_EXT0/EXT1_WAKEUP nor
        # SOC_TOUCH_SENSOR_SUPPORTED nor SOC_ULP_SUPPORTED: mp: modesp32.c:321-333 leaves only
        # wake_on_gpio (:333, unconditional).
        "esp32_wake": ("wake_on_gpio",),
        "rtc_ext_pins": _ESP32_RTC_EXT_PINS,
        # idf: esp32c3 soc_caps.h SOC_GPIO_SUPPORT_DEEPSLEEP_WAKEUP (1) and
        # SOC_GPIO_DEEP_SLEEP_WAKE_VALID_GPIO_MASK = BIT0..BIT5 ("GPIO0~5 on ESP32C3 can support
        # chip deep sleep wakeup"); another pin makes esp_deep_sleep_enable_gpio_wakeup fail and
        # mp: modmachine.c:201-206 raise ValueError("wake-up pin not supported").
        "gpio_deepsleep_wake": frozenset(range(0, 6)),
        # ESP32-C3 datasheet v1.x, Table "Pin Description": GPIO0 = XTAL_32K_P, GPIO1 = XTAL_32K_N.
        "xtal_32k": (0, 1),
        # idf: esp32c3 soc_caps.h "ESP32-C3 has 1 I2C" (SOC_I2C_NUM 1): I2C_NUM_0 only;
        # mp: machine_i2c.h:30-39 defaults I2C0 to SCL GPIO9, SDA GPIO8 on the C3.
        "i2c": {0: (9, 8)},
    },
}

# mp: modmachine.c:76-81: the wake-reason names, the same on every chip (esp_sleep_source_t).
# machine.wake_reason() is esp_sleep_get_wakeup_cause() (:308-310); a deep-sleep GPIO wake
# (the C3's) is ESP_SLEEP_WAKEUP_GPIO = 7, which machine has no name for (idf: esp_sleep.h,
# enum esp_sleep_source_t; sleep_modes.c esp_sleep_get_wakeup_cause: RTC_GPIO_TRIG_EN -> GPIO).
WAKE_EXT0 = 2
WAKE_EXT1 = 3
WAKE_TIMER = 4
WAKE_GPIO = 7
WAKE_REASON = {"ext0": WAKE_EXT0, "ext1": WAKE_EXT1, "gpio": WAKE_GPIO}

DEFAULT_CHIP = "esp32"  # a board file's chip when it names none
_GPIO_MODE_DEF_OUTPUT = 2  # idf: hal/gpio_types.h BIT1; mp: Pin.OUT = 3, OPEN_DRAIN = 7 carry it
_ESP_ERR_INVALID_ARG = 0x102  # idf: esp_err.h


class Refusal(Exception):
    """What the chip's MicroPython raises for a request: kind is the exception's type name."""

    def __init__(self, kind: str, message: str, errno: int | None = None):
        super().__init__(message)
        self.kind, self.message, self.errno = kind, message, errno

    def answer(self) -> str:
        """The line the simulated module turns back into the exception (machine._call)."""
        if self.errno is not None:
            return f"!{self.kind} {self.errno} {self.message}"
        return f"!{self.kind} {self.message}"


def chip_facts(name: str) -> dict:
    try:
        return CHIPS[name]
    except KeyError:
        raise VirtualBoardError(f"the board file names chip {name!r}, which the virtual board does not "
                                f"simulate ({', '.join(sorted(CHIPS))}): add its facts to hemlas/sim/chips.py") from None


@dataclass
class Chip:
    """One board's chip: its facts, whether a 32 kHz crystal holds its XTAL_32K pins, and the
    deep-sleep wake configuration, as the port's machine_rtc_config (machine_rtc.h: plain RAM,
    so a new one at every boot)."""

    name: str
    xtal_32k: bool = False
    ext0: tuple[int, int] | None = None  # (pin, level)
    ext1: tuple[frozenset[int], int] = (frozenset(), 0)
    gpio: tuple[frozenset[int], int] = (frozenset(), 0)
    touch: bool = False
    ulp: bool = False
    facts: dict = field(init=False)

    def __post_init__(self) -> None:
        self.facts = chip_facts(self.name)

    @classmethod
    def for_board(cls, board: dict) -> "Chip":
        return cls(board.get("chip", DEFAULT_CHIP), bool(board.get("xtal_32k")))

    def new_boot(self) -> None:
        self.ext0, self.ext1, self.gpio, self.touch, self.ulp = None, (frozenset(), 0), (frozenset(), 0), False, False

    def absent_wake_functions(self) -> list[str]:
        return [name for name in WAKE_FUNCTIONS if name not in self.facts["esp32_wake"]]

    # ---- machine.Pin, machine.ADC, machine.PWM ------------------------------------------

    def pin_id(self, pin: int) -> int:
        """mp: machine_pin.c:100-125 machine_pin_find: a GPIO the build has, else "invalid pin"."""
        if pin not in self.facts["pins"]:
            raise Refusal("ValueError", "invalid pin")
        if self.xtal_32k and pin in self.facts["xtal_32k"]:
            # The pad exists on the chip, but the board's crystal is wired to it: driving or
            # reading it stops the RTC's clock. A board would not raise; the virtual board does.
            raise Refusal("ValueError", f"GPIO{pin} carries the board's 32 kHz crystal (xtal_32k)")
        return pin

    def check_pin_init(self, pin: int, mode: int) -> None:
        self.pin_id(pin)
        if mode >= 0 and mode & _GPIO_MODE_DEF_OUTPUT and pin in self.facts["input_only"]:
            raise Refusal("ValueError", "pin can only be input")  # mp: machine_pin.c:198-201

    def check_adc(self, pin: int) -> None:
        self.pin_id(pin)
        unit = self.facts["adc"].get(pin)
        if unit is None:
            raise Refusal("ValueError", "invalid pin")  # mp: machine_adc.c:214-218
        if unit[0] == 2 and not self.facts["adc2"]:
            raise Refusal("OSError", "ESP_ERR_INVALID_ARG", -_ESP_ERR_INVALID_ARG)

    def check_i2c(self, i2c_id: int, scl: int, sda: int, before: tuple[int, int] | None) -> tuple[int, int]:
        """mp: machine_i2c.c:334-378 machine_hw_i2c_make_new: the id must be one of the chip's
        (:352-355), each pin given a GPIO of the build (machine_pin_get_id -> machine_pin_find,
        "invalid pin"); a pin not given (-1) is the one this id had (before), else its default
        (:360-367). Returns (scl, sda). Any GPIO may carry either line through the GPIO matrix;
        one that cannot drive (the ESP32's GPIO34-39) makes i2c_param_config fail, which the
        port does not check (:262): the bus then acknowledges nothing."""
        if i2c_id not in self.facts["i2c"]:
            raise Refusal("ValueError", f"I2C({i2c_id}) doesn't exist")
        old_scl, old_sda = before or self.facts["i2c"][i2c_id]
        return (old_scl if scl < 0 else self.pin_id(scl), old_sda if sda < 0 else self.pin_id(sda))

    # ---- esp32.wake_on_* (mp: modesp32.c:52-196) ----------------------------------------

    def _rtc_ext_pin(self, pin: int) -> int:
        if self.pin_id(pin) not in self.facts["rtc_ext_pins"]:
            raise Refusal("ValueError", "invalid pin")
        return pin

    def wake_on(self, function: str, pins: list[int] | None, level: int | None) -> None:
        """esp32.<function>(pins, level): pins None keeps the configured ones (for ext0, an
        empty list is pin=None, which clears it); level None keeps the configured level."""
        if function not in self.facts["esp32_wake"]:
            raise Refusal("AttributeError", f"'module' object has no attribute '{function}'")
        if function == "wake_on_ext0":
            if self.touch:
                raise Refusal("ValueError", "no resources")
            keep = self.ext0[1] if self.ext0 else 0
            if pins == []:
                self.ext0 = None
                return
            pin = pins[0] if pins else (self.ext0[0] if self.ext0 else -1)
            if self.ext0 is None or pin != self.ext0[0]:
                self._rtc_ext_pin(pin)
            self.ext0 = (pin, keep if level is None else level)
        elif function == "wake_on_ext1":
            chosen = self.ext1[0] if pins is None else frozenset(self._rtc_ext_pin(p) for p in pins)
            self.ext1 = (chosen, self.ext1[1] if level is None else level)
        elif function == "wake_on_gpio":
            if self.ulp or self.touch:
                raise Refusal("ValueError", "no resources")
            # Checked only when a sleep enables them (modesp32.c:183-187), but each must be a pin.
            chosen = self.gpio[0] if pins is None else frozenset(self.pin_id(p) for p in pins)
            self.gpio = (chosen, self.gpio[1] if level is None else level)
        else:  # wake_on_touch, wake_on_ulp: the ESP32 refuses them beside ext0 or gpio pins
            if self.ext0 is not None or self.gpio[0]:
                raise Refusal("ValueError", "no resources")
            setattr(self, function[8:], bool(level))

    def deepsleep_wake(self) -> list[tuple[str, int, int]]:
        """mp: modmachine.c machine_sleep_helper for a deep sleep: the (kind, pin, level) of
        every wake pin it enables, raising as the port does where the chip cannot."""
        armed = []
        if self.ext0 is not None:  # ext0 is set for SLEEP | DEEPSLEEP (modesp32.c:97)
            armed.append(("ext0", *self.ext0))
        armed += [("ext1", pin, self.ext1[1]) for pin in sorted(self.ext1[0])]
        pins, level = self.gpio
        if pins:
            valid = self.facts["gpio_deepsleep_wake"]
            if not valid:  # mp: modmachine.c:180-183
                raise Refusal("ValueError", "DEEPSLEEP with gpio pins not supported on this chip")
            if not pins <= valid:  # mp: modmachine.c:201-206
                raise Refusal("ValueError", "wake-up pin not supported")
            armed += [("gpio", pin, level) for pin in sorted(pins)]
        return armed
