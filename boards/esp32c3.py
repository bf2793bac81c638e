# Production-style lock on an ESP32-C3 module: few pins, so no limit switches. End of travel
# is found by motor-current sensing (the bolt stalls against its end stop). 3.6 V Li-SOCl2 pack.
# Copied to the board's flash as board.py by `hemlas flash`.

BOARD = {
    "name": "esp32c3",
    "chip": "esp32c3",  # MicroPython's ESP32_GENERIC_C3 build (hemlas/sim/chips.py has its facts)
    "model": "hemlas lock (ESP32-C3)",
    # A 32 kHz crystal on GPIO0/GPIO1 (XTAL_32K_P/N, ESP32-C3 datasheet "Pin Description"): the
    # RTC keeps time through deep sleep to tens of ppm, where the RC oscillator drifts by percent.
    # Those two pins are the crystal's: the virtual board refuses them.
    "xtal_32k": True,
    # Pins, as the C3 allows (MicroPython v1.28 ports/esp32, ESP-IDF soc/esp32c3 soc_caps.h):
    # - the button wakes the chip from deep sleep, so it is on GPIO0-5, the C3's only deep-sleep
    #   wake pins (SOC_GPIO_DEEP_SLEEP_WAKE_VALID_GPIO_MASK), and not on GPIO0/1 (the crystal);
    # - the ADC inputs are on ADC1 channels, GPIO0-4 (machine_adc.c:96-101; GPIO5 is ADC2, which
    #   the C3's driver refuses), so GPIO3 and GPIO4;
    # - GPIO2, GPIO8 and GPIO9 are strapping pins (datasheet "Strapping Pins": GPIO9 high to boot
    #   from flash). The LEDs sit on GPIO8/9 wired to 3.3 V (active low), which holds both high at
    #   reset; nothing that must be low at reset (motor, test load) is on a strapping pin;
    # - GPIO18/19 are the USB serial/JTAG (MicroPython's C3 build does not offer them:
    #   machine_pin.h:107-110), GPIO20/21 UART0 (the REPL), GPIO11-17 the SPI flash.
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
    },
    "button_active_low": True,
    "limit_active_low": True,
    "led_active_high": False,  # LEDs to 3.3 V on the strapping pins (see above)
    "motor": {
        "pwm": False,  # full-on through plain GPIO: the 3 V motor wants all of 3.6 V
        "pwm_freq": 0,
        "duty_pct": 100,
        "travel_ms": 700,
        "min_travel_ms": 420,  # without switches, a stall before 60 % of travel is a jam
        "max_travel_ms": 1750,
        "inrush_ms": 60,
        "run_ma": 200,
        "winding_ohm": 6.5,
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
        "chemistry": "Li-SOCl2",
        "nominal_mv": 3600,
        "capacity_mah": 5800,
        "low_mv": 3200,
        "critical_mv": 2700,
        "fresh_mv": 3400,  # a new cell under the test load
        "low_pct": 10,
        "ocv_curve": ((0.0, 2900), (0.01, 3050), (0.03, 3250), (0.08, 3450),
                      (0.2, 3580), (0.6, 3630), (1.0, 3670)),
        "r_curve": ((0.0, 4000), (0.01, 2500), (0.03, 1400), (0.08, 600),
                    (0.2, 300), (1.0, 250)),
    },
    "power": {
        "active_ma": 25,  # the C3 draws less than the classic ESP32
        "adv_ma": 2,  # more while advertising, at a 100 ms interval (0.4 mA at 500 ms)
        "conn_ma": 3,
        "sleep_ua": 8,  # deep sleep: RTC timer and wake pin, plus a low-Iq regulator
        "boot_ms": 250,
        "led_ma": 5,
        # Between visits: awake and advertising 0.6 s, then 12 s of deep sleep. About half a
        # year on the cell, and a client waits up to ~13 s (benchmarks/power_policy.py).
        # Windows advertise every 100 ms, so a scanning phone finds the lock and connects
        # well inside one (at 500 ms a window would hold one advertisement).
        "policy": {"awake_ms": 600, "sleep_ms": 12000, "adv_interval_ms": 100},
        "brownout_mv": 2300,
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
