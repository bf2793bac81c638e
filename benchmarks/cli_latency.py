"""The `hemlas` command as a carer runs it: wall time of the real CLI process, end to end.

Prints figures; passes or fails nothing. Run: .venv/bin/python benchmarks/cli_latency.py
(about a minute; --runs N for more or fewer runs of each command).

Every figure is a fresh process of the installed console script (.venv/bin/hemlas, or
`python -m hemlas.cli` where there is none), timed from spawn to exit: interpreter start,
imports, argument parsing, the command's work and exit. Median, min and max of --runs.
- `import hemlas.cli` alone (`python -c`), and `python -c pass` for the interpreter's own
  start-up, and `python -X importtime` of hemlas.cli: the largest cumulative imports.
- what a field command imports, step by step in one fresh interpreter: hemlas.cli, the BLE
  client, the fleet store (SQLAlchemy, Alembic, the models), the rest of its handler module
  (hemlas.commands.lock), and the virtual radio's bleak backend (Bumble; a phone's own radio
  loads bleak's platform backend instead).
- `hemlas boards`, `hemlas --help`: no radio, no store.
- field commands `hemlas status` and `hemlas unlock` against an awake virtual lock (the virtual
  board's own policy: always awake) that this benchmark provisions and runs in-process, on its
  virtual radio (HEMLAS_RADIO), with a staff key in a key file of its own (HEMLAS_KEYS):
  once on a technician's machine (HEMLAS_STORE: the fleet store the lock was provisioned into;
  the command records the battery reading and syncs the event log), once on a carer's phone
  (HEMLAS_STORE names a store that does not exist; the command says so and goes on).
  An unlock includes the bolt's motor travel (the lock's own figure, printed beside it): the
  lock is locked again before each run, so each unlock moves the bolt.

Measured baseline: the eager cli.py that imported every command module, at commit 510ea36,
2026-12-02, on the project's 2-core machine (shared: a second run 20 minutes later was 10-25 %
slower throughout; compare runs made together, or interleaved):

    python -c pass                 0.024 s  (min 0.024, max 0.029)
    import hemlas.cli              1.160 s  (min 1.146, max 1.468)
    hemlas boards                  1.244 s  (min 1.069, max 1.257)
    hemlas --help                  1.146 s  (min 1.049, max 1.280)
    technician's machine (fleet store with the lock):
      hemlas status LOCK           1.619 s  (min 1.368, max 1.888)
      hemlas unlock LOCK           2.391 s  (min 2.361, max 2.537)  motor travel 0.624 s, without it 1.772 s
    carer's phone (no fleet store):
      hemlas status LOCK           1.599 s  (min 1.465, max 1.871)
      hemlas unlock LOCK           2.390 s  (min 2.172, max 2.528)  motor travel 0.623 s, without it 1.767 s
    largest cumulative imports of hemlas.cli: hemlas.commands.compensation 0.503 s (hemlas.fleet
    0.488 s, of it hemlas.fleet.models 0.345 s), hemlas.commands.flash 0.328 s (hemlas.flashing:
    hemlas.sim 0.278 s, bumble.att 0.181 s), sqlalchemy 0.172 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hemlas.firmware import wire
from hemlas.radio.config import ENV_VAR

IMPORTTIME_TOP = 12
_IMPORTTIME_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def hemlas_command() -> list[str]:
    """The console script beside this interpreter (what a user types), else `-m hemlas.cli`."""
    script = Path(sys.executable).parent / "hemlas"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hemlas.cli"]


def timed(argv: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return elapsed, done


def summary(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f})"


def row(label: str, times: list[float], extra: str = "") -> None:
    print(f"  {label:30} {summary(times)}{extra}")


def import_top(runs: int) -> None:
    """The largest cumulative imports of hemlas.cli (the median run's figures by module)."""
    by_module: dict[str, list[int]] = {}
    depth: dict[str, int] = {}
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import hemlas.cli"],
                              capture_output=True, text=True, timeout=60)
        for line in done.stderr.splitlines():
            match = _IMPORTTIME_LINE.match(line)
            if match:
                by_module.setdefault(match[4], []).append(int(match[2]))
                depth[match[4]] = len(match[3]) // 2
    medians = {name: statistics.median(us) for name, us in by_module.items()}
    print(f"python -X importtime -c 'import hemlas.cli': cumulative, median of {runs} "
          f"(indent: imported by the line above it)")
    for name in sorted(medians, key=medians.get, reverse=True)[:IMPORTTIME_TOP]:
        print(f"  {medians[name] / 1e6:6.3f} s  {'  ' * depth[name]}{name}")


