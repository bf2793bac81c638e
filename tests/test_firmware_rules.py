"""Rules every firmware file keeps: real MicroPython, ESP32 API, hardware access in one layer."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hemlas.sim.build import firmware_sources, mpy_cross_executable

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
SOURCES = [p for p in firmware_sources()]
HARDWARE_LAYER = {"hw.py"}  # the only modules allowed to import machine
BLE_LAYER = {"ble.py"}  # the only module allowed to import bluetooth
# Modules CPython has and MicroPython does not (or not on an ESP32).
CPYTHON_ONLY = {"typing", "dataclasses", "enum", "abc", "pathlib", "threading", "subprocess",
                "logging", "functools", "itertools", "collections.abc", "contextlib", "tempfile"}
WIRE_ALLOWED = {"struct", "binascii", "hashlib", "micropython"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_firmware_sources_found():
    assert {"app.py", "hw.py", "lock.py", "eventlog.py", "wire.py"} <= {p.name for p in SOURCES}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_compiles_with_mpy_cross(source, tmp_path):
    result = subprocess.run([mpy_cross_executable(), "-o", str(tmp_path / "out.mpy"), str(source)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.mpy").stat().st_size > 0


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_machine_and_bluetooth_only_in_their_layers(source):
    imports = _imports(source)
    if source.name not in HARDWARE_LAYER:
        assert "machine" not in imports, f"{source.name} imports machine outside the hardware layer"
    if source.name not in BLE_LAYER:
        assert "bluetooth" not in imports, f"{source.name} imports bluetooth outside the BLE layer"
    assert not imports & CPYTHON_ONLY, f"{source.name} imports {imports & CPYTHON_ONLY}"


def test_wire_module_is_pure():
    assert _imports(FIRMWARE / "wire.py") <= WIRE_ALLOWED


def test_the_rule_check_catches_a_violation(tmp_path):
    bad = tmp_path / "lock.py"
    bad.write_text("from machine import Pin\nimport typing\n")
    with pytest.raises(AssertionError):
        test_machine_and_bluetooth_only_in_their_layers(bad)


def _typings() -> Path:
    typings = ROOT / ".hemlas" / "typings"
    if not (typings / "machine.pyi").exists():  # ./dev.sh installs them; pytest alone may not have
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(typings),
                        "micropython-esp32-stubs>=1.29"], check=True)
    return typings


def test_pyright_against_esp32_stubs_has_zero_errors():
    _typings()
    result = subprocess.run([str(Path(sys.executable).parent / "pyright"), "--outputjson"],
                            cwd=ROOT, capture_output=True, text=True)
    report = json.loads(result.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert report["summary"]["filesAnalyzed"] >= len(SOURCES)
    assert errors == [], "\n".join(f"{e['file']}:{e['range']['start']['line'] + 1}: {e['message']}" for e in errors)


def test_pyright_catches_an_api_the_esp32_lacks(tmp_path):
    """The check is real: ADC.read_volts does not exist on the ESP32."""
    typings = _typings()
    (tmp_path / "bad.py").write_text("from machine import ADC, Pin\nADC(Pin(1)).read_volts()\n")
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(
        {"stubPath": str(typings), "typeshedPath": str(typings), "reportMissingModuleSource": "none"}))
    result = subprocess.run([str(Path(sys.executable).parent / "pyright"), "--outputjson"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert json.loads(result.stdout)["summary"]["errorCount"] >= 1
