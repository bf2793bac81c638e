"""Ersättning as a caller sees it: register an "Uppstart smarta lås" hour for a customer of the
caller's provider, and the month's compensation report of that provider (compensation.py's
rules, reached through the caller's scope; docs/web.md).

Scoped first: the customer is looked up as tenancy.customer looks one up, so another
provider's customer number is unknown, word for word as one that does not exist; the hour is
then the customer's provider's (a coordinator registers for their own provider only, the lock
administrator for any customer's). The lock an hour names is not looked up: an hour may name a
lock the report then shows as not mounted, as the CLI allows, and nothing in the answer
depends on whose lock it is. Each registration and each report read is in the audit log.
"""

from __future__ import annotations

import datetime

from ..i18n import _
from . import audit, tenancy
from .hours import CompensationError, UnknownProviderError, month_bounds
from .models import CompensationReport, HourRecord
from .roles import MANAGE_COMPENSATION, Caller, require


class CustomerWithoutProviderError(CompensationError):
    """An hour is a provider's registration: a customer with no provider has none to pay."""

    rule = "customer-without-provider"


def register_hour(store, caller: Caller, customer_number: str, day: datetime.date | str,
                  lock_id: str | None = None, *, now: int | None = None) -> HourRecord:
    """Register one hour for the customer, in the caller's name, for the customer's provider.

    Raises:
        ForbiddenError: the caller's role does not register hours (a carer, a technician).
        UnknownCustomerError: no such customer, or another provider's.
        CompensationError: compensation.py's refusals (the same registration again, a date in
            the future or malformed), or a customer without a provider.
    """
    require(caller, MANAGE_COMPENSATION)
    with store.unit_of_work() as uow:
        record, _locks = tenancy.customer(uow, caller, customer_number)
    if record.provider is None:
        raise CustomerWithoutProviderError(
            _("customer {number} has no provider: an hour \"Uppstart smarta lås\" is a "
              "provider's registration").format(number=record.customer_number))
    hour = store.register_hours(record.provider, record.customer_number, day,
                                caller.display_name, lock_id=(lock_id or "").strip() or None,
                                now=now)
    with store.unit_of_work() as uow:
        audit.record(uow, caller, "hours.register",
                     f"hour {hour.hour_id} customer {hour.customer_number}", hour.provider)
    return hour


def report_providers(store, caller: Caller) -> list[str]:
    """The providers whose report the caller may read: their own, or every one the store
    names (the lock administrator)."""
    require(caller, MANAGE_COMPENSATION)
    return store.providers() if caller.all_providers else [caller.provider]


def compensation_report(store, caller: Caller, month: str,
                        provider: str | None = None) -> CompensationReport:
    """The month's report of the caller's provider; the lock administrator names the
    provider (``provider`` is ignored for a provider-bound caller).

    Raises:
        ForbiddenError: the caller's role does not read it.
        CompensationError: a malformed month; for the lock administrator, a provider nothing
            names.
    """
    require(caller, MANAGE_COMPENSATION)
    if not caller.all_providers:
        provider = caller.provider
    month_bounds(month)  # a malformed month is refused before a provider is looked at
    try:
        report = store.compensation_report(provider or "", month)
    except UnknownProviderError:
        if caller.all_providers:
            raise
        # Their own provider with nothing yet: an empty month, and never the error's list of
        # the other providers' names.
        first, _after, _start, _end = month_bounds(month)
        report = CompensationReport(provider, f"{first:%Y-%m}", (), (), (), ())
    with store.unit_of_work() as uow:
        audit.record(uow, caller, "compensation.read", f"{report.provider} {report.month}",
                     report.provider)
    return report


__all__ = ["CustomerWithoutProviderError", "compensation_report", "register_hour",
           "report_providers"]
