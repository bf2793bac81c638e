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
                raise BoardError(_("{path}: BOARD is not a plain literal: {error}")
                                 .format(path=path, error=err)) from err
    raise BoardError(_("{path}: no BOARD assignment").format(path=path))
