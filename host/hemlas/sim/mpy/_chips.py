# What MicroPython v1.28's esp32 port offers on each chip, for the simulated machine and esp32
# modules (MicroPython, run in the firmware process; plain Python too, so host tests read it).
# One source: every fact cites where it is compiled in. "mp:" is the v1.28.0 release source
# (../shared/micropython/micropython-1.28.0-src.tar.gz, ports/esp32/...); "idf:" is ESP-IDF's
# components/soc/<chip>/include/soc/soc_caps.h and esp_hw_support (v1.28 builds with ESP-IDF
# v5.5.1: ports/esp32/README.md:55), read from espressif/esp-idf.
# Pin sets are bitmasks, bit n = GPIOn, as the C source writes them.


def _bits(pins):
    mask = 0
    for pin in pins:
        mask |= 1 << pin
    return mask


# mp: modesp32.h:52-72, the #else branch: RTC_VALID_EXT_PINS for every chip but S2/S3/C6 --
# the ESP32's RTC GPIOs, also on the C3, where Pin.irq(wake=) checks it (machine_pin.c:341).
_ESP32_RTC_EXT_PINS = _bits((0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39))

CHIPS = {
    "esp32": {
        # mp: machine_pin.h:34-72 (ESP32_GENERIC has no SPIRAM, so GPIO16/17 are there: :52-55).
        "pins": _bits(tuple(range(0, 24)) + (25, 26, 27) + tuple(range(32, 40))),
        # mp: machine_pin.c:54-55 GPIO_FIRST_NON_OUTPUT 34; :198-201 raises for an output mode.
        "input_only": _bits(range(34, 40)),
        # mp: machine_adc.c:71-89 (pin -> (ADC block, channel)).
        "adc": {36: (1, 0), 37: (1, 1), 38: (1, 2), 39: (1, 3), 32: (1, 4), 33: (1, 5),
                34: (1, 6), 35: (1, 7), 4: (2, 0), 0: (2, 1), 2: (2, 2), 15: (2, 3), 13: (2, 4),
                12: (2, 5), 14: (2, 6), 27: (2, 7), 25: (2, 8), 26: (2, 9)},
        # ADC2 reads while the radio runs: idf: ADC oneshot guide says Wi-Fi (not BLE) holds ADC2,
        # and adc_oneshot_read arbitrates; the firmware has no Wi-Fi, so ADC2 stays usable.
        "adc2": True,
        # idf: esp32 soc_caps.h "Power Management CAPS": SOC_PM_SUPPORT_EXT0_WAKEUP,
        # SOC_PM_SUPPORT_EXT1_WAKEUP; COMMON CAPS: SOC_TOUCH_SENSOR_SUPPORTED, SOC_ULP_SUPPORTED.
        # mp: modesp32.c:321-333 compiles wake_on_touch/ext0/ext1/ulp on those; wake_on_gpio always.
        "esp32_wake": ("wake_on_touch", "wake_on_ext0", "wake_on_ext1", "wake_on_ulp", "wake_on_gpio"),
        "rtc_ext_pins": _ESP32_RTC_EXT_PINS,
        # idf: esp32 soc_caps.h has no SOC_GPIO_SUPPORT_DEEPSLEEP_WAKEUP, so mp: modmachine.c:180-183
        # refuses a deep sleep with wake_on_gpio pins set (0: no pin may wake by GPIO).
        "gpio_deepsleep_wake": 0,
        # ESP32 datasheet v4.x, Table "Pin Definitions": GPIO32 = 32K_XP, GPIO33 = 32K_XN.
        "xtal_32k": (32, 33),
    },
    "esp32c3": {
        # mp: machine_pin.h:91-112; ESP32_GENERIC_C3 keeps the USB serial/JTAG (mpconfigport.h:285-286:
        # SOC_USB_SERIAL_JTAG_SUPPORTED and no USB CDC), so GPIO18/19 are not there (:107-110).
        "pins": _bits(tuple(range(0, 14)) + (20, 21)),
        # mp: machine_pin.c:54-60 defines no GPIO_FIRST_NON_OUTPUT for the C3: every pin drives.
        "input_only": 0,
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
        "gpio_deepsleep_wake": _bits((0, 1, 2, 3, 4, 5)),
        # ESP32-C3 datasheet v1.x, Table "Pin Description": GPIO0 = XTAL_32K_P, GPIO1 = XTAL_32K_N.
        "xtal_32k": (0, 1),
    },
}

# mp: modmachine.c:76-81: the wake-reason names, the same on every chip (esp_sleep_source_t).
# machine.wake_reason() is esp_sleep_get_wakeup_cause() (:308-310); a deep-sleep GPIO wake
# (the C3's) is ESP_SLEEP_WAKEUP_GPIO = 7, which machine has no name for (idf: esp_sleep.h,
# enum esp_sleep_source_t; sleep_modes.c esp_sleep_get_wakeup_cause: RTC_GPIO_TRIG_EN -> GPIO).
WAKE_EXT0 = 2
WAKE_EXT1 = 3
WAKE_TIMER = 4
WAKE_TOUCHPAD = 5
WAKE_ULP = 6
WAKE_GPIO = 7

DEFAULT_CHIP = "esp32"  # the virtual board's chip, and a board file's without "chip"


def has(mask, pin):
    return pin >= 0 and (mask >> pin) & 1 == 1
