"""Providers and the accounts that log in to the fleet service: add, list, disable, change a
password, check one (Argon2id, rehashed when the parameters change).

Every function takes the caller's unit of work (FleetStore.unit_of_work()) and records what it
changes in the audit log in the same transaction. The CLI and the API call these alike.

Providers are linked to customers by name: customers.provider (0004) is free text that the
lifecycle and compensation records copy at each mount, and the compensation report matches
on it. A provider_id column beside it would be a second truth to keep in step with those
copies; the name is unique in the providers table and normalised as customers.check_provider
normalises it, so the two always meet (renaming a provider is not offered for that reason).
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..i18n import _
from . import audit
from ._common import FleetError, _check_text, _now
from .customers import check_provider
from .models import (ACCOUNT_ROLES, PERSON_LENGTH, PROVIDER_ROLES, Account, AccountRecord,
                     Provider, ProviderRecord)
from .roles import ROLE_TEXT, Caller

# argon2-cffi's defaults are RFC 9106's second recommended option (Argon2id, t=3, 64 MiB,
# p=4): about 0.2 s a hash on this project's 2-core machine. A change of parameters here
# rehashes each password at its next login (verify_password).
DEFAULT_HASHER = PasswordHasher()
# NIST SP 800-63B-4, 3.1.1.2: at least 15 characters for a password that is the only factor;
# an upper bound so a request cannot hand Argon2 a megabyte.
PASSWORD_MIN, PASSWORD_MAX = 15, 256
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


class UnknownProviderError(FleetError):
    rule = "unknown-provider"

    def __init__(self, name: str):
        super().__init__(_("provider {name!r} is not known to the service: add it with hemlas "
                            "providers add {name!r}").format(name=name))
        self.name = name


class ProviderExistsError(FleetError):
    rule = "provider-exists"

    def __init__(self, name: str):
        super().__init__(_("provider {name!r} already exists").format(name=name))


class UnknownAccountError(FleetError):
    rule = "unknown-account"

    def __init__(self, login: str):
        super().__init__(_("there is no account {login!r} (hemlas accounts list shows them)")
                          .format(login=login))
        self.login = login


class AccountExistsError(FleetError):
    rule = "account-exists"

    def __init__(self, what: str):
        super().__init__(what)


class WeakPasswordError(FleetError):
    rule = "password-policy"

    def __init__(self):
        super().__init__(_("a password has {low} to {high} characters (a passphrase of a few "
                            "words is easiest)").format(low=PASSWORD_MIN, high=PASSWORD_MAX))


def normalise_login(login: str) -> str:
    if not isinstance(login, str) or not _LOGIN.fullmatch(login.strip().casefold()):
        raise FleetError(_("a login name is 2 to 64 characters: letters a-z, digits, '.', '_' "
                            "or '-', starting with a letter or digit"))
    return login.strip().casefold()


def person_key(display_name: str) -> str:
    """The name as keys are matched to it (person_keys.py: trimmed, case-folded)."""
    return " ".join(display_name.split()).casefold()


def check_password(password: str) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise WeakPasswordError()
    return password


# ---- providers -------------------------------------------------------------------------------

def add_provider(session: Session, caller: Caller, name: str, now: int | None = None) -> ProviderRecord:
    name = check_provider(name)
    if session.scalar(select(Provider).where(Provider.name == name)) is not None:
        raise ProviderExistsError(name)
    row = Provider(name=name, created_at=_now(now))
    session.add(row)
    session.flush()
    audit.record(session, caller, "providers.add", name, name, now=now)
    return _provider_record(row)


def providers(session: Session) -> list[ProviderRecord]:
    return [_provider_record(p) for p in session.scalars(select(Provider).order_by(Provider.name))]


def provider_named(session: Session, name: str) -> Provider:
    row = session.scalar(select(Provider).where(Provider.name == check_provider(name)))
    if row is None:
        raise UnknownProviderError(name)
    return row


# ---- accounts --------------------------------------------------------------------------------

def add_account(session: Session, caller: Caller, login: str, display_name: str, role: str,
                password: str, provider: str | None = None, *,
                hasher: PasswordHasher = DEFAULT_HASHER, now: int | None = None) -> AccountRecord:
    """Add an account.

    Raises:
        AccountExistsError: the login, or the display name (the name keys are issued to), is taken.
        UnknownProviderError: the provider is not in the providers table.
        FleetError: a role that needs a provider without one, or the reverse; a bad field.
        WeakPasswordError: the password is too short or too long.
    """
    login = normalise_login(login)
    display_name = " ".join(_check_text("display name", display_name, PERSON_LENGTH).split())
    if role not in ACCOUNT_ROLES:
        raise FleetError(_("role must be one of {roles}, not {role!r}")
                          .format(roles=", ".join(ACCOUNT_ROLES), role=role))
    if (role in PROVIDER_ROLES) != (provider is not None):
        raise FleetError((_("a {role} account needs --provider") if role in PROVIDER_ROLES else
                          _("a {role} account belongs to no provider: leave --provider out"))
                         .format(role=ROLE_TEXT[role]))
    check_password(password)
    provider_row = provider_named(session, provider) if provider is not None else None
    if session.scalar(select(Account.account_id).where(Account.login == login)) is not None:
        raise AccountExistsError(_("account {login!r} already exists").format(login=login))
    if session.scalar(select(Account.login).where(Account.person_key == person_key(display_name))):
        raise AccountExistsError(
            _("another account is already named {display_name!r}: staff keys are issued to a "
               "person's name, so each account's name is unique (add what tells them apart, e.g. "
               "{value!r})")
             .format(display_name=display_name,
                     value=display_name + ' (' + (provider or 'kommunen') + ')'))
    now = _now(now)
    row = Account(login=login, display_name=display_name, person_key=person_key(display_name),
                  role=role, provider_id=provider_row.provider_id if provider_row else None,
                  password_hash=hasher.hash(password), created_at=now, password_changed_at=now)
    session.add(row)
    session.flush()
    audit.record(session, caller, "accounts.add", f"account {login} ({role})",
                 provider_row.name if provider_row else None, now=now)
    return account_record(session, row)


def accounts(session: Session, provider: str | None = None) -> list[AccountRecord]:
    query = select(Account).order_by(Account.login)
    if provider is not None:
        query = query.where(Account.provider_id == provider_named(session, provider).provider_id)
    return [account_record(session, row) for row in session.scalars(query)]


def get_account(session: Session, login: str, for_update: bool = False) -> Account:
    query = select(Account).where(Account.login == login.strip().casefold())
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise UnknownAccountError(login)
    return row


def set_password(session: Session, caller: Caller, login: str, password: str, *,
                 hasher: PasswordHasher = DEFAULT_HASHER, now: int | None = None) -> AccountRecord:
    """A new password; every session and device token of the account ends with the old one.
    The carer's keys stay (a forgotten password is not a lost phone)."""
    from .sessions import revoke_account_tokens

    check_password(password)
    row = get_account(session, login, for_update=True)
    now = _now(now)
    row.password_hash, row.password_changed_at = hasher.hash(password), now
    revoke_account_tokens(session, row.account_id, now)
    audit.record(session, caller, "accounts.password", f"account {row.login}", now=now)
    return account_record(session, row)


