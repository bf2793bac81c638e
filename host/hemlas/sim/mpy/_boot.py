# The virtual board's boot in serial mode: what an ESP32's MicroPython does at every boot
# before its REPL (its frozen _boot.py, then boot.py and main.py from the flash filesystem).
# The harness (hemlas.sim.board) runs this with the unix port's -i, so the REPL follows.
#
# - The simulated machine, bluetooth and esp32 modules are imported here, as a board's C
#   modules are always there; then "/" becomes the flash directory (the process's cwd) and
#   sys.path is a board's, so `mpremote cp x :/x` lands in the flash and nowhere else.
# - boot.py runs, then main.py unless the board restarts into the raw REPL (a soft reset
#   from the raw REPL, as mpremote does one), or boot.py failed: as ports/esp32/main.c.
# - An exception ends the script with its traceback, then the REPL; a SystemExit
#   (sys.exit(), machine.reset(), machine.deepsleep()) ends the interpreter instead: the
#   unix port would go on to the REPL, so the harness ends the process and boots it again.


def _hemlas_boot():
    import os
    import sys
    import time

    import machine
    import bluetooth  # noqa: F401
    import esp32  # noqa: F401

    flash = os.getcwd()
    os.umount("/")
    os.mount(os.VfsPosix(flash), "/")
    os.chdir("/")
    sys.path.clear()
    sys.path.extend(("", ".frozen", "/lib"))

    scripts = ("boot.py",) if os.getenv("HEMLAS_SIM_REPL") == "raw" else ("boot.py", "main.py")
    for name in scripts:
        try:
            os.stat(name)
        except OSError:
            continue
        try:
            execfile(name)  # noqa: F821 (the unix port's builtin): in __main__'s globals, as on a board
        except SystemExit:
            machine._call("exit")  # the harness ends this process: a soft reset unless one was asked
            while True:
                time.sleep(1)
        except BaseException as err:  # noqa: B036
            sys.print_exception(err)
            return


_hemlas_boot()
del _hemlas_boot
globals().pop("__file__", None)
