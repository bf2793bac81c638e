"""The virtual radio: a Bumble link that virtual locks and client processes share.

The hub (hemlas.radio.hub) runs on an asyncio loop in a daemon thread, so the otherwise
synchronous virtual board harness can drive Bumble. Clients in other processes reach it with
HEMLAS_RADIO=virtual:<socket> (hemlas.radio.config).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from ..errors import VirtualBoardError

_CALL_TIMEOUT_S = 10.0  # a radio operation on the local link takes milliseconds


class VirtualRadio:
    """One virtual radio link. Use as a context manager, or call close()."""

    def __init__(self, socket_path: str | Path | None = None):
        from ..radio.hub import RadioHub

        self._tmp = None
        if socket_path is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="hemlas-radio-"))
            socket_path = self._tmp / "radio.sock"
        self.socket_path = str(socket_path)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="virtual-radio", daemon=True)
        self._thread.start()
        self.hub = RadioHub(self.socket_path)
        self.run(self.hub.start())

    @property
    def spec(self) -> str:
        """What a client sets HEMLAS_RADIO to, to use this radio."""
        return f"virtual:{self.socket_path}"

    def run(self, coro, timeout: float = _CALL_TIMEOUT_S):
        """Run a coroutine on the radio's loop and return its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except FutureTimeout as err:
            future.cancel()
            raise VirtualBoardError("the virtual radio did not answer") from err

    def close(self) -> None:
        if not self._loop.is_running():
            return
        try:
            self.run(self.hub.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if self._tmp:
                shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "VirtualRadio":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