def disable_account(session: Session, caller: Caller, login: str,
                    now: int | None = None) -> tuple[AccountRecord, list[int]]:
    """Disable an account (its employment ended): it can no longer log in, every session and
    device token ends, and the staff keys issued to its name are revoked. Returns the record
    and the ids of the keys revoked now. Disabling again changes nothing."""
    from .sessions import revoke_account_tokens, revoke_person_keys

    row = get_account(session, login, for_update=True)
    if row.disabled_at is not None:
        return account_record(session, row), []
    now = _now(now)
    row.disabled_at = now
    revoke_account_tokens(session, row.account_id, now)
    keys = revoke_person_keys(session, row, now)
    audit.record(session, caller, "accounts.disable",
                 f"account {row.login}; keys revoked: {', '.join(map(str, keys)) or 'none'}",
                 now=now)
    return account_record(session, row), keys


def verify_password(password_hash: str, password: str,
                    hasher: PasswordHasher = DEFAULT_HASHER) -> tuple[bool, str | None]:
    """Whether ``password`` matches ``password_hash``, and the hash to store instead when the
    stored one was made with other parameters than ``hasher``'s (None: keep it). Outside any
    transaction: Argon2's 0.2 s must not hold SQLite's write lock."""
    try:
        hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, hasher.hash(password) if hasher.check_needs_rehash(password_hash) else None


def account_record(session: Session, row: Account) -> AccountRecord:
    provider = session.get(Provider, row.provider_id) if row.provider_id is not None else None
    return AccountRecord(row.account_id, row.login, row.display_name, row.role, row.provider_id,
                         provider.name if provider else None, row.created_at, row.disabled_at)


def _provider_record(row: Provider) -> ProviderRecord:
    return ProviderRecord(row.provider_id, row.name, row.created_at)
