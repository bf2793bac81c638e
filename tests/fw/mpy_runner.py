# Runs firmware logic test modules under the MicroPython unix port: every test_* function,
# one line per result, so pytest (tests/test_firmware_on_micropython.py) can report them.
# Usage: micropython mpy_runner.py MODULE [MODULE ...]   (cwd: a temporary directory)

import sys

failed = 0
for name in sys.argv[1:]:
    module = __import__(name)
    for attr in sorted(dir(module)):
        if not attr.startswith("test_"):
            continue
        try:
            getattr(module, attr)()
            print("PASS %s.%s" % (name, attr))
        except Exception as err:  # report every failure, then go on
            failed += 1
            print("FAIL %s.%s: %s %s" % (name, attr, type(err).__name__, err))
            sys.print_exception(err)
sys.exit(1 if failed else 0)
