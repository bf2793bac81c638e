# Production-style lock on an ESP32-C3 module: few pins, so no limit switches. End of travel
# is found by motor-current sensing (the bolt stalls against its end stop). 3.6 V Li-SOCl2 pack.
# BOARD is copied to the board's flash as board.py by `hemlas flash`; HOST, at the end, stays
# on the host.

BOARD = {
    "name": "esp32c3",
    "model": "hemlas lock (ESP32-C3)",
    # Pins, as the C3 allows (MicroPython v1.28 ports/esp32, ESP-IDF soc/esp32c3 soc_caps.h):
    # - the button wakes the chip from deep sleep, so it is on GPIO0-5, the C3's only deep-sleep
    #   wake pins (SOC_GPIO_DEEP_SLEEP_WAKE_VALID_GPIO_MASK), and not on GPIO0/1 (the crystal);
    # - the ADC inputs are on ADC1 channels, GPIO0-4 (machine_adc.c:96-101; GPIO5 is ADC2, which
    #   the C3's driver refuses), so GPIO3 and GPIO4;
    # - GPIO2, GPIO8 and GPIO9 are strapping pins (datasheet "Strapping Pins": GPIO9 high to boot
    #   from flash). The LEDs sit on GPIO8/9 wired to 3.3 V (active low), which holds both high at
    #   reset; nothing that must be low at reset (motor, test load) is on a strapping pin;
    # - GPIO18/19 are the USB serial/JTAG (MicroPython's C3 build does not offer them:
    #   machine_pin.h:107-110), GPIO11-17 the SPI flash. GPIO20/21 are UART0, MicroPython's
    #   second REPL on ESP32_GENERIC_C3 (mpconfigboard.h MICROPY_HW_ENABLE_UART_REPL); the
    #   production image (a custom board: firmware frozen, docs/firmware.md) turns that REPL
    #   off, so the console is the USB-Serial/JTAG one, and GPIO20/21 carry the knock sensor's
    #   I2C bus;
    # - the knock sensor's interrupt wakes the chip too: GPIO2, the last free deep-sleep wake
    #   pin. It is a strapping pin, so INT1 is open drain and active low with a pull-up
    #   (CTRL3 PP_OD, H_LACTIVE): released, it holds GPIO2 high at reset.
    "pins": {
        "motor_a": 6,  # H-bridge IN1: bolt out (lock)
        "motor_b": 7,  # H-bridge IN2: bolt in (unlock)
        "limit_locked": None,  # not fitted: stall sensing finds the ends
        "limit_unlocked": None,
        "motor_sense": 4,  # ADC1 channel 4
        "button": 5,  # deep-sleep wake pin (esp32.wake_on_gpio), to ground with the pull-up
        "led_green": 8,  # strapping pin: LED to 3.3 V keeps it high at reset
        "led_red": 9,  # strapping pin (BOOT): likewise
        "battery_adc": 3,  # ADC1 channel 3
        "battery_load": 10,
        "accel_int": 2,  # LIS2DW12 INT1 (open drain, active low, 100k pull-up): deep-sleep wake
        "i2c_scl": 20,
        "i2c_sda": 21,
    },
    # The knock sensor: ST LIS2DW12 on the door leaf (Z normal to the door), I2C address 0x19
    # (SA0 to VDD). Datasheet DS11880: "50 nA in power-down mode, below 1 uA in active
    # low-power mode" (at its lowest rates); its wake-up function interrupts when a sample's
    # slope passes WAKE_UP_THS (1 LSB = full scale / 64), latched (LIR) until WAKE_UP_SRC is
    # read. The low-power modes sample at 1.6-200 Hz (ODR codes above 200 Hz run at 200 Hz
    # unless the part is in high-performance mode, ~90 uA); low-power mode 1 draws 0.38 uA at
    # 1.6 Hz and 5 uA at 100 Hz (typical, the datasheet's table). A rap rings at tens of Hz for
    # tens of ms: in the virtual board's door model 82 % of default knocks (random phase) woke
    # the part at 50 Hz and 125 mg, 87 % at 100 Hz, all at 200 Hz. So 200 Hz, low-power mode 1,
    # budgeted at 10 uA (twice the 100 Hz figure), a figure only the bench confirms
    # (docs/battery.md, docs/knock.md).
    "accel": {
        "part": "LIS2DW12",
        "i2c_id": 0,
        "addr": 0x19,
        "freq": 400000,
        "fs_g": 4,  # +-4 g: 62.5 mg per threshold LSB
        "odr_hz": 200,
        "wake_mg": 125,  # 2 LSB: a rap's ring passes it, the building's hum does not
        # A blow on the leaf, not a knock (the tap threshold on the slope: firmware/knock.py):
        # between the door model's close impact (1500 mg at 50 Hz: ~1.1 g of slope at 200 Hz)
        # and its kick (4000 mg at 40 Hz: ~2.4 g), over a knock's 0.6 g. To be set on a door.
        "blow_mg": 1250,
        "ua": 10,
    },
    "button_active_low": True,
    "limit_active_low": True,
    "led_active_high": False,  # LEDs to 3.3 V on the strapping pins (see above)
    "motor": {
        "pwm": False,  # full-on through plain GPIO: the 3 V motor wants all of 3.6 V
        "pwm_freq": 0,
        "duty_pct": 100,
        "min_travel_ms": 420,  # without switches, a stall before 60 % of travel is a jam
        "max_travel_ms": 1750,
        "inrush_ms": 60,
        "run_ma": 200,
        "stall_ma": 380,
        "sense_mv_per_ma": 2.0,
        "backoff_ms": 200,
        "retry_pause_ms": 300,
    },
    "adc": {
        "atten": 3,  # ADC.ATTN_11DB: the C3 reads up to about 2.5 V
        "divider": 2.0,
        "gain": 1.0,
        "offset_mv": 0,
        "samples": 16,
    },
    "load": {
        "ohm": 8.2,
        "settle_ms": 20,
    },
    "battery": {
        "capacity_mah": 5800,
        "low_mv": 3200,
        "critical_mv": 2700,
        "fresh_mv": 3400,  # a new cell under the test load
        "low_pct": 10,
        "ocv_curve": ((0.0, 2900), (0.01, 3050), (0.03, 3250), (0.08, 3450),
                      (0.2, 3580), (0.6, 3630), (1.0, 3670)),
    },
    "power": {
        "active_ma": 25,  # the C3 draws less than the classic ESP32
        "adv_ma": 2,  # more while advertising, at a 100 ms interval (0.4 mA at 500 ms)
        "conn_ma": 3,
        "sleep_ua": 17.8,  # HOST's sleep_parts_ua summed (tests/test_physics.py checks it)
        "led_ma": 5,
        # Between visits: awake and advertising 0.2 s (counted from the first advertisement,
        # every 50 ms), then 57 s of deep sleep: reachable within a minute without a knock. A
        # knock wakes the lock at once and keeps it advertising 4 s for the carer's phone.
        # benchmarks/power_policy.py: the months this gives, and the wait. 0.15 s would give
        # 2.7 months more, but `hemlas flash` does not catch a sleeping unit in so short a
        # window (tests/test_flash.py, tests/test_hil_esp32c3.py): docs/battery.md.
        # A door open this long is "left open" (firmware/door.py): an assumption, 10 minutes,
        # longer than a carer takes to come in and shut the door behind them, short enough to
        # warn before the customer's home cools.
        "left_open_s": 600,
        "policy": {"awake_ms": 200, "sleep_ms": 57000, "adv_interval_ms": 50, "knock_awake_ms": 4000},
    },
    "ble": {
        # Battery powered: 500 ms halves the advertising energy of 250 ms, and a phone
        # still finds the lock within a second or two.
        "adv_interval_ms": 500,
    },
    "wdt_ms": 8000,
    "log_segments": 8,
    "log_segment_records": 64,
}

