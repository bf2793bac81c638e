"""A customer's devices as the caller's provider sees them (Kund: Enheter, NFC) and the routine's
two actions there: deactivate the customer's NFC tag, and register a battery swap (Hantera lås
→ Registrera batteribyte, after a yes to the confirmation question).

Scoped first (tenancy.customer: another provider's customer is unknown, word for word), then
the store's own rules (nfc.py, swaps.py), then recorded in the audit log with who did it.

Registering a swap here records the person's confirmation (begin_swap: stage "confirmed"),
after the check the CLI's swap flow makes before it asks (swap_flow.SwapFlow.run): no swap on
a battery that reads CRITICAL or has never been read, which may be fully discharged. The lock
itself is told at the door, where the field client resumes the swap (`hemlas battery-swap
--resume ID`: the registration on the lock, then at least 5 locks and 5 unlocks); until then
the start page lists it as begun and not verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..firmware import wire
from ..i18n import _
from . import audit, personnummer, tenancy
from .errors import FleetError, UnknownLockError
from .models import CustomerRecord, NfcTagRecord, SwapRecord
from .roles import DEACTIVATE_NFC, REGISTER_SWAPS, Caller, require


class BatteryMayBeDischargedError(FleetError):
    """The routine: a battery that may be fully discharged is not swapped by the staff."""

    rule = "battery-may-be-discharged"

    def __init__(self, lock_id: str, never_read: bool):
        why = (_("lock {lock_id} has never reported its battery") if never_read else
               _("the battery of lock {lock_id} reads CRITICAL")).format(lock_id=lock_id)
        super().__init__(_("{why}: it may be fully discharged. Do not swap it; call the service "
                           "desk").format(why=why))
        self.lock_id = lock_id


class LockNotWithCustomerError(UnknownLockError):
    """A lock id in a customer's address that is not theirs: unknown there (a page answers it
    as for a lock that does not exist)."""

    rule = "lock-not-with-customer"

    def __init__(self, lock_id: str, number: str):
        FleetError.__init__(self, _("lock {lock_id} is not with customer {number}")
                            .format(lock_id=lock_id, number=number))
        self.lock_id = lock_id


@dataclass(frozen=True)
class CustomerDevices:
    customer: CustomerRecord
    personal_number: str | None  # as the caller may see it (personnummer.shown)
    locks: list[tenancy.LockView]
    readings: dict  # lock id -> its newest BatteryReadingRecord
    pending_swaps: dict  # lock id -> its pending SwapRecord
    last_swaps: dict  # lock id -> its last registered SwapRecord
    tags: list[NfcTagRecord]


def customer_devices(store, caller: Caller, number: str) -> CustomerDevices:
    """The customer, their locks with battery and swaps, their NFC tags.

    Raises:
        UnknownCustomerError: no such customer, or another provider's.
    """
    with store.unit_of_work() as uow:
        record, lock_ids = tenancy.customer(uow, caller, number)
        views = [tenancy.lock(uow, caller, lock_id) for lock_id in lock_ids]
        pnr = personnummer.personal_numbers(uow, [record.customer_number]).get(record.customer_number)
    readings = {v.lock_id: store.last_battery_reading(v.lock_id) for v in views}
    pending = {v.lock_id: s for v in views for s in store.pending_swaps(v.lock_id)}
    last = {v.lock_id: store.last_swap(v.lock_id) for v in views}
    return CustomerDevices(record, personnummer.shown(caller, pnr), views, readings, pending, last,
                           store.nfc_tags(record.customer_number))


def deactivate_nfc_tag(store, caller: Caller, number: str) -> NfcTagRecord:
    """Deactivate the customer's active tag, in the caller's name (nfc.py's rules).

    Raises:
        ForbiddenError, UnknownCustomerError, NfcTagError (no active tag).
    """
    require(caller, DEACTIVATE_NFC)
    with store.unit_of_work() as uow:
        record, _locks = tenancy.customer(uow, caller, number)
    tag = store.deactivate_nfc_tag(record.customer_number, caller.display_name)
    with store.unit_of_work() as uow:
        audit.record(uow, caller, "nfc.deactivate",
                     f"customer {record.customer_number}: tag {tag.nfc_tag_id}", record.provider)
    return tag


def swap_refusal(store, lock_id: str) -> BatteryMayBeDischargedError | None:
    """Why the lock's battery must not be swapped by the staff, or None: the question is not
    even asked then (the page shows this instead)."""
    reading = store.last_battery_reading(lock_id)
    if reading is None or reading.state == wire.BATTERY_CRITICAL:
        return BatteryMayBeDischargedError(lock_id, never_read=reading is None)
    return None


def register_battery_swap(store, caller: Caller, number: str, lock_id: str) -> SwapRecord:
    """The confirmed swap of the customer's lock, begun in the caller's name (or the lock's
    pending one, as begin_swap gives it: a form sent twice begins one swap).

    Raises:
        ForbiddenError, UnknownCustomerError, LockNotWithCustomerError,
        BatteryMayBeDischargedError: the last reading is CRITICAL, or there is none.
    """
    require(caller, REGISTER_SWAPS)
    with store.unit_of_work() as uow:
        record, lock_ids = tenancy.customer(uow, caller, number)
    if lock_id not in lock_ids:
        raise LockNotWithCustomerError(lock_id, record.customer_number)
    refusal = swap_refusal(store, lock_id)
    if refusal is not None:
        raise refusal
    swap = store.begin_swap(lock_id, caller.display_name)
    with store.unit_of_work() as uow:
        audit.record(uow, caller, "swaps.begin", f"lock {lock_id}: swap {swap.swap_id}",
                     record.provider)
    return swap
