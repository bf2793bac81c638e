"""benchmarks/bench_service.py's smoke run: the real `hemlas serve` over a small SQLite fleet,
every endpoint of its table answered and none failed. Timings are printed, never judged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_service.py"
ENDPOINTS = ("PUT /locks/{id}/uploads/{id} log-page", "PUT /locks/{id}/uploads/{id} battery",
             "GET /warnings", "GET /customers", "GET /locks")


def test_the_quick_run_answers_every_endpoint_and_prints_its_table(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--store", "sqlite",
                           "--locks", "60", "--events", "3000", "--seconds", "3", "--warmup", "0.5",
                           "--pause", "0.1", "--read-pause", "0.1"],
                          env={**os.environ, "TMPDIR": str(tmp_path)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 8 and cells[1] == "sqlite":
            rows[cells[0]] = cells
    assert set(rows) == set(ENDPOINTS), done.stdout
    for endpoint, (_, _, requests, rate, p50, p95, p99, failed) in rows.items():
        assert int(requests) > 0 and failed == "0", (endpoint, done.stdout)
        assert 0 < float(p50) <= float(p95) <= float(p99), (endpoint, done.stdout)
    assert "sqlite  : population" in done.stdout and "MiB" in done.stdout
