"""Under CPython: import firmware modules as the board does (top level), with the shim."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "firmware"))

import micropython_shim  # noqa: E402

micropython_shim.install()


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as mpy_runner.py runs in a temporary directory
