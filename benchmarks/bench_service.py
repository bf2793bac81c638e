"""The fleet service under load: 200 field clients uploading at once, 20 coordinators reading.

Prints figures; passes or fails nothing. Run:
    .venv/bin/python benchmarks/bench_service.py [--store sqlite|postgres|both] [--quick]
        [--locks 10000] [--events 5000000] [--uploaders 200] [--readers 20] [--seconds 60]
        [--pause 10] [--read-pause 10] [--warmup 10] [--postgres URL]

For each store (an SQLite file; PostgreSQL: a throwaway cluster started as tests/conftest.py
starts one, or --postgres naming an empty database) it builds the fleet (service_fleet.py),
starts the real `hemlas serve` (uvicorn) on a free port over it, and runs the load with httpx
over real HTTP for --seconds:

- each uploader is a carer's phone with its own device token, sending log pages (3 to 8 records
  continuing its lock's log, as a lock hands them out) and now and then a battery reading, each
  under a fresh upload id, then waiting 0.5 to 1.5 times --pause seconds (0: back to back,
  the service's capacity; a real phone uploads after each visit, every half hour or so);
- each reader is a coordinator's browser polling the warnings, the customers and the locks,
  waiting 0.5 to 1.5 times --read-pause seconds after each.

Latency is measured per request at the client. The table gives per endpoint and store the
requests answered in the window, their rate, and p50/p95/p99; then each store's population
time and size, and the CPU the server used (one process: near 100 % of a core, it queues). A request that failed (not 2xx) is counted and shown, never timed as an answer.
Goal (issue 15): p95 <= 100 ms for uploads and for the warnings list.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import service_fleet  # noqa: E402

from hemlas.firmware import wire  # noqa: E402
from hemlas.fleet.store import FleetStore  # noqa: E402

HEMLAS = [sys.executable, "-m", "hemlas.cli"]
QUICK = {"locks": 200, "events": 20_000, "uploaders": 10, "readers": 2, "seconds": 3.0,
         "warmup": 1.0, "pause": 0.5, "read_pause": 0.5}
UPLOAD = "PUT /locks/{id}/uploads/{id} log-page"
READING = "PUT /locks/{id}/uploads/{id} battery"
ENDPOINTS = (UPLOAD, READING, "GET /warnings", "GET /customers", "GET /locks")
READS = {"GET /warnings": "/warnings", "GET /customers": "/customers", "GET /locks": "/locks"}
READING_EVERY = 4  # a battery reading with every fourth page: a connection reads both


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--locks", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--uploaders", type=int, default=200)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0, help="the load's length")
    parser.add_argument("--warmup", type=float, default=10.0,
                        help="seconds of load before the measured window (first requests warm "
                             "the server's imports and caches)")
    parser.add_argument("--pause", type=float, default=10.0,
                        help="seconds (on average) each uploader waits between its uploads; 0: "
                             "back to back, the service's capacity")
    parser.add_argument("--read-pause", type=float, default=10.0,
                        help="seconds (on average) each reader waits between its requests")
    parser.add_argument("--quick", action="store_true", help="small numbers: a smoke run of seconds")
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres", help="an empty PostgreSQL database to use instead of a "
                                           "throwaway cluster (postgresql+psycopg://...)")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if parser.get_default(name) == getattr(args, name):
                setattr(args, name, value)
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    print(f"hemlas fleet service under load: {args.locks:,} locks, {args.events:,} events, "
          f"{args.uploaders} uploaders and {args.readers} readers for {args.seconds:g} s "
          f"(after {args.warmup:g} s of warm-up), pauses {args.pause:g} s (uploads) and "
          f"{args.read_pause:g} s (reads)", flush=True)
    results, about = {}, {}
    with tempfile.TemporaryDirectory(prefix="hemlas-bench-service-") as tmp:
        for name in stores:
            with _store_url(name, Path(tmp), args.postgres) as url:
                results[name], about[name] = run_one(name, url, args, Path(tmp))
    print_table(results, about, args.seconds)


def run_one(name: str, url: str, args, tmp: Path) -> tuple[dict, dict]:
    print(f"[{name}] building the fleet", flush=True)
    with FleetStore(url, create=True) as store:
        fleet = service_fleet.build(store, args.locks, args.events, args.uploaders, args.readers,
                                    random.Random(15), say=lambda line: print(f"[{name}] {line}",
                                                                              flush=True))
    size = _size(url)
    print(f"[{name}] built in {fleet.seconds:.1f} s, {size / 2**20:.0f} MiB; starting hemlas serve",
          flush=True)
    with _serve(url, tmp) as (base, pid):
        cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
        samples = asyncio.run(load(base, fleet, args))
        cpu = (_cpu_seconds(pid) - cpu0) / (time.perf_counter() - t0)
        machine = os.getloadavg()[0]  # the last minute's: others' work shares the cores
    return samples, {"population_s": fleet.seconds, "size": size, "server_cpu": cpu,
                     "load": machine}


def _cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (Linux: /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(base: str, fleet, args) -> dict[str, dict]:
    """Every client at once for args.seconds; {endpoint: {"times": [s], "failed": n, ...}}."""
    samples = {e: {"times": [], "failed": 0, "errors": {}} for e in ENDPOINTS}
    # Idle connections dropped before uvicorn's 5 s keep-alive ends them: a request sent
    # down a connection the server is closing fails (a phone between uploads reconnects too).
    limits = httpx.Limits(max_connections=args.uploaders + args.readers + 10,
                          max_keepalive_connections=args.uploaders + args.readers + 10,
                          keepalive_expiry=4.0)
    start = time.perf_counter() + 0.5  # every client waits for the same start
    measured, end = start + args.warmup, start + args.warmup + args.seconds
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        async def timed(endpoint: str, method: str, path: str, token: str, body=None):
            t0 = time.perf_counter()
            try:
                answer = await http.request(method, path, json=body,
                                            headers={"Authorization": f"Bearer {token}"})
                failure = None if answer.is_success else f"{answer.status_code} {answer.text[:120]}"
            except httpx.TransportError as err:
                failure = f"{type(err).__name__} {err}"[:120]
            elapsed = time.perf_counter() - t0
            if measured <= t0 < end:
                s = samples[endpoint]
                if failure is None:
                    s["times"].append(elapsed)
                else:
                    s["failed"] += 1
                    s["errors"][failure] = s["errors"].get(failure, 0) + 1

        async def wait_start(rng, pause):
            await asyncio.sleep(max(0.0, start - time.perf_counter()) + rng.random() * pause)

        async def uploader(carer, rng):
            await wait_start(rng, args.pause)
            turn = 0
            while time.perf_counter() < end and carer.locks:
                lock_id = carer.locks[turn % len(carer.locks)]
                await timed(UPLOAD, "PUT", f"/locks/{lock_id}/uploads/{secrets.token_hex(16)}",
                            carer.token, _log_page(fleet, lock_id, rng))
                if turn % READING_EVERY == 0:
                    await timed(READING, "PUT", f"/locks/{lock_id}/uploads/{secrets.token_hex(16)}",
                                carer.token, _reading(rng))
                turn += 1
                await asyncio.sleep(args.pause * (0.5 + rng.random()))

        async def reader(token, rng):
            await wait_start(rng, args.read_pause)
            while time.perf_counter() < end:
                for endpoint, path in READS.items():
                    await timed(endpoint, "GET", path, token)
                    await asyncio.sleep(args.read_pause * (0.5 + rng.random()))

        rng = random.Random(7)
        await asyncio.gather(*[uploader(c, random.Random(rng.random())) for c in fleet.carers],
                             *[reader(token, random.Random(rng.random()))
                               for _login, _provider, token in fleet.coordinators])
    return samples


def _log_page(fleet, lock_id: str, rng) -> dict:
    """The next 3 to 8 records of the lock's log: a visit or two, by one of its keys."""
    seq, now = fleet.next_seq[lock_id], int(time.time())
    key = rng.choice(fleet.key_ids[lock_id])
    records = []
    for n in range(rng.randint(3, 8)):
        kind = (wire.EVENT_SESSION, wire.EVENT_UNLOCKED, wire.EVENT_LOCKED)[n % 3]
        fields = [key, wire.ROLE_STAFF] if kind == wire.EVENT_SESSION else [900, 3100, 1, key]
        records.append({"seq": seq + n, "time": now - 600 + 60 * n, "type": kind, "fields": fields})
    fleet.next_seq[lock_id] = seq + len(records)
    return {"kind": "log-page", "lock_next_seq": seq + len(records), "records": records}


