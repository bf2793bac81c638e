"""The virtual board's hardware server: the Unix socket on which the simulated machine, esp32
and bluetooth modules (sim/mpy/) ask for each pin, ADC, PWM, watchdog and BLE call, answered
from the model (pins.PinBank, ble.BleBridge); and the event socket that carries IRQs back.
"""

from __future__ import annotations

import socket
import threading
import time

from ..errors import VirtualBoardError


class HardwareServer:
    """The part of VirtualBoard that answers the firmware's hardware calls."""

    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._closing:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            if self._closing:
                conn.close()
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        hello = reader.readline().split()
        if hello[-1:] == [b"evt"]:
            self._evt_sock = conn
            return  # events flow the other way; the socket stays open
        try:
            self._serve_requests(conn, reader)
        except OSError:
            pass  # the firmware process died mid-request: a power cut
        finally:
            conn.close()

    def _serve_requests(self, conn: socket.socket, reader) -> None:
        for raw in reader:
            text = raw.decode()
            if text.startswith("heap "):
                heap, _, text = text.partition(";")
                self.heap_peak = max(self.heap_peak, int(heap.split()[1]))
            words = text.split()
            if words == ["exit"] and self.serial:
                self._end_interpreter(conn)
                continue
            if words and words[-1].startswith("#"):  # raw data follows the line
                data = reader.read(int(words[-1][1:]))
                words[-1] = data.hex() or "-"
            if words[0].startswith("ble_"):
                try:
                    answer = self.ble.handle(words)  # not under the pin lock: it waits on the radio
                except (ValueError, KeyError, IndexError, VirtualBoardError) as err:
                    answer = f"!{type(err).__name__}: {err}"
                conn.sendall(answer.encode() + b"\n")
                continue
            try:
                with self._lock:
                    answer = self.pins.handle(words, time.monotonic())
                    if words[0] == "wdt_start":
                        self._wdt_timeout = int(words[1]) / 1000
                    if words[0] in ("wdt_start", "wdt_feed"):
                        self._wdt_deadline = time.monotonic() + self._wdt_timeout
                    if words[0] == "reset_cause":
                        answer = str(self.reset_cause)
            except (ValueError, KeyError, IndexError) as err:
                answer = f"!{type(err).__name__}: {err}"
            conn.sendall(answer.encode() + b"\n")
            if words[0] in ("reset", "deepsleep") and answer == "ok":
                self._chip_stops()
            if self.pins.browned_out:
                self.pins.browned_out = False
                self._brownout()

    def _chip_stops(self) -> None:
        """machine.reset() and machine.deepsleep() stop an ESP32 at once (esp_restart(),
        esp_deep_sleep_start() never return): nothing after them runs, and no Ctrl-C arriving
        meanwhile can undo them. The unix port would go on until its sys.exit(), and a SIGINT
        in between (mpremote's Ctrl-C after its machine.reset()) left the unit in its raw REPL,
        not reset; so the harness ends the process here, and _on_exit does what was asked."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def _send_irq(self, pin: int) -> None:
        self._send_event(f"irq {pin}")

    def _send_event(self, line: str) -> None:
        """An IRQ for the firmware: pin edges from the hands' threads, BLE from the radio's."""
        sock = self._evt_sock
        if sock is None:
            return
        with self._event_lock:
            try:
                sock.sendall(line.encode() + b"\n")
            except OSError:
                pass  # the firmware is gone: a power cut
