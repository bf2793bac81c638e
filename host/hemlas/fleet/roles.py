"""Who may do what in the fleet service: the four roles, what each may do, and the caller
(the account behind a request or a CLI command) every scoped rule takes.

The table is the rule; the API and the CLI ask :func:`require`, never a role's name. A
provider-bound role (coordinator, carer) sees one provider's customers and locks; the
municipality's lock administrator sees every provider's; a technician works on the locks
themselves and sees no customer's personal data (docs/service.md has the table).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..i18n import N_, Texts, _
from .errors import FleetError
from .models import ACCOUNT_ROLES, PROVIDER_ROLES

LOCK_ADMIN, COORDINATOR, CARER, TECHNICIAN = ACCOUNT_ROLES

# What a caller may do: one name per kind of request, read by require().
READ_CUSTOMERS = "customers.read"  # customers' names and addresses: personal data
READ_LOCKS = "locks.read"
READ_WARNINGS = "warnings.read"
READ_AUDIT = "audit.read"
MANAGE_ACCOUNTS = "accounts.manage"
# Planned visits and alarm access (planned_visits.py, alarm_access.py; docs/planning.md).
IMPORT_PLAN = "plan.import"  # import, move, cancel a provider's planned visits
READ_PLAN = "plan.read"  # a carer reads their own visits only
REQUEST_ALARM_KEY = "alarm.request"  # a carer's own; the lock administrator's for any carer
READ_ALARM_ACCESS = "alarm.read"
# Data protection (privacy.md): an access request's export and the erasure at the end of care
# are the customer's provider's coordinator's or the lock administrator's; retention runs are
# the municipality's.
EXPORT_CUSTOMER = "customers.export"
ERASE_CUSTOMER = "customers.erase"
RUN_RETENTION = "retention.run"
# The whole personnummer (fleet/personnummer.py); everyone else sees it masked.
READ_PERSONAL_NUMBERS = "personal-numbers.read"
# The routine's work on a customer's devices: the coordinator deactivates an NFC tag before a
# lock goes up; a carer (or the coordinator) registers a battery swap the carer has made.
DEACTIVATE_NFC = "nfc.deactivate"
REGISTER_SWAPS = "swaps.register"
# Ersättning: register the provider's "Uppstart smarta lås" hours and check them against the
# locks mounted (the compensation report names customers and their locks): the coordinator's
# work for their provider, the lock administrator's for any; not a carer's.
MANAGE_COMPENSATION = "compensation.manage"

PERMISSIONS: dict[str, frozenset[str]] = {
    LOCK_ADMIN: frozenset({READ_CUSTOMERS, READ_LOCKS, READ_WARNINGS, READ_AUDIT,
                           MANAGE_ACCOUNTS, IMPORT_PLAN, READ_PLAN, REQUEST_ALARM_KEY,
                           READ_ALARM_ACCESS, EXPORT_CUSTOMER, ERASE_CUSTOMER, RUN_RETENTION,
                           READ_PERSONAL_NUMBERS, DEACTIVATE_NFC, REGISTER_SWAPS,
                           MANAGE_COMPENSATION}),
    COORDINATOR: frozenset({READ_CUSTOMERS, READ_LOCKS, READ_WARNINGS, IMPORT_PLAN, READ_PLAN,
                            READ_ALARM_ACCESS, EXPORT_CUSTOMER, ERASE_CUSTOMER,
                            READ_PERSONAL_NUMBERS, DEACTIVATE_NFC, REGISTER_SWAPS,
                            MANAGE_COMPENSATION}),
    # The routine: a carer finds the customer, then the lock, and swaps a battery that warns.
    CARER: frozenset({READ_CUSTOMERS, READ_LOCKS, READ_WARNINGS, READ_PLAN, REQUEST_ALARM_KEY,
                      REGISTER_SWAPS}),
    # Bench and battery work on the units: locks and their batteries, no customer's name.
    TECHNICIAN: frozenset({READ_LOCKS, READ_WARNINGS}),
}

ROLE_TEXT = Texts({
    LOCK_ADMIN: N_("lock administrator (the municipality: every provider)"),
    COORDINATOR: N_("coordinator (one provider)"),
    CARER: N_("carer (one provider)"),
    TECHNICIAN: N_("technician (the locks, no customer data)"),
})


class ForbiddenError(FleetError):
    """The caller's role may not do this (the API answers 403)."""

    rule = "role-may-not"

    def __init__(self, role: str, permission: str):
        super().__init__(_("a {role} may not do this ({permission}); ask your lock "
                           "administrator if you need to").format(role=ROLE_TEXT.get(role, role),
                                                                   permission=permission))
        self.role, self.permission = role, permission


@dataclass(frozen=True)
class Caller:
    """Who asks, resolved once per request (or per CLI command): the scope every query takes.

    ``provider`` is the provider's name for a provider-bound role, None for a role that sees
    every provider. ``account_id`` is None for the local CLI (the OS user who runs it, who can
    open the store file anyway)."""

    account_id: int | None
    actor: str  # the login, or "local:USER" for the CLI
    display_name: str
    role: str
    provider: str | None
    device: str | None = None  # the device token's name, "cli", or None for a browser
    address: str | None = None  # the client's IP address
    token_id: int | None = None

    @property
    def all_providers(self) -> bool:
        return self.role not in PROVIDER_ROLES

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    @property
    def sees_personal_data(self) -> bool:
        return self.may(READ_CUSTOMERS)


def require(caller: Caller, permission: str) -> None:
    """Raises ForbiddenError unless the caller's role has ``permission``."""
    if not caller.may(permission):
        raise ForbiddenError(caller.role, permission)


def local_caller(device: str = "cli") -> Caller:
    """The CLI's caller: the OS user running it on the store's own machine, with the lock
    administrator's reach (whoever can run it can open the store file itself)."""
    import getpass

    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment (a container): still recorded
        user = "unknown"
    return Caller(None, f"local:{user}", user, LOCK_ADMIN, None, device=device)
