"""User settings: a TOML file, overridable by environment variables.

The file is $HEMLAS_CONFIG, else ~/.config/hemlas/config.toml (XDG_CONFIG_HOME honoured):

    [service_desk]
    name = "Servicedesk, Exempel kommun"
    phone = "+46 8 123 45 67"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import HemlasError


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
    path = config_path()
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError) as err:
        raise HemlasError(f"cannot read settings {path}: {err}") from err


def service_desk() -> ServiceDesk:
    """Who staff call about a lock that may have a fully discharged battery."""
    desk = load().get("service_desk", {})
    name = os.environ.get("HEMLAS_SERVICE_DESK") or desk.get("name") or "the municipality's service desk"
    phone = os.environ.get("HEMLAS_SERVICE_DESK_PHONE") or desk.get("phone")
    return ServiceDesk(name, phone)
