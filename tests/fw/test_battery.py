import asyncio

import wire
from battery import adc_uv_to_mv, classify
from energy import ChargeMeter
from fakes import BATTERY, POWER, FakeClock, FakeLog, FakeMeter, FakeStore, make_battery


def test_adc_conversion_through_divider_and_calibration():
    adc = {"divider": 2.0, "gain": 1.01, "offset_mv": -12}
    assert adc_uv_to_mv(1_800_000, adc) == int(1800 * 2.0 * 1.01 - 12)


def test_classify_against_thresholds():
    assert classify(3500, BATTERY) == wire.BATTERY_OK
    assert classify(3200, BATTERY) == wire.BATTERY_OK
    assert classify(3199, BATTERY) == wire.BATTERY_LOW
    assert classify(2700, BATTERY) == wire.BATTERY_LOW
    assert classify(2699, BATTERY) == wire.BATTERY_CRITICAL


def test_the_count_warns_before_the_voltage_but_never_calls_a_cell_dead():
    assert classify(3500, BATTERY, 9) == wire.BATTERY_LOW  # little charge left by the count
    assert classify(3500, BATTERY, 0) == wire.BATTERY_LOW  # not CRITICAL: that stops the motor
    assert classify(3500, BATTERY, 10) == wire.BATTERY_OK


def test_check_measures_under_load_and_logs_changes_only():
    meter, log, store = FakeMeter(3650, 100), FakeLog(), FakeStore()
    battery = make_battery(meter, log, store)
    assert asyncio.run(battery.check()) == wire.BATTERY_OK
    assert (battery.idle_mv, battery.loaded_mv) == (3650, 3550)
    assert log.events == []  # OK was the stored state already
    meter.idle = 3100
    assert asyncio.run(battery.check()) == wire.BATTERY_LOW
    assert log.events == [(wire.EVENT_BATTERY, (wire.BATTERY_LOW, 3100, 3000))]
    assert store.data["battery_state"] == wire.BATTERY_LOW


def test_a_cell_below_critical_at_rest_is_not_loaded():
    meter = FakeMeter(2600, 100)
    battery = make_battery(meter)
    assert asyncio.run(battery.check()) == wire.BATTERY_CRITICAL
    assert meter.loads == 0


def test_board_without_test_load_uses_last_motor_reading():
    meter = FakeMeter(3650, 100, has_load=False)
    battery = make_battery(meter)
    battery.record_motor_run(3000)
    assert asyncio.run(battery.check()) == wire.BATTERY_LOW


def test_charge_is_counted_per_power_state_and_gives_percent_and_days():
    store, clock = FakeStore(), FakeClock()
    charge = ChargeMeter(POWER, 1000, store, clock)
    charge.add(40_000, 3_600_000)  # an hour awake at 40 mA
    assert charge.used_uah == 40_000
    for _ in range(3600):
        charge.add(250, 1000)  # many short steps add up exactly: no rounding lost
    assert charge.used_uah == 40_250
    charge.advertising = True
    assert charge.draw_ua() == 42_000
    charge.connections = 1
    assert charge.draw_ua() == 43_000
    assert charge.percent(100) == 96  # 959.75 of 1000 mAh left, rounded
    assert charge.percent(15) == 15  # a low voltage reading is believed over the count
    assert charge.percent(60) == 96  # a flat-curve voltage reading is not
    assert charge.days_left(95) == wire.DAYS_UNKNOWN  # no usage rate yet
    clock.t += 86_400  # a day on, with 40.25 mAh used in it
    charge.tick()
    assert charge.rate_uah_per_day() > 40_000
    assert 20 <= charge.days_left(95) <= 24  # 950 mAh at ~40 mAh a day


def test_the_count_survives_in_flash_and_through_deep_sleep():
    store, clock = FakeStore(), FakeClock()
    charge = ChargeMeter(POWER, 1000, store, clock)
    charge.add(1000, 3_600_000)
    charge.save()
    again = ChargeMeter(POWER, 1000, store, clock)
    assert again.used_uah == 1000
    state = again.sleep_state()
    again.add(500, 3_600_000)
    woken = ChargeMeter(POWER, 1000, store, clock)
    assert woken.woke(state) and woken.used_uah >= 1000
    assert not woken.woke("not a state")


def test_swap_registration_checks_the_new_cell_under_load_then_resets_the_count():
    meter, log, store = FakeMeter(3300, 100), FakeLog(), FakeStore()
    battery = make_battery(meter, log, store)
    battery.charge.add(100_000, 3_600_000)  # 100 mAh used
    assert asyncio.run(battery.register_swap(7)) == wire.STATUS_BATTERY_DEPLETED
    assert battery.charge.used_uah == 100_000 and battery.charge.swap_time == 0  # nothing changed
    assert (wire.EVENT_SWAP_REFUSED, (3300, 3200, 7)) in log.events
    assert battery.state == wire.BATTERY_LOW  # the cell in the lock is this one now
    meter.idle = 3670
    assert asyncio.run(battery.register_swap(7)) == wire.STATUS_OK
    assert battery.charge.used_uah == 0 and battery.charge.swap_time > 0
    assert store.data["used_uah"] == 0
    assert log.events[-2:] == [(wire.EVENT_BATTERY_SWAP, (3670, 3570, 100, 7)),
                               (wire.EVENT_BATTERY, (wire.BATTERY_OK, 3670, 3570))]
    assert battery.state == wire.BATTERY_OK and battery.percent == 100
