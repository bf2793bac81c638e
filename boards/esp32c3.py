# Production-style lock on an ESP32-C3 module: few pins, so no limit switches. End of travel
# is found by motor-current sensing (the bolt stalls against its end stop). 3.6 V Li-SOCl2 pack.
# Copied to the board's flash as board.py by `hemlas flash`.

BOARD = {
    "name": "esp32c3",
    "model": "hemlas lock (ESP32-C3)",
    "pins": {
        "motor_a": 4,  # H-bridge IN1: bolt out (lock)
        "motor_b": 5,  # H-bridge IN2: bolt in (unlock)
        "limit_locked": None,  # not fitted: stall sensing finds the ends
        "limit_unlocked": None,
        "motor_sense": 1,  # ADC1 channel 1
        "button": 9,  # the C3's BOOT strapping pin doubles as the service button
        "led_green": 6,
        "led_red": 7,
        "battery_adc": 0,  # ADC1 channel 0
        "battery_load": 10,
    },
    "button_active_low": True,
    "limit_active_low": True,
    "led_active_high": True,
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
