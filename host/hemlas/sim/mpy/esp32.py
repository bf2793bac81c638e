# Simulated `esp32` for the virtual board: the deep-sleep wake functions MicroPython v1.28
# compiles for the board's chip (ports/esp32/modesp32.c:321-333). All are defined here; at
# import the module asks the harness which of them the chip lacks and deletes those, so using
# one raises AttributeError as on that chip. The harness keeps the wake configuration and
# checks it as the port does (hemlas.sim.chips). Kept small: each name is a firmware qstr, and
# so is each string of up to 10 characters (hence the request formats' length).

import machine

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True


def _wake(request, pins, level):
    # "wake_on <function> <level> [<pins>]": level -1 keeps the configured level; pins None
    # ("[None]") keeps the configured pins, else a Pin or a GPIO number each, comma-joined.
    machine._call("wake_on %s %d [%s]" % (
        request, -1 if level is ... else 1 if level else 0,
        pins if pins is None else ",".join([str(getattr(p, "_id", p)) for p in pins])))


def wake_on_ext0(pin=..., level=...):
    _wake("wake_on_ext0", None if pin is ... else () if pin is None else (pin,), level)


def wake_on_ext1(pins=None, level=...):
    _wake("wake_on_ext1", pins, level)


def wake_on_gpio(pins=None, level=...):
    _wake("wake_on_gpio", pins, level)


def wake_on_touch(level):
    _wake("wake_on_touch", (), level)


def wake_on_ulp(level):
    _wake("wake_on_ulp", (), level)


try:
    [globals().pop(n.decode()) for n in machine._call("wake_absent").split()]
except OSError:  # no harness: the heap measurement imports the modules bare
    pass
