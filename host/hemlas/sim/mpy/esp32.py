# Simulated `esp32` for the virtual board: the deep-sleep wake source the firmware sets.

import machine

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True


def wake_on_ext0(pin, level):
    machine._call("wake_ext0 %d %d" % (pin._id, 1 if level else 0))