def _reading(rng) -> dict:
    return {"kind": "battery-reading", "at": int(time.time()), "idle_mv": rng.randint(3500, 3650),
            "loaded_mv": rng.randint(3300, 3450), "state": wire.BATTERY_OK,
            "percent": rng.randint(60, 95), "source": "connection"}


# ---- the stores and the server ------------------------------------------------------------

@contextmanager
def _store_url(name: str, tmp: Path, postgres: str | None):
    if name == "sqlite":
        yield str(tmp / "fleet.sqlite3")
    elif postgres:
        if inspect(create_engine(postgres)).get_table_names():
            raise SystemExit(f"bench_service: {make_url(postgres).database} is not empty")
        yield postgres
    else:
        with _postgres_cluster() as url:
            yield url


@contextmanager
def _postgres_cluster():
    """A throwaway PostgreSQL cluster on a Unix socket, as tests/conftest.py starts one."""
    import pwd

    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        raise SystemExit("bench_service: no initdb/pg_ctl: install PostgreSQL or pass --postgres URL")
    base = Path(tempfile.mkdtemp(prefix="hemlas-bench-pg-", dir="/tmp"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL will not run as root
        user = pwd.getpwnam("postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
        os.chown(base, user.pw_uid, user.pw_gid)
    data = base / "data"
    subprocess.run(run_as + [initdb, "-D", str(data), "-U", "hemlas", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run(run_as + [pg_ctl, "-D", str(data), "-w", "-l", str(base / "server.log"), "-o",
                             f"-k {base} -c listen_addresses=''", "start"], check=True,
                   capture_output=True)
    try:
        admin = create_engine(f"postgresql+psycopg://hemlas@/postgres?host={base}",
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE hemlas_bench"))
        admin.dispose()
        yield f"postgresql+psycopg://hemlas@/hemlas_bench?host={base}"
    finally:
        subprocess.run(run_as + [pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _size(url: str) -> int:
    parsed = make_url(url) if "://" in url else None
    if parsed is None:
        return Path(url).stat().st_size + sum(
            p.stat().st_size for p in Path(url).parent.glob(Path(url).name + "-*"))
    engine = create_engine(url)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return size


@contextmanager
def _serve(url: str, tmp: Path):
    """`hemlas serve` over the store on a free port; its API's base URL."""
    env = {**os.environ, "HEMLAS_STORE": url, "HOME": str(tmp)}
    proc = subprocess.Popen(HEMLAS + ["serve", "--port", "0", "--no-retention"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, line = time.monotonic() + 120, ""
        while "fleet service on" not in line:
            line = proc.stdout.readline()
            if (not line and proc.poll() is not None) or time.monotonic() > deadline:
                raise SystemExit(f"bench_service: hemlas serve did not start: {line}")
        base = re.search(r"(http://\S+/api/v1)/", line).group(1)
        # uvicorn logs a line per request: drained, so the pipe never fills and blocks it
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ---- the table ----------------------------------------------------------------------------

def _percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def print_table(results: dict, about: dict, seconds: float) -> None:
    head = f"{'endpoint':40} | {'store':8} | {'requests':>8} | {'req/s':>7} | {'p50 ms':>7} | " \
           f"{'p95 ms':>7} | {'p99 ms':>7} | failed"
    print()
    print(head)
    print("-" * len(head))
    for endpoint in ENDPOINTS:
        for store, samples in results.items():
            s = samples[endpoint]
            times = sorted(s["times"])
            print(f"{endpoint:40} | {store:8} | {len(times):8} | {len(times) / seconds:7.1f} | "
                  + " | ".join(f"{1000 * _percentile(times, p):7.1f}" for p in (50, 95, 99))
                  + f" | {s['failed']}")
    print()
    for store, info in about.items():
        print(f"{store:8}: population {info['population_s']:.1f} s, database "
              f"{info['size'] / 2**20:.0f} MiB; the server's CPU during the load "
              f"{100 * info['server_cpu']:.0f} % of a core, the machine's load average "
              f"{info['load']:.1f} on {os.cpu_count()} cores")
    for store, samples in results.items():
        for endpoint, s in samples.items():
            for error, count in s["errors"].items():
                print(f"{store} {endpoint}: {count} x {error}")


if __name__ == "__main__":
    main()
