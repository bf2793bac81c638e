"""`hemlas serve` as a user runs it: the real console script, uvicorn on a free port, a
login and a read over real HTTP; and a missing store refused, saying how to make one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hemlas.fleet.store import FleetStore

from service_helpers import PASSWORD, populate

HEMLAS = str(Path(sys.executable).with_name("hemlas"))


def _env(tmp_path, store):
    return {**os.environ, "HEMLAS_STORE": str(store), "HOME": str(tmp_path)}


def test_hemlas_serve_answers_the_api_on_the_port_it_prints(tmp_path):
    store = tmp_path / "fleet.sqlite3"
    with FleetStore(str(store)) as s:
        populate(s)
    proc = subprocess.Popen([HEMLAS, "serve", "--port", "0"], env=_env(tmp_path, store),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, line = time.monotonic() + 30, ""
        while time.monotonic() < deadline and "fleet service on" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "hemlas serve ended before it listened"
        url = re.search(r"(http://\S+/api/v1)/", line).group(1)
        assert str(store) in line
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/health").json() == {"status": "ok"}
            assert http.get("/customers").status_code == 401
            login = http.post("/login", json={"login": "coord-b", "password": PASSWORD})
            assert login.status_code == 200, login.text
            assert [c["name"] for c in http.get("/customers").json()] == ["Bertil Berg"]
            assert "/api/v1/locks/{lock_id}" in http.get("/openapi.json").json()["paths"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_hemlas_serve_refuses_a_missing_store_and_says_how_to_make_one(tmp_path):
    store = tmp_path / "nothing-here.sqlite3"
    done = subprocess.run([HEMLAS, "serve", "--port", "0"], env=_env(tmp_path, store),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "hemlas accounts add" in done.stderr
    assert not store.exists()
