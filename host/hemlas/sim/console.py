"""The virtual board's console: a command written to the firmware, its answer (a line starting
"@{") matched back by command name, the ready line, and everything else the firmware prints.

Pipe mode writes to the process's stdin; serial mode to its pty (serial_board.py).
"""

from __future__ import annotations

import json
import queue
import threading
import time

from ..errors import VirtualBoardError

COMMAND_TIMEOUT_S = 30.0  # the longest command, a self-test, takes under 5 s


class Console:
    """The part of VirtualBoard that sends console commands and sorts what the firmware prints."""

    def command(self, line: str, timeout: float = COMMAND_TIMEOUT_S) -> dict:
        """Send one console command and return its answer.

        Commands of different names may run at once from several threads (a status while a
        lock runs); answers are matched to commands by name.
        """
        words = line.split()
        if not words:
            raise VirtualBoardError("empty command")
        name = words[0]
        with self._lock:
            replies = self._replies.setdefault(name, queue.Queue())
            name_lock = self._command_locks.setdefault(name, threading.Lock())
        with name_lock:
            proc = self._proc
            if self.serial:
                if not self.running or not self._ready.is_set():
                    raise VirtualBoardError("the firmware is not running (the board is at its REPL or resetting)",
                                            "\n".join(self.output[-20:]))
            elif not self.running or proc is None or proc.stdin is None:
                raise VirtualBoardError("the firmware is not running", "\n".join(self.output[-20:]))
            while not replies.empty():
                replies.get_nowait()  # a late answer to an earlier, timed-out command
            try:
                if self.serial:
                    self._to_console(line.encode() + b"\n")
                else:
                    assert proc is not None and proc.stdin is not None
                    proc.stdin.write(line.encode() + b"\n")
                    proc.stdin.flush()
            except OSError as err:
                raise VirtualBoardError(f"the firmware died before {line!r}") from err
            deadline = time.monotonic() + timeout
            while True:
                try:
                    return replies.get(timeout=0.1)
                except queue.Empty:
                    if not self.running:
                        raise VirtualBoardError(f"the firmware died during {line!r}",
                                                "\n".join(self.output[-20:])) from None
                    if time.monotonic() > deadline:
                        raise VirtualBoardError(f"no answer to {line!r}") from None

    def _take_line(self, text: str) -> None:
        """One line the firmware printed: a console answer, its ready line, or other output."""
        if text.startswith("@{"):
            try:
                answer = json.loads(text[1:])
            except ValueError:
                self.output.append(text)
                return
            if "ready" in answer:
                self._ready_info = answer
                self._at_repl.clear()
                self._ready.set()
            else:
                with self._lock:
                    replies = self._replies.setdefault(str(answer.get("cmd")), queue.Queue())
                replies.put(answer)
            return
        self.output.append(text)
        if self._echo:
            self._echo(text)
