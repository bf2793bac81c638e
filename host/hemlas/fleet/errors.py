"""The fleet store's own errors, in a module without SQLAlchemy: a field command on a phone
with no store catches them without loading the database layer (issue 14: the CLI's start-up)."""

from __future__ import annotations

from ..errors import HemlasError
from ..i18n import _


class FleetError(HemlasError):
    """The fleet store refused a request or could not be read."""


class StoreMissingError(FleetError):
    """There is no fleet store where the configuration points (a mistyped HEMLAS_STORE, or none
    made yet): reading it would answer from an empty store, so it is not made up."""

    def __init__(self, where: str, configured_by: str):
        super().__init__(_(
            "there is no fleet store at {where} ({configured_by}): check the path, or create the "
            "store: `hemlas flash` (or `hemlas sim`) provisions locks into it, `hemlas customers add` "
            "adds a customer").format(where=where, configured_by=configured_by))
        self.where = where


class NotAFleetStoreError(FleetError):
    """What the configuration points at exists but is not a fleet store (another file, a
    damaged database, a directory, a database with other tables)."""

    def __init__(self, where: str, why: str):
        super().__init__(_("the fleet store {where} is not a fleet store ({why})")
                         .format(where=where, why=why))
        self.where = where
        self.why = why


class UnknownLockError(FleetError):
    def __init__(self, lock_id: str):
        super().__init__(_("lock {lock_id} is not in the fleet store").format(lock_id=lock_id))
        self.lock_id = lock_id
