"""The field client's tests' real servers: `hemlas serve` as a subprocess (stopped, killed and
started again on its port), the service in a thread on a real socket, and a TCP proxy that
can cut a connection once the request has gone through, before the answer comes back."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HEMLAS = str(Path(sys.executable).with_name("hemlas"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def field_env(tmp_path: Path) -> dict[str, str]:
    """A field device of the test's own: its login file, outbox and key file, and no fleet
    store (a carer's phone has none)."""
    return {"HEMLAS_LOGIN": str(tmp_path / "device" / "service.json"),
            "HEMLAS_OUTBOX": str(tmp_path / "device" / "outbox.sqlite3"),
            "HEMLAS_KEYS": str(tmp_path / "device" / "keys.json"),
            "HEMLAS_STORE": str(tmp_path / "device" / "no-store-here.sqlite3")}


class Served:
    """`hemlas serve` over an SQLite store, on one port across restarts."""

    def __init__(self, store: Path, tmp_path: Path):
        self.store, self.port = store, free_port()
        self.env = {**os.environ, "HEMLAS_STORE": str(store), "HOME": str(tmp_path)}
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Served:
        self.proc = subprocess.Popen([HEMLAS, "serve", "--port", str(self.port)], env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline, line = time.monotonic() + 30, ""
        while "fleet service on" not in line:
            line = self.proc.stdout.readline()
            assert (line or self.proc.poll() is None) and time.monotonic() < deadline, \
                "hemlas serve ended before it listened"
        assert re.search(rf":{self.port}/api/v1/", line), line
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # never blocks it
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
            self.proc.wait(timeout=15)
        self.proc = None


class ThreadServer:
    """The service's application under uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, store):
        import uvicorn

        from hemlas.service.app import create_app

        self.server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=0,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the service did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class CuttingProxy:
    """A TCP proxy to ``target_port``. While ``cut`` is set, each connection's request goes
    through whole, and the moment the server's first answer bytes come back both sides are
    closed: the server applied the request, the client never hears so (a network dropping
    on the way back). ``cuts`` counts them."""

    def __init__(self, target_port: int):
        self.target_port, self.cut, self.cuts = target_port, False, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            client.close()
            return
        with client, server:
            while True:
                ready, _, _ = select.select([client, server], [], [], 30)
                if not ready:
                    return
                for side in ready:
                    data = side.recv(65536)
                    if not data:
                        return
                    if side is server and self.cut:
                        self.cuts += 1
                        return  # the answer dropped: both sockets close here
                    (server if side is client else client).sendall(data)

    def close(self) -> None:
        self._closing = True
        self.listener.close()
