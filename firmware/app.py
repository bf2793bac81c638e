# The lock application: builds the hardware from the board file, recovers the log and the
# stored state, reads the bolt position from the sensors, and runs one task per concern.

import asyncio
import gc
import sys
import time

from micropython import const

import wire
from battery import Battery
from console import Console, reply
from eventlog import EventLog
from lock import Lock
from selftest import run_selftest
from store import Store

_FEED_DIVISOR = const(4)  # feed the watchdog four times per timeout: one late feed is no reset


class App:
    def __init__(self, board, hw, log, store):
        self.board = board
        self.hw = hw
        self.log = log
        self.store = store
        self.power = asyncio.Lock()
        self.battery = Battery(hw.meter, board["battery"], log, store)
        self.lock = Lock(hw.motor, hw.limits, hw.sense, self.battery, log, store, board["motor"], self.power)
        self._selftest_running = False

    async def selftest(self):
        """Run the self-test unless one is running; return its result or None."""
        if self._selftest_running:
            return None
        self._selftest_running = True
        try:
            return await run_selftest(self.hw.green, self.hw.red, self.battery, self.log, self.power)
        finally:
            self._selftest_running = False

    async def button_task(self):
        button = self.hw.button
        while True:
            await button.wait_press()
            await self.selftest()
            button.discard_presses()  # presses during the test do not queue another

    async def watchdog_task(self):
        period = self.board["wdt_ms"] // _FEED_DIVISOR
        while True:
            self.hw.watchdog.feed()
            await asyncio.sleep_ms(period)


def boot(board, hw):
    log = EventLog("log", board["log_segments"], board["log_segment_records"])
    store = Store("state.json")
    app = App(board, hw, log, store)
    if log.recovered_bytes:
        log.append(wire.EVENT_FAULT, (wire.FAULT_LOG_RECOVERED, log.recovered_bytes))
    if store.was_reset:
        log.append(wire.EVENT_FAULT, (wire.FAULT_STORE_RESET, 0))
    state = app.lock.read_sensors()
    log.append(wire.EVENT_BOOT, (hw.reset_cause(), state))
    return app


async def run(board):
    from hw import Hardware

    start = time.ticks_ms()
    hw = Hardware(board)
    app = boot(board, hw)
    gc.collect()
    asyncio.create_task(app.watchdog_task())
    asyncio.create_task(app.button_task())
    console = Console(app)
    reply({"ready": time.ticks_diff(time.ticks_ms(), start), "state": app.lock.state,
           "board": board["name"], "next_seq": app.log.next_seq})
    await console.serve(asyncio.StreamReader(sys.stdin))
    while True:  # stdin closed (no serial host): keep serving the button
        await asyncio.sleep_ms(60_000)


def main():
    import board

    asyncio.run(run(board.BOARD))
