"""Board files: one per board under boards/, each a MicroPython module defining BOARD."""

from __future__ import annotations

import ast
import os
from importlib import resources
from pathlib import Path

from .errors import BoardError
from .i18n import _


def boards_dir() -> Path:
    return Path(str(resources.files("hemlas.boardfiles")))


FIRMWARE_DIR_ENV = "HEMLAS_FIRMWARE_DIR"


def firmware_dir() -> Path:
    """The firmware sources every build uses (the virtual board, `hemlas flash`): the package's
    own, or the directory HEMLAS_FIRMWARE_DIR names -- a build under test, such as a branch's
    firmware/ or a deliberately broken copy the bench suite must catch."""
    override = os.environ.get(FIRMWARE_DIR_ENV, "").strip()
    if override:
        path = Path(override)
        if not (path / "main.py").is_file():
            raise BoardError(_("{variable}={path} holds no firmware (no main.py)")
                             .format(variable=FIRMWARE_DIR_ENV, path=override))
        return path
    return Path(str(resources.files("hemlas.firmware")))


def board_names() -> list[str]:
    return sorted(p.stem.replace("_", "-") for p in boards_dir().glob("*.py") if not p.name.startswith("_"))


def board_path(name: str) -> Path:
    path = boards_dir() / f"{name.replace('-', '_')}.py"
    if not path.is_file():
        raise BoardError(_("no board file for {name!r}; boards: {boards}")
                         .format(name=name, boards=", ".join(board_names())))
    return path


def _parse(name: str) -> tuple[Path, str, dict[str, ast.Assign]]:
    """The board file's path, text and its top-level assignments by name."""
    path = board_path(name)
    text = path.read_text()
    tree = ast.parse(text, str(path))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node
    if "BOARD" not in found:
        raise BoardError(_("{path}: no BOARD assignment").format(path=path))
    return path, text, found


def _literal(path: Path, node: ast.Assign) -> dict:
    try:
        value = ast.literal_eval(node.value)
    except ValueError as err:
        raise BoardError(_("{path}: BOARD is not a plain literal: {error}")
                         .format(path=path, error=err)) from err
    if not isinstance(value, dict):
        raise BoardError(_("{path}: BOARD is not a plain literal: {error}").format(path=path, error=type(value)))
    return value


def load_board(name: str) -> dict:
    """The board as the host reads it (the file is never executed on the host): BOARD, with
    HOST's fields merged into it, section by section. HOST holds what only the host reads (the
    virtual board's physics, the chip, `hemlas boards`): it stays off the unit (unit_board_file),
    where every name is a qstr and every value heap. A field is in one of the two, never both."""
    path, _text, found = _parse(name)
    board = _literal(path, found["BOARD"])
    host = _literal(path, found["HOST"]) if "HOST" in found else {}
    for key, value in host.items():
        if isinstance(value, dict) and isinstance(board.get(key), dict):
            twice = [f"{key}.{field}" for field in sorted(value.keys() & board[key].keys())]
            board[key].update(value)
        else:
            twice = [key] if key in board else []
            board[key] = value
        if twice:
            raise BoardError(_("{path}: {fields} in both BOARD and HOST")
                             .format(path=path, fields=", ".join(twice)))
    return board


def unit_board_file(name: str) -> bytes:
    """The board file as the unit gets it (board.py on its flash): the file up to the end of
    its BOARD assignment, without the HOST part after it."""
    path, text, found = _parse(name)
    end = found["BOARD"].end_lineno
    if "HOST" in found and found["HOST"].lineno <= end:
        raise BoardError(_("{path}: HOST before BOARD (the unit gets the file up to BOARD's end)").format(path=path))
    return ("".join(text.splitlines(keepends=True)[:end])).encode()
