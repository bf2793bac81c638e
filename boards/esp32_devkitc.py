# Bench board: an ESP32-DevKitC on a breadboard with a DRV8833 H-bridge, a geared 6 V lock
# motor, two limit switches, a current sense amplifier and a 4xAA alkaline pack.
# BOARD is copied to the board's flash as board.py by `hemlas flash`; HOST, at the end, stays
# on the host.

BOARD = {
    "name": "esp32-devkitc",
    "model": "hemlas bench lock (ESP32-DevKitC)",
    "pins": {
        "motor_a": 25,  # DRV8833 AIN1: bolt out (lock)
        "motor_b": 26,  # DRV8833 AIN2: bolt in (unlock)
        "limit_locked": 32,
        "limit_unlocked": 33,
        "motor_sense": 35,  # ADC1, input-only pin
        "button": 0,  # the DevKitC's BOOT button
        "led_green": 18,
        "led_red": 19,
        "battery_adc": 34,  # ADC1, input-only pin
        "battery_load": 27,
    },
    "button_active_low": True,
    "limit_active_low": True,
    "led_active_high": True,
    "motor": {
        "pwm": True,
        "pwm_freq": 20000,  # above hearing
        "duty_pct": 80,  # a 6 V motor on a fresh 6.4 V pack: 80 % keeps it near rating
        "min_travel_ms": 450,  # a stall earlier than this is a jam
        "max_travel_ms": 2200,  # about 2.5x nominal: a weak pack moves the bolt slower
        "inrush_ms": 80,
        "run_ma": 180,
        "stall_ma": 350,
        "sense_mv_per_ma": 2.0,  # 0.1 ohm shunt x gain 20 (INA180A1)
        "backoff_ms": 250,
        "retry_pause_ms": 300,
    },
    "adc": {
        "atten": 3,  # ADC.ATTN_11DB
        "divider": 3.0,  # 200k/100k: 6.4 V reads 2.13 V at the pin
        "gain": 1.0,  # set per unit from a multimeter reading
        "offset_mv": 0,
        "samples": 16,
    },
    "load": {
        "ohm": 15.0,  # about 400 mA from a fresh pack
        "settle_ms": 20,
    },
    "battery": {
        "capacity_mah": 2500,
        "low_mv": 4600,  # 1.15 V per cell under load
        "critical_mv": 4000,  # 1.0 V per cell under load: empty
        "fresh_mv": 5400,  # 1.35 V per cell under the test load: a new cell
        "low_pct": 10,
        # Alkaline cells slope steadily, unlike lithium primaries.
        "ocv_curve": ((0.0, 3800), (0.05, 4300), (0.15, 4800), (0.4, 5200),
                      (0.8, 5900), (1.0, 6400)),
    },
    "power": {
        "active_ma": 45,  # DevKitC: CPU plus USB-serial chip and power LED
        "adv_ma": 2,  # at a 100 ms interval
        "conn_ma": 3,
        "sleep_ua": 12000,  # the AMS1117 and the USB-serial chip stay on in deep sleep
        "led_ma": 5,
        "policy": None,  # a bench board on USB power: always awake
    },
    "ble": {
        "adv_interval_ms": 100,  # bench board on USB power: found at once
    },
    "wdt_ms": 8000,
    "log_segments": 8,
    "log_segment_records": 64,
}

# What only the host reads (the virtual board's physics and chip, `hemlas boards`): merged
# into BOARD on the host (hemlas.boards.load_board), never copied to the unit, where each
# name would be a qstr and each value heap the lock never reads.
HOST = {
    "chip": "esp32",  # ESP32-WROOM-32 on the DevKitC: MicroPython's ESP32_GENERIC build
    "motor": {
        "travel_ms": 900,
        "winding_ohm": 10.0,
    },
    "battery": {
        "chemistry": "alkaline 4xAA",
        "nominal_mv": 6000,
        "r_curve": ((0.0, 3000), (0.05, 2000), (0.2, 1000), (0.5, 700), (1.0, 600)),
    },
    "power": {
        "boot_ms": 300,
        "brownout_mv": 3000,  # the AMS1117 regulator drops out below about this
    },
}
