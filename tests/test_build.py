"""The firmware build folds wire's integer constants in without changing what they mean."""

import os
import re

from hemlas.boards import firmware_dir
from hemlas.firmware import wire
from hemlas.sim import consts
from hemlas.sim.build import firmware_sources


def test_every_public_integer_constant_of_wire_is_found_with_its_value():
    constants = consts.wire_constants((firmware_dir() / "wire.py").read_text())
    assert constants["STATUS_OK"] == wire.STATUS_OK == 0
    assert constants["RESPONSE_BIT"] == wire.RESPONSE_BIT == 0x80
    assert len(constants) > 80
    for name, value in constants.items():
        assert getattr(wire, name) == value, name
    assert "LOCK_SERVICE_UUID" not in constants  # a string: left as written


def test_folded_modules_keep_their_lines_and_name_no_folded_constant():
    constants = consts.wire_constants((firmware_dir() / "wire.py").read_text())
    for source in firmware_sources():
        text = source.read_text()
        folded = (consts.fold_wire if source.name == "wire.py" else consts.fold_uses)(text, constants)
        assert folded.count("\n") == text.count("\n"), source.name  # tracebacks still match
        compile(folded, source.name, "exec", dont_inherit=True)
        if source.name != "wire.py":
            left = {m for m in re.findall(r"\bwire\.([A-Z][A-Z0-9_]*)\b", folded) if m in constants}
            assert not left, (source.name, left)


def test_folding_replaces_a_use_by_its_value_and_leaves_other_names():
    constants = {"STATUS_OK": 0, "OP_LOCK": 2}
    source = "x = wire.STATUS_OK\ny = wire.OP_LOCKED_NOT\nz = wire.OP_LOCK | wire.RESPONSE_BIT\n"
    assert consts.fold_uses(source, constants) == (
        "x = 0\ny = wire.OP_LOCKED_NOT\nz = 2 | wire.RESPONSE_BIT\n")
    wire_source = "OP_LOCK = const(2)\nFORMATS = {OP_LOCK: '<'}\nX.OP_LOCK = 1\n"
    assert consts.fold_wire(wire_source, constants) == (
        "_OP_LOCK = const(2)\nFORMATS = {_OP_LOCK: '<'}\nX.OP_LOCK = 1\n")


def test_a_module_since_removed_is_not_left_in_the_build(tmp_path):
    """A .mpy whose source is gone (a module removed or moved) would still be imported by the
    interpreter, and counted in the simulated modules' measured heap: the build prunes it."""
    from hemlas.sim import build

    source = tmp_path / "src"
    source.mkdir()
    (source / "kept.py").write_text("X = 1\n")
    (source / "moved.py").write_text("Y = 2\n")
    out = tmp_path / "out"
    build.compile_modules(sorted(source.glob("*.py")), out, prune=True)
    assert {p.name for p in out.glob("*.mpy")} == {"kept.mpy", "moved.mpy"}
    (source / "moved.py").unlink()
    build.compile_modules(sorted(source.glob("*.py")), out, prune=True)
    assert {p.name for p in out.glob("*.mpy")} == {"kept.mpy"}
    assert not (out / "moved.sha").exists()


def test_the_firmware_is_built_without_line_numbers(tmp_path):
    """compile_firmware passes -O3 (docs/firmware.md, "Footprint"): a traceback from the board
    names the file and the function, at "line 1"; the same module built without it has its
    lines. The options are part of the cache's key, so a build never keeps the other's files."""
    import subprocess

    from hemlas.sim import build

    def traceback(fw):
        script = "import wire\nnext(wire.iter_fragments(b'x', 3))\n"
        run = subprocess.run([build.micropython_executable(), "-c", script], capture_output=True, text=True,
                             env={**os.environ, "MICROPYPATH": str(fw)}, timeout=30, cwd=tmp_path)
        return run.stdout + run.stderr

    fw = tmp_path / "fw"
    build.compile_firmware(fw)
    assert 'File "wire.py", line 1, in iter_fragments' in traceback(fw)
    build.compile_modules(firmware_sources(), fw, keep_source={"main.py"}, transform=build.fold_firmware)
    with_lines = traceback(fw)
    assert 'File "wire.py", line ' in with_lines and ", line 1, in iter_fragments" not in with_lines


def test_the_firmware_has_nothing_else_for_its_optimisation_to_drop():
    """-O3 also drops assert statements and makes __debug__ False: the firmware has neither,
    so the build changes nothing but the line numbers."""
    import ast

    for source in firmware_sources():
        tree = ast.parse(source.read_text())
        asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
        debug = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "__debug__"]
        assert not asserts and not debug, (source.name, asserts, debug)
