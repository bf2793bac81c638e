"""The virtual radio: a Bumble link that virtual locks and client processes share.

A thin owner of hemlas.radio.hub.RadioThread (the hub on its own asyncio loop in a daemon
thread, for this synchronous harness): it picks the socket path, names the radio for clients
(HEMLAS_RADIO=virtual:<socket>, hemlas.radio.config) and turns a radio that stops answering
into a VirtualBoardError.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import tempfile
from pathlib import Path

from ..errors import VirtualBoardError


# A Unix socket's path is at most 107 bytes on Linux (103 on macOS, whose TMPDIR alone is ~50).
_SOCKET_PATH_MAX = 100


def socket_dir(prefix: str, name_length: int = 16) -> Path:
    """A new private directory for Unix sockets: under TMPDIR where a socket's path fits there,
    else under /tmp (a long TMPDIR, or a test's own TMPDIR in pytest's tmp_path, would make
    bind() fail with "AF_UNIX path too long")."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    if len(str(directory)) + name_length <= _SOCKET_PATH_MAX or not Path("/tmp").is_dir():
        return directory
    directory.rmdir()
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


class VirtualRadio:
    """One virtual radio link. Use as a context manager, or call close()."""

    def __init__(self, socket_path: str | Path | None = None):
        from ..radio.hub import RadioThread

        self._tmp = None
        if socket_path is None:
            self._tmp = socket_dir("hemlas-radio-")
            socket_path = self._tmp / "radio.sock"
        self.socket_path = str(socket_path)
        self._thread = RadioThread(self.socket_path)
        self.hub = self._thread.start()
        self._closed = False

    @property
    def spec(self) -> str:
        """What a client sets HEMLAS_RADIO to, to use this radio."""
        return f"virtual:{self.socket_path}"

    def run(self, coro):
        """Run a coroutine on the radio's loop and return its result."""
        if self._thread.loop.is_closed():  # a board still advertising as the radio went: off air
            coro.close()
            raise VirtualBoardError("the virtual radio is closed")
        try:
            return self._thread.run(coro)
        except RuntimeError as err:
            if not self._thread.loop.is_closed():
                raise
            coro.close()  # closed between the check and the call
            raise VirtualBoardError("the virtual radio is closed") from err
        except TimeoutError as err:
            raise VirtualBoardError("the virtual radio did not answer") from err
        except concurrent.futures.CancelledError as err:  # the radio closed under the call
            raise VirtualBoardError("the virtual radio closed") from err

    def call_soon(self, callback, *args) -> None:
        """Call a plain function on the radio's loop soon, without waiting for it."""
        self._thread.loop.call_soon_threadsafe(callback, *args)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._thread.close()
        finally:
            if self._tmp:
                shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "VirtualRadio":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
