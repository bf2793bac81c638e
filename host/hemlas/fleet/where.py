"""Where the user's fleet store is, and whether an SQLite one exists there, without loading
SQLAlchemy: a field command on a carer's phone (no store) must not pay for the database layer
to learn that there is none (issue 14). store.default_url reads the same configuration."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from ..i18n import _
from .errors import StoreMissingError

STORE_FILE = "fleet.sqlite3"
_SQLITE_FILE_URL = "sqlite:///"


def configured_store() -> str:
    """$HEMLAS_STORE (a URL or a file path), else fleet.sqlite3 in the user's data directory."""
    return os.environ.get("HEMLAS_STORE") or str(Path(platformdirs.user_data_dir("hemlas", appauthor=False)) / STORE_FILE)


def configured_by() -> str:
    if os.environ.get("HEMLAS_STORE"):
        return _("as HEMLAS_STORE says")
    return _("the default place; HEMLAS_STORE names another")


def missing_store() -> StoreMissingError | None:
    """The error opening the configured store would raise because its SQLite file is not there;
    None when it is, or when the store is a server (only connecting can tell)."""
    text = configured_store()
    if "://" not in text:
        path = Path(text).expanduser()
    elif text.startswith(_SQLITE_FILE_URL) and len(text) > len(_SQLITE_FILE_URL):
        path = Path(text[len(_SQLITE_FILE_URL):].split("?", 1)[0])
    else:
        return None
    return None if path.exists() else StoreMissingError(str(path), configured_by())
