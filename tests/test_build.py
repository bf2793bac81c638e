"""The firmware build folds wire's integer constants in without changing what they mean."""

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
