"""Board files: one per board under boards/, each a MicroPython module defining BOARD."""

from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path

from .errors import BoardError


def boards_dir() -> Path:
    return Path(str(resources.files("hemlas.boardfiles")))


def firmware_dir() -> Path:
    return Path(str(resources.files("hemlas.firmware")))


def board_names() -> list[str]:
    return sorted(p.stem.replace("_", "-") for p in boards_dir().glob("*.py") if not p.name.startswith("_"))


def board_path(name: str) -> Path:
    path = boards_dir() / f"{name.replace('-', '_')}.py"
    if not path.is_file():
        raise BoardError(f"no board file for {name!r}; boards: {', '.join(board_names())}")
    return path


def load_board(name: str) -> dict:
    """The BOARD dict of a board file, read as data (the file is never executed on the host)."""
    path = board_path(name)
    tree = ast.parse(path.read_text(), str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "BOARD" for t in node.targets
        ):
            try:
                return ast.literal_eval(node.value)
            except ValueError as err:
                raise BoardError(f"{path}: BOARD is not a plain literal: {err}") from err
    raise BoardError(f"{path}: no BOARD assignment")
