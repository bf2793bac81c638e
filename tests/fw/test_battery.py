import asyncio

import wire
from battery import Battery, adc_uv_to_mv, classify
from fakes import BATTERY, FakeLog, FakeMeter, FakeStore


def test_adc_conversion_through_divider_and_calibration():
    adc = {"divider": 2.0, "gain": 1.01, "offset_mv": -12}
    assert adc_uv_to_mv(1_800_000, adc) == int(1800 * 2.0 * 1.01 - 12)


def test_classify_against_thresholds():
    assert classify(3500, BATTERY) == wire.BATTERY_OK
    assert classify(3200, BATTERY) == wire.BATTERY_OK
    assert classify(3199, BATTERY) == wire.BATTERY_LOW
    assert classify(2700, BATTERY) == wire.BATTERY_LOW
    assert classify(2699, BATTERY) == wire.BATTERY_CRITICAL


def test_check_measures_under_load_and_logs_changes_only():
    meter, log, store = FakeMeter(3650, 100), FakeLog(), FakeStore()
    battery = Battery(meter, BATTERY, log, store)
    assert asyncio.run(battery.check()) == wire.BATTERY_OK
    assert (battery.idle_mv, battery.loaded_mv) == (3650, 3550)
    assert log.events == []  # OK was the stored state already
    meter.idle = 3100
    assert asyncio.run(battery.check()) == wire.BATTERY_LOW
    assert log.events == [(wire.EVENT_BATTERY, (wire.BATTERY_LOW, 3100, 3000))]
    assert store.data["battery_state"] == wire.BATTERY_LOW


def test_a_cell_below_critical_at_rest_is_not_loaded():
    meter = FakeMeter(2600, 100)
    battery = Battery(meter, BATTERY, FakeLog(), FakeStore())
    assert asyncio.run(battery.check()) == wire.BATTERY_CRITICAL
    assert meter.loads == 0


def test_board_without_test_load_uses_last_motor_reading():
    meter = FakeMeter(3650, 100, has_load=False)
    battery = Battery(meter, BATTERY, FakeLog(), FakeStore())
    battery.record_motor_run(3000)
    assert asyncio.run(battery.check()) == wire.BATTERY_LOW
