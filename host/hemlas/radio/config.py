"""Which radio the host uses is configuration; no other host code knows the difference.

HEMLAS_RADIO="" or "default": the platform's own bleak backend (BlueZ, CoreBluetooth, WinRT).
HEMLAS_RADIO="virtual:/path/radio.sock": the virtual radio of `hemlas sim`, over that socket.

Host code passes the keyword arguments from here to bleak and nothing else:
    BleakScanner(**scanner_kwargs()), BleakClient(device, **client_kwargs())
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import HemlasError

ENV_VAR = "HEMLAS_RADIO"
_VIRTUAL = "virtual:"
DEFAULT_MTU = 247  # what phones and BlueZ ask for: 244 bytes of value per ATT packet


class RadioConfigError(HemlasError):
    """HEMLAS_RADIO (or a spec given in its place) names no radio we know."""

    def __init__(self, spec: str):
        super().__init__(f"unknown radio {spec!r}: use 'default' or 'virtual:/path/to/radio.sock'")
        self.spec = spec


def radio_spec() -> str:
    """The configured radio: HEMLAS_RADIO, stripped ("" means the platform's own)."""
    return os.environ.get(ENV_VAR, "").strip()


def virtual_radio_socket(spec: str | None = None) -> str | None:
    """The virtual radio's socket path, or None for the platform's own radio.

    Args:
        spec: a radio spec; the configured one (radio_spec()) if None.

    Raises:
        RadioConfigError: if the spec is neither the default nor "virtual:<path>".
    """
    spec = radio_spec() if spec is None else spec
    if spec in ("", "default"):
        return None
    if spec.startswith(_VIRTUAL) and len(spec) > len(_VIRTUAL):
        return spec[len(_VIRTUAL):]
    raise RadioConfigError(spec)


def scanner_kwargs(spec: str | None = None) -> dict[str, Any]:
    """Keyword arguments for BleakScanner (and its find_device_by_* class methods).

    Args:
        spec: a radio spec; the configured one if None.

    Raises:
        RadioConfigError: if the spec names no radio we know.
    """
    socket = virtual_radio_socket(spec)
    if socket is None:
        return {}
    from .bleak_scanner import BumbleBleakScanner  # only the virtual radio needs bumble

    return {"backend": BumbleBleakScanner, "bumble": {"transport": f"unix:{socket}"}}


def client_kwargs(spec: str | None = None, *, mtu: int | None = DEFAULT_MTU) -> dict[str, Any]:
    """Keyword arguments for BleakClient.

    Args:
        spec: a radio spec; the configured one if None.
        mtu: the ATT MTU the virtual radio's client asks for after connecting; None keeps
            the default of 23 (to test the smallest packets). Platform radios negotiate
            the MTU themselves and ignore this.

    Raises:
        RadioConfigError: if the spec names no radio we know.
    """
    socket = virtual_radio_socket(spec)
    if socket is None:
        return {}
    from .bleak_client import BumbleBleakClient

    return {"backend": BumbleBleakClient,
            "bumble": {"transport": f"unix:{socket}", "mtu": mtu}}