# What only the host reads (the virtual board's physics and chip, `hemlas boards`): merged
# into BOARD on the host (hemlas.boards.load_board), never copied to the unit, where each
# name would be a qstr and each value heap the lock never reads.
HOST = {
    "chip": "esp32c3",  # MicroPython's ESP32_GENERIC_C3 build (hemlas/sim/chips.py has its facts)
    # A 32 kHz crystal on GPIO0/GPIO1 (XTAL_32K_P/N, ESP32-C3 datasheet "Pin Description"): the
    # RTC keeps time through deep sleep to tens of ppm, where the RC oscillator drifts by percent.
    # Those two pins are the crystal's: the virtual board refuses them.
    "xtal_32k": True,
    "motor": {
        "travel_ms": 700,
        "winding_ohm": 6.5,
    },
    "battery": {
        "chemistry": "Li-SOCl2",
        "nominal_mv": 3600,
        "r_curve": ((0.0, 4000), (0.01, 2500), (0.03, 1400), (0.08, 600),
                    (0.2, 300), (1.0, 250)),
    },
    "power": {
        # Asleep, every part that draws (uA), so the average current's table names each:
        # - chip: ESP32-C3 in deep sleep with the RTC timer and RTC memory (datasheet v1.x,
        #   "Power Consumption in Low-Power Modes": 5 uA);
        # - regulator: a nanoamp-Iq buck (TI TPS62840: 60 nA) with its leakage: 1 uA;
        # - divider: the battery divider, 1 M + 1 M across 3.6 V (100 nF feeds the ADC);
        # - knock sensor: the LIS2DW12 at 200 Hz in low-power mode 1 (see "accel").
        "sleep_parts_ua": {"chip": 5, "regulator": 1, "divider": 1.8, "knock_sensor": 10},
        # From a wake to the firmware's main.py: the ROM and second-stage bootloader, then
        # MicroPython's start-up. Measured by others on an ESP32-S3 with MicroPython v1.19:
        # 264 ms to app_main (217 of it validating the image), then 350 ms from _boot.py into
        # main.py (the filesystem mounted, main.py compiled); with the bootloader told to skip
        # validation after deep sleep (CONFIG_BOOTLOADER_SKIP_VALIDATE_IN_DEEP_SLEEP) 47 ms to
        # app_main, and an application frozen into the image runs from _boot.py at once
        # (github.com/glenn20/upy-esp32-experiments, OptimisingMicropythonBootTime). The
        # production image is such a custom build (firmware frozen): 50 ms. A stock image with
        # the firmware as .mpy files: 264 + 350 = ~650 ms (benchmarks/power_policy.py prints
        # both). The firmware's own start-up after that runs as measured on the virtual board.
        "boot_ms": 50,
        "boot_ms_stock": 650,
        # ble.active(True): the controller and NimBLE starting, ~200 ms (issue 14's figure,
        # published as part of MicroPython's 0.5-0.9 s wake to first advertisement); the
        # virtual board's radio starts at once otherwise, so it waits this long.
        "ble_start_ms": 200,
        "brownout_mv": 2300,
    },
}
