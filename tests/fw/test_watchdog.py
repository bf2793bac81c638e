# The watchdog is fed only by a healthy event loop: a task that ended (the radio's, the
# button's) leaves the lock unreachable, so the unit must reset (issue 13, finding 1).

import asyncio

from app import App


class _Dog:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class _Quiet:
    def keep(self):
        pass

    def tick(self):
        pass


class _Lock:
    """What watchdog_task reads of the app: the board's timeout, the dog, its tasks."""

    def __init__(self):
        self.wdt_ms = 40
        self.hw = type("Hw", (), {})()
        self.hw.watchdog = _Dog()
        self.clock = _Quiet()
        self.charge = _Quiet()
        self.tasks = []
        self.door = None  # no knock sensor


async def _feeds_while(app, radio_task):
    app.tasks.append(asyncio.create_task(radio_task()))
    dog = asyncio.create_task(App.watchdog_task(app))
    await asyncio.sleep_ms(200)
    before = app.hw.watchdog.feeds
    await asyncio.sleep_ms(200)
    dog.cancel()
    return before, app.hw.watchdog.feeds - before


async def _serving():
    while True:
        await asyncio.sleep_ms(5)


async def _dies():
    await asyncio.sleep_ms(1)
    raise MemoryError("memory allocation failed")


def test_a_live_loop_feeds_the_watchdog():
    app = _Lock()
    _, later = asyncio.run(_feeds_while(app, _serving))
    assert later > 0


def test_a_dead_radio_task_stops_the_feeding():
    app = _Lock()
    _, later = asyncio.run(_feeds_while(app, _dies))
    assert later == 0, "the radio's task ended: the watchdog must fire and reset the unit"
