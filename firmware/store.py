# Small persistent state (last confirmed bolt position, last battery reading), kept in flash so
# a reboot or a wake from deep sleep starts from what the lock knew, not from RAM.
# Written to a temporary file and renamed over the old one: the rename is atomic on LittleFS
# and POSIX, so a power cut leaves either the old state or the new, never a torn file.

import json
import os


def replace_file(path, data):
    """Write data (bytes or str) as the whole of path, atomically: new file, then rename."""
    with open(path + ".tmp", "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


class Store:
    def __init__(self, path):
        self._path = path
        self.was_reset = False  # the file existed but could not be read
        try:
            with open(path) as f:
                self._data = json.load(f)
            if not isinstance(self._data, dict):
                raise ValueError
        except OSError:
            self._data = {}  # first boot: no file yet
        except ValueError:
            self._data = {}
            self.was_reset = True

    def get(self, key, default=None):
        return self._data.get(key, default)

    def update(self, **values):
        changed = False
        for key in values:
            if self._data.get(key) != values[key]:
                self._data[key] = values[key]
                changed = True
        if not changed:
            return  # spare the flash a write
        replace_file(self._path, json.dumps(self._data))