_FIELD_IMPORTS = (("hemlas.cli", "hemlas.cli"), ("BLE client", "hemlas.client"),
                  ("fleet store", "hemlas.fleet.store"), ("rest of the handler", "hemlas.commands.lock"),
                  ("virtual radio backend", "hemlas.radio.bleak_scanner, hemlas.radio.bleak_client"))
_STEP_TIMER = """
import importlib, json, time
steps = []
for modules in {modules!r}:
    t0 = time.perf_counter()
    for name in modules.split(", "):
        importlib.import_module(name)
    steps.append(time.perf_counter() - t0)
print(json.dumps(steps))
"""


def field_imports(runs: int) -> None:
    """A field command's imports, each step timed after the ones before it (median of runs)."""
    code = _STEP_TIMER.format(modules=[modules for _, modules in _FIELD_IMPORTS])
    steps = [json.loads(timed([sys.executable, "-c", code])[1].stdout) for _ in range(runs)]
    print(f"a field command's imports, in the order it needs them, median of {runs}:")
    for i, (label, modules) in enumerate(_FIELD_IMPORTS):
        print(f"  {label:22} {statistics.median(run[i] for run in steps):.3f} s  ({modules})")
    print(f"  {'in all':22} {statistics.median(sum(run) for run in steps):.3f} s")


@contextlib.contextmanager
def awake_lock(home: Path):
    """(VirtualBoard, StaffKey, store path): a provisioned, always-awake lock on its own radio.

    As benchmarks/virtual_lock.py's provisioned_lock, but the fleet store it is provisioned
    into stays where the CLI can open it (HEMLAS_STORE), so a field command does its whole
    work: battery reading recorded, event log synced."""
    from hemlas.fleet.store import FleetStore
    from hemlas.keyfile import StaffKey
    from hemlas.sim import VirtualBoard, VirtualRadio

    store_path = home / "fleet.sqlite3"
    with VirtualRadio() as radio:
        os.environ[ENV_VAR] = radio.spec
        vb = VirtualBoard("virtual", radio=radio, power_policy=None)  # None: always awake
        vb.start()
        try:
            with FleetStore(str(store_path)) as store:
                vb.provision(store)
                now = int(time.time())
                key = StaffKey.from_issued(store.issue_key(vb.lock_id, "benchmark carer",
                                                           wire.ROLE_STAFF, now - 60, now + 3600))
            yield vb, key, store_path
        finally:
            vb.close()


def field_runs(vb, command: list[str], verb: str, env: dict, runs: int) -> tuple[list[float], list[float]]:
    """Wall times of `hemlas <verb> LOCK --json`, and the lock's motor travel of each run."""
    times, travel = [], []
    for _ in range(runs):
        if verb == "unlock":
            vb.set_bolt(1.0)  # locked: each run moves the bolt, as at a customer's door
        time.sleep(0.3)  # the lock advertises again after the previous connection
        elapsed, done = timed(command + [verb, vb.lock_id, "--json"], env)
        times.append(elapsed)
        travel.append(json.loads(done.stdout).get("travel_ms", 0) / 1000)
    return times, travel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    command = hemlas_command()
    print(f"{' '.join(command)}: wall time of the process, median of {args.runs}")
    row("python -c pass", [timed([sys.executable, "-c", "pass"])[0] for _ in range(args.runs)])
    row("import hemlas.cli", [timed([sys.executable, "-c", "import hemlas.cli"])[0]
                              for _ in range(args.runs)])
    row("hemlas boards", [timed(command + ["boards"])[0] for _ in range(args.runs)])
    row("hemlas --help", [timed(command + ["--help"])[0] for _ in range(args.runs)])

    home = Path(tempfile.mkdtemp(prefix="hemlas-cli-bench-"))
    try:
        with awake_lock(home) as (vb, key, store_path):
            from hemlas.keyfile import KeyFile

            keys = home / "keys.json"
            KeyFile(keys).add(key)
            base = dict(os.environ, HEMLAS_KEYS=str(keys), HEMLAS_CONFIG=str(home / "no-config.toml"))
            places = (("technician's machine (fleet store with the lock)", str(store_path)),
                      ("carer's phone (no fleet store)", str(home / "no-store.sqlite3")))
            for place, store in places:
                print(f"  {place}:")
                env = dict(base, HEMLAS_STORE=store)
                for verb in ("status", "unlock"):
                    times, travel = field_runs(vb, command, verb, env, args.runs)
                    extra = (f"  motor travel {statistics.median(travel):.3f} s, without it "
                             f"{statistics.median(t - m for t, m in zip(times, travel)):.3f} s"
                             if verb == "unlock" else "")
                    row(f"  hemlas {verb} LOCK", times, extra)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print()
    field_imports(args.runs)
    print()
    import_top(args.runs)


if __name__ == "__main__":
    main()
