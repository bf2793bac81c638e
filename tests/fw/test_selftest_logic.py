import wire
from selftest import BLINK_OFF_MS, BLINK_ON_MS, GREEN_ON_MS, RED_DELAY_MS, blinks_for


def test_blinks_follow_the_routine():
    assert blinks_for(wire.BATTERY_OK) == 1
    assert blinks_for(wire.BATTERY_LOW) == 2
    assert blinks_for(wire.BATTERY_CRITICAL) == 0


def test_sequence_fits_the_documented_windows():
    assert GREEN_ON_MS < 10_000
    assert GREEN_ON_MS + RED_DELAY_MS + 2 * BLINK_ON_MS + BLINK_OFF_MS < 20_000
