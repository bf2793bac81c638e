"""Customers' personnummer: read as people write it, checked, kept as 12 digits, shown masked
except to the roles that need it, and the Kund search by name, customer number or it.

The forms (Skatteverket, SKV 704): YYYYMMDD-NNNC or YYMMDD-NNNC, the separator optional; in
the 10-digit form "+" instead of "-" says the person is 100 or older (so the century is the
one before). C is the Luhn check digit over the 10 digits YYMMDDNNN. A samordningsnummer (day
+ 60) is accepted alike.

Who sees the whole number: the lock administrator and the coordinator (roles.py,
READ_PERSONAL_NUMBERS): they register the customer and must tell two customers of the same
name apart. Everyone else, and every list, sees it masked (YYYYMMDD-****); a technician sees
no customer at all.
"""

from __future__ import annotations

import datetime
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..i18n import _
from . import audit, tenancy
from .customers import _get_customer
from .errors import FleetError
from .models import Customer, CustomerRecord
from .roles import READ_CUSTOMERS, READ_PERSONAL_NUMBERS, Caller, require

_FORM = re.compile(r"(\d{2})?(\d{6})([-+]?)(\d{4})")


class InvalidPersonnummerError(FleetError):
    rule = "invalid-personnummer"

    def __init__(self, text: str, why: str):
        super().__init__(_("{text} is not a valid personnummer: {why}").format(text=repr(text), why=why))
        self.why = why


class PersonnummerTakenError(FleetError):
    rule = "personnummer-taken"

    def __init__(self):
        super().__init__(_("another customer already has this personnummer: one person is one customer"))


def looks_like(text: str) -> bool:
    """Whether a search text has a personnummer's shape (10 or 12 digits, a separator or not)."""
    return bool(_FORM.fullmatch(text.strip()))


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(digits):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def normalise(text: str, today: datetime.date | None = None) -> str:
    """The 12 digits of a personnummer written in any of its forms.

    Raises:
        InvalidPersonnummerError: not of the form, no such date, or a wrong check digit.
    """
    if not isinstance(text, str):
        raise InvalidPersonnummerError(str(text), _("write it as YYYYMMDD-NNNN"))
    found = _FORM.fullmatch(text.strip())
    if not found:
        raise InvalidPersonnummerError(text, _("write it as YYYYMMDD-NNNN or YYMMDD-NNNN"))
    century, date6, separator, last4 = found.groups()
    if century is not None and separator == "+":
        raise InvalidPersonnummerError(text, _("a '+' belongs only to the 10-digit form"))
    today = today or datetime.date.today()
    if century is None:  # the century that puts the birth in the past (100 years more with +)
        year = 2000 + int(date6[:2])
        while year > today.year:
            year -= 100
        if separator == "+":
            year -= 100
        century = str(year // 100)
    year, month, day = int(century + date6[:2]), int(date6[2:4]), int(date6[4:6])
    try:  # a samordningsnummer's day is the birth day + 60
        datetime.date(year, month, day - 60 if day > 60 else day)
    except ValueError:
        raise InvalidPersonnummerError(text, _("there is no such date")) from None
    if not luhn_ok(date6 + last4):
        raise InvalidPersonnummerError(text, _("the check digit (the last one) is wrong"))
    return century + date6 + last4


def masked(number: str | None) -> str | None:
    """YYYYMMDD-****: the birth date, not the person."""
    return None if number is None else f"{number[:8]}-****"


def shown(caller: Caller, number: str | None) -> str | None:
    """The personnummer as this caller may see it: whole for the roles that need it."""
    if number is None:
        return None
    return f"{number[:8]}-{number[8:]}" if caller.may(READ_PERSONAL_NUMBERS) else masked(number)


def set_personal_number(session: Session, caller: Caller, customer_number: str,
                        text: str | None) -> str | None:
    """Record (or with None clear) a customer's personnummer; the 12 digits kept.

    Raises:
        ForbiddenError: a role that may not read personnummer (and so may not set one).
        UnknownCustomerError: no such customer, or another provider's.
        InvalidPersonnummerError, PersonnummerTakenError.
    """
    require(caller, READ_PERSONAL_NUMBERS)
    tenancy.customer(session, caller, customer_number)  # scoped: another provider's is unknown
    number = None if text is None else normalise(text)
    if number is not None:
        other = session.scalar(select(Customer.customer_number).where(Customer.personal_number == number))
        if other is not None and other != customer_number.strip():
            raise PersonnummerTakenError()
    row = _get_customer(session, customer_number, for_update=True)
    row.personal_number = number
    audit.record(session, caller, "customers.personal-number",
                 f"customer {row.customer_number}", row.provider)
    return number


def personal_numbers(session: Session, numbers: list[str]) -> dict[str, str]:
    """The personnummer (12 digits) of those of these customers that have one. Only for
    customers the caller has been shown already (tenancy.customer/customers)."""
    if not numbers:
        return {}
    return dict(session.execute(select(Customer.customer_number, Customer.personal_number)
                                .where(Customer.customer_number.in_(numbers),
                                       Customer.personal_number.is_not(None))).all())


def search(session: Session, caller: Caller, text: str) -> list[CustomerRecord]:
    """Kund's search: a text of a personnummer's shape is looked up as one (it must then be
    valid when written with its separator; without one it may be a customer number too, and
    is searched as both); any other text matches customer number, name or address
    (tenancy.customers). Scoped to the caller's provider, and recorded.

    Raises:
        InvalidPersonnummerError: a personnummer written with its separator that is not one.
    """
    require(caller, READ_CUSTOMERS)
    text = (text or "").strip()[:tenancy.SEARCH_MAX]
    if not looks_like(text):
        return tenancy.customers(session, caller, text) if text else []
    try:
        number = normalise(text)
    except InvalidPersonnummerError:
        if re.search(r"[-+]", text):
            raise
        return tenancy.customers(session, caller, text)
    query = select(Customer).where(Customer.personal_number == number)
    if not caller.all_providers:
        query = query.where(Customer.provider == caller.provider)
    found = {c.customer_number: CustomerRecord(c.customer_number, c.name, c.address, c.created_at,
                                               c.provider) for c in session.scalars(query)}
    if found:
        audit.record(session, caller, "customers.read",
                     f"by personnummer: {', '.join(sorted(found))}", caller.provider)
    if text.isdigit():
        for record in tenancy.customers(session, caller, text):
            found.setdefault(record.customer_number, record)
    return [found[k] for k in sorted(found)]
