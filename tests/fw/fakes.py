# Stand-ins for the hardware layer in firmware logic tests (the virtual board tests the real
# layer against the physical model; these only give the logic something to drive).

import time

import asyncio


class FakeMeter:
    def __init__(self, idle_mv=3650, sag_mv=100, has_load=True):
        self.idle = idle_mv
        self.sag = sag_mv
        self.has_load = has_load
        self.loads = 0
        self.load_ohm = 8
        self.load_ms = 1

    def read_mv(self, samples=0):
        return self.idle

    async def loaded_mv(self):
        self.loads += 1
        await asyncio.sleep_ms(1)
        return self.idle - self.sag


class FakeLog:
    def __init__(self):
        self.events = []

    def append(self, event_type, fields=()):
        self.events.append((event_type, tuple(fields)))
        return len(self.events)

    def types(self):
        return [e[0] for e in self.events]


class FakeStore:
    def __init__(self):
        self.data = {}

    def get(self, key, default=None):
        return self.data.get(key, default)

    def update(self, **values):
        self.data.update(values)


class FakeBolt:
    """Motor, limit switches and current sense over one bolt that moves at a fixed speed."""

    def __init__(self, travel_ms=200, position=0.0, jam_at=None, switches=True):
        self.travel_ms = travel_ms
        self.position = position
        self.jam_at = jam_at
        self.present = switches
        self.direction = 0
        self._since = 0
        self.drives = []  # (direction, ms driven)

    def _update(self):
        if not self.direction:
            return
        now = time.ticks_ms()
        moved = time.ticks_diff(now, self._since) / self.travel_ms
        self._since = now
        pos = self.position + self.direction * moved
        lo, hi = 0.0, 1.0
        if self.jam_at is not None:
            if self.position <= self.jam_at:
                hi = self.jam_at
            else:
                lo = self.jam_at
        self.position = min(hi, max(lo, pos))

    # motor
    def drive(self, direction):
        self._update()
        self.direction = direction
        self._since = time.ticks_ms()
        self._start = self._since

    async def stop(self):
        self._update()
        if self.direction:
            self.drives.append((self.direction, time.ticks_diff(time.ticks_ms(), self._start)))
        self.direction = 0

    # limit switches
    def locked(self):
        self._update()
        return self.present and self.position >= 0.995

    def unlocked(self):
        self._update()
        return self.present and self.position <= 0.005

    # current sense: stalled when driving against an end or the jam
    def current_ma(self):
        self._update()
        blocked = (self.direction > 0 and (self.position >= 0.995 or self.position == self.jam_at)) or (
            self.direction < 0 and (self.position <= 0.005 or self.position == self.jam_at))
        return 600 if blocked else 200


MOTOR = {
    "travel_ms": 200, "min_travel_ms": 100, "max_travel_ms": 400, "inrush_ms": 10,
    "stall_ma": 400, "backoff_ms": 20, "retry_pause_ms": 20,
}
BATTERY = {"low_mv": 3200, "critical_mv": 2700, "fresh_mv": 3400, "low_pct": 10, "capacity_mah": 1000,
           "ocv_curve": ((0.0, 2900), (0.03, 3250), (0.2, 3580), (1.0, 3670))}
POWER = {"active_ma": 40, "adv_ma": 2, "conn_ma": 3, "sleep_ua": 25}
MOTOR["run_ma"] = 200


class FakeClock:
    def __init__(self, now=1_000_000):
        self.t = now

    def now(self):
        return self.t


def make_battery(meter=None, log=None, store=None, clock=None):
    """A Battery with a real ChargeMeter (pure logic) over fakes."""
    from battery import Battery
    from energy import ChargeMeter

    store = store if store is not None else FakeStore()
    charge = ChargeMeter(POWER, BATTERY["capacity_mah"], store, clock or FakeClock())
    return Battery(meter or FakeMeter(), BATTERY, log if log is not None else FakeLog(), store, charge)
