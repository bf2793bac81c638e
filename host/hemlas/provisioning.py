"""Provisioning a lock over its serial side: identity and a fresh random secret.

The secret is made here (secrets.token_bytes), sent once on the serial console (physical
access), and recorded in the fleet store only after the lock confirmed it. It is never printed
and never read back from the lock.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from .errors import HemlasError
from .firmware import wire
from .i18n import _
from .keyfile import KeyFile


class ProvisioningError(HemlasError):
    """The lock refused or did not confirm its provisioning."""


def new_lock_id() -> str:
    return "HL-%06X" % secrets.randbits(24)


def provision(console: Callable[[str], dict], store, board: str, firmware_version: str,
              lock_id: str | None = None, reprovision: bool = False) -> str:
    """Give a lock its id and secret over console, then record them in the fleet store.

    Args:
        console: sends one serial console command, returns its answer.
        store: the FleetStore.
        reprovision: replace an existing secret (every key issued for the lock stops working).

    Returns:
        The lock id.

    Raises:
        ProvisioningError: the lock refused (e.g. already provisioned and not reprovision).
    """
    lock_id = lock_id or new_lock_id()
    secret = secrets.token_bytes(wire.SECRET_SIZE)
    verb = "reprovision" if reprovision else "provision"
    # The host's clock goes with the secret: a new chip's RTC reads its epoch, where no key is
    # valid yet, and over the air only a session (a valid key) may move it.
    answer = console(f"{verb} {lock_id} {secret.hex()} {int(time.time())}")
    if answer.get("error") or answer.get("lock_id") != lock_id:
        raise ProvisioningError(_("lock refused provisioning: {error}")
                                .format(error=answer.get("error", answer)))
    store.add_lock(lock_id, board, firmware_version, secret, replace=reprovision)
    if reprovision:  # this device's key file forgets the keys the new secret superseded
        KeyFile().supersede(lock_id)
    return lock_id
