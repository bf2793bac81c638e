# The button self-test, as the home-care routine documents it: press the button, the green
# LED lights at once and goes out within 10 s; within 20 s of the press the red LED blinks
# briefly once (battery OK) or twice (battery LOW: swap it). No red blink at all is the sign
# of a fully discharged battery (CRITICAL): staff must not swap it. docs/selftest.md.

import asyncio
import time

from micropython import const

import wire

GREEN_ON_MS = const(2500)  # long enough to notice; well inside the routine's 10 s
RED_DELAY_MS = const(1000)  # a pause after green, so the red blinks read as the answer
BLINK_ON_MS = const(250)  # "blinks briefly"
BLINK_OFF_MS = const(450)  # a gap wide enough for a person to count two blinks


def blinks_for(battery_state):
    if battery_state == wire.BATTERY_OK:
        return 1
    if battery_state == wire.BATTERY_LOW:
        return 2
    return 0  # CRITICAL: the documented sign of a fully discharged battery


async def run_selftest(green, red, battery, log, power):
    """Run the sequence; log and return (idle_mv, loaded_mv, state, green_off_ms, blinks, red_done_ms)."""
    start = time.ticks_ms()
    green.on()
    async with power:  # the test load never overlaps a motor run
        state = await battery.check()
    # The measurement takes ~50 ms; the rest of the green phase is for the person watching.
    remaining = GREEN_ON_MS - time.ticks_diff(time.ticks_ms(), start)
    if remaining > 0:
        await asyncio.sleep_ms(remaining)
    green.off()
    green_off_ms = time.ticks_diff(time.ticks_ms(), start)
    await asyncio.sleep_ms(RED_DELAY_MS)
    blinks = blinks_for(state)
    for i in range(blinks):
        if i:
            await asyncio.sleep_ms(BLINK_OFF_MS)
        red.on()
        await asyncio.sleep_ms(BLINK_ON_MS)
        red.off()
    red_done_ms = time.ticks_diff(time.ticks_ms(), start)
    result = (battery.idle_mv, battery.loaded_mv, state, green_off_ms, blinks, red_done_ms)
    log.append(wire.EVENT_SELFTEST, result)
    return result
