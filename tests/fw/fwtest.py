# Helpers for firmware logic tests. These tests run under CPython (pytest) and, unchanged,
# under the MicroPython unix port (tests/fw/mpy_runner.py), so they use only what both have.

import os

_counter = [0]


def fresh_dir(prefix="d"):
    """A new empty directory under the current one (each runner starts in a temporary dir)."""
    _counter[0] += 1
    path = "%s%d" % (prefix, _counter[0])
    while True:
        try:
            os.mkdir(path)
            return path
        except OSError:
            _counter[0] += 1
            path = "%s%d" % (prefix, _counter[0])


def raises(exc_type, fn, *args):
    try:
        fn(*args)
    except exc_type:
        return True
    raise AssertionError("%s not raised" % exc_type.__name__)


class FakeClock:
    def __init__(self, start=1000):
        self.now = start

    def __call__(self):
        return self.now
