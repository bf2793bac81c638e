"""What MicroPython adds to time/asyncio, for running firmware logic tests under CPython.

Only the extras the firmware uses: micropython.const, time.ticks_*, time.sleep_ms,
asyncio.sleep_ms and asyncio.ThreadSafeFlag. The same tests also run on the real unix port.
"""

import asyncio
import sys
import time
import types


def install() -> None:
    if "micropython" not in sys.modules:
        module = types.ModuleType("micropython")
        module.const = lambda x: x
        sys.modules["micropython"] = module
    time.ticks_ms = lambda: int(time.monotonic() * 1000) & 0x3FFFFFFF
    time.ticks_diff = lambda a, b: ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000
    time.ticks_add = lambda a, b: (a + b) & 0x3FFFFFFF
    time.sleep_ms = lambda ms: time.sleep(ms / 1000)
    asyncio.sleep_ms = lambda ms: asyncio.sleep(ms / 1000)

    class ThreadSafeFlag:
        def __init__(self):
            self._event = asyncio.Event()

        def set(self):
            self._event.set()

        def clear(self):
            self._event.clear()

        async def wait(self):
            await self._event.wait()
            self._event.clear()

    asyncio.ThreadSafeFlag = ThreadSafeFlag
