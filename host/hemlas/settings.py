"""User settings: a TOML file, overridable by environment variables.

The file is $HEMLAS_CONFIG, else ~/.config/hemlas/config.toml (XDG_CONFIG_HOME honoured):

    [service_desk]
    name = "Servicedesk, Exempel kommun"
    phone = "+46 8 123 45 67"
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .i18n import N_, _



@dataclass(frozen=True)
class ServiceDesk:
    name: str
    phone: str | None

    def __str__(self) -> str:
        return f"{self.name}, {self.phone}" if self.phone else self.name


def config_path() -> Path:
    if os.environ.get("HEMLAS_CONFIG"):
        return Path(os.environ["HEMLAS_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "hemlas" / "config.toml"


def load() -> dict:
    """The settings file's tables; {} when there is none, or when it cannot be read (said once,
    on stderr: a broken file must never hide what it only decorates, such as the routine's
    guidance for a fully discharged battery)."""
    path = config_path()
    try:
        if not path.is_file():
            return {}
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as err:
        _warn(_("cannot read settings {path} ({error}); using the defaults. Fix or remove the "
                "file").format(path=path, error=err))
        return {}


def service_desk() -> ServiceDesk:
    """Who staff call about a lock that may have a fully discharged battery. Never fails:
    values of the wrong type are warned about and the defaults used."""
    desk = load().get("service_desk", {})
    if not isinstance(desk, dict):
        _warn(_("settings {path}: service_desk must be a table ([service_desk]); using the "
                "defaults").format(path=config_path()))
        desk = {}
    name = os.environ.get("HEMLAS_SERVICE_DESK") or _text(desk, "name") or _(DEFAULT_SERVICE_DESK)
    phone = os.environ.get("HEMLAS_SERVICE_DESK_PHONE") or _text(desk, "phone")
    return ServiceDesk(name, phone)


DEFAULT_SERVICE_DESK = N_("the municipality's service desk")
_warned: set[str] = set()


def _text(table: dict, key: str) -> str | None:
    value = table.get(key)
    if value is None or isinstance(value, str):
        return value or None
    _warn(_("settings {path}: service_desk.{key} must be text in quotes, not {type}; ignored")
          .format(path=config_path(), key=key, type=type(value).__name__))
    return None


def _warn(message: str) -> None:
    """One line on stderr, once per process for each message."""
    if message not in _warned:
        _warned.add(message)
        print(_("hemlas: warning: {warning}").format(warning=message), file=sys.stderr)
