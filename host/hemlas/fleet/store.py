"""The fleet store: which locks exist, their secrets, and the keys issued for them.

Customers and lock assignments (customers.py), battery readings and the battery report
(batteries.py), battery swaps (swaps.py) and the synced event logs and visits (visits.py) are
parts of the same :class:`FleetStore`.

SQLite in the user's data directory by default; any SQLAlchemy URL (PostgreSQL for a
municipality) otherwise. The schema is Alembic's: every open runs ``upgrade head``.

Lock secrets leave the store only through :meth:`FleetStore.lock_secret`, and key bytes only
inside an :class:`IssuedKey` when a key is issued. Neither is ever stored in a record, printed
by a repr, or written into an SQL log or error message (``hide_parameters``).
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event, false, inspect, select, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..firmware import wire
from ..i18n import _
from .where import configured_by, configured_store
from ._common import (_UINT32_MAX, FleetError, NotAFleetStoreError, StoreMissingError, UnknownLockError,
                      _check_text, _check_time, _current_customer, _get_lock, _lock_record, _now,
                      _pending_revocations_query)
from .batteries import BatteryMixin
from .compensation import CompensationError, CompensationMixin, HourImportError
from .doors import DoorMixin
from .customers import CustomerExistsError, CustomerMixin, LockAssignedError, UnknownCustomerError
from .lifecycle import KeyCustodyError, LifecycleError, LifecycleMixin, LockNotMountedError
from .models import (BOARD_LENGTH, FIRMWARE_VERSION_LENGTH, LOCK_ID_LENGTH, PERSON_LENGTH,
                     IssuedKey, IssuedKeyRow, KeyRecord, Lock, LockAssignment, LockRecord)
from .nfc import CustomerHasLockError, NfcMixin, NfcTagActiveError, NfcTagError
from .swaps import SwapMixin, UnknownSwapError
from .visits import VisitMixin

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
ADMIN_PERSON = "hemlas host"  # who the host's own admin keys are recorded as issued to
ROLES = (wire.ROLE_STAFF, wire.ROLE_TECHNICIAN, wire.ROLE_ADMIN)
# The host's admin key starts this long before "now": a lock whose RTC runs a few minutes
# slow must still accept it, not least to have its clock set.
_ADMIN_CLOCK_SLACK_S = 300
_MIGRATION_LOCK = threading.Lock()


__all__ = ["ADMIN_PERSON", "CustomerExistsError", "FleetError", "FleetStore", "LockAssignedError",
           "LockExistsError", "NotAFleetStoreError", "StoreMissingError", "UnknownCustomerError",
           "UnknownKeyError", "UnknownLockError",
           "UnknownSwapError", "default_url",
           # NFC tags, lock lifecycle, compensation (nfc.py, lifecycle.py, compensation.py)
           "CompensationError", "CustomerHasLockError", "HourImportError", "KeyCustodyError",
           "LifecycleError", "LockNotMountedError", "NfcTagActiveError", "NfcTagError"]


class LockExistsError(FleetError):
    def __init__(self, lock_id: str):
        super().__init__(_("lock {lock_id} is already provisioned (re-provisioning replaces it)")
                         .format(lock_id=lock_id))
        self.lock_id = lock_id


class UnknownKeyError(FleetError):
    def __init__(self, key_id: int):
        super().__init__(_("key {key_id} is not in the fleet store").format(key_id=key_id))
        self.key_id = key_id


def default_url() -> URL:
    """$HEMLAS_STORE (a URL or a file path), else fleet.sqlite3 in the user's data directory."""
    return _as_url(configured_store())


class FleetStore(CustomerMixin, BatteryMixin, SwapMixin, VisitMixin, NfcMixin, LifecycleMixin,
                 CompensationMixin, DoorMixin):
    """The fleet store, migrated to the newest schema on open.

    Every method runs in its own short transaction and returns plain frozen records.

    Args:
        url: an SQLAlchemy URL or a file path for SQLite; None for :func:`default_url`.
        create: make the store if there is none (a missing SQLite file, an empty database).
            None: only for an explicit ``url``. The store the user's configuration names is
            made only by the commands that fill it (flash, sim, customers add): a mistyped
            HEMLAS_STORE must not become an empty store that answers "all batteries OK".

    Raises:
        StoreMissingError: there is no store and ``create`` is false.
        NotAFleetStoreError: the file or database is something else, or damaged.
        FleetError: the store cannot be reached, or was written by a newer hemlas.
    """

    def __init__(self, url: str | None = None, *, create: bool | None = None):
        self.url = default_url() if url is None else _as_url(url)
        if create is None:
            create = url is not None
        path = _sqlite_file(self.url)
        if path is not None:
            _check_sqlite_file(path, self._where, create)
        try:
            # hide_parameters: a secret is a bound parameter; SQL logs and error messages
            # must show neither it nor a key's fields.
            self._engine: Engine = create_engine(self.url, hide_parameters=True)
        except (ArgumentError, ImportError) as err:  # e.g. PostgreSQL without its driver
            raise _cannot_open(self._where, _reason(err)) from err
        # SQLite runs one transaction at a time (BEGIN IMMEDIATE, below); its busy handler
        # makes the others poll with sleeps growing to 100 ms, so under a service's many
        # threads the lock sat idle while they slept and the unlucky waited seconds
        # (docs/service.md, "Load"). This process's threads queue here instead, each going
        # the moment the one before commits; other processes still meet SQLite's own wait.
        self._one_at_a_time: AbstractContextManager = nullcontext()
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _sqlite_connect)
            event.listen(self._engine, "begin", _sqlite_begin_immediate)
            self._one_at_a_time = threading.RLock()
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        try:
            self._check_schema(create)
            self._upgrade()
        except BaseException:
            self._engine.dispose()
            raise

    def _check_schema(self, create: bool) -> None:
        """A database with no tables is no store yet; one with tables but not hemlas's is
        someone else's (never migrated into); one that cannot be read is damaged."""
        try:
            tables = set(inspect(self._engine).get_table_names())
        except DBAPIError as err:
            # SQLite: the file is there (checked) but unreadable as a database. A server's
            # errors here are about reaching it (refused, authentication), not its contents.
            if self._engine.dialect.name == "sqlite":
                raise NotAFleetStoreError(self._where, _reason(err)) from err
            raise _cannot_open(self._where, _reason(err)) from err
        except SQLAlchemyError as err:
            raise _cannot_open(self._where, _reason(err)) from err
        if not tables and not create:
            raise StoreMissingError(self._where, configured_by())
        if tables and "alembic_version" not in tables:
            raise NotAFleetStoreError(self._where, _("it holds other tables: {tables}")
                                      .format(tables=", ".join(sorted(tables)[:5])))

    def _upgrade(self) -> None:
        config = Config()
        # configparser would read a '%' in the path as interpolation.
        config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
        where = self._where
        try:
            # Alembic's `context` and `op` are module-level proxies: two upgrades at once in
            # one process (stores opened in two threads) would run in each other's context.
            with _MIGRATION_LOCK, self._engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except CommandError as err:
            raise FleetError(_("cannot migrate the fleet store {where} (written by a newer "
                               "hemlas?): {error}").format(where=where, error=err)) from err
        except DBAPIError as err:
            if self._engine.dialect.name == "sqlite":
                raise NotAFleetStoreError(where, _reason(err)) from err
            raise _cannot_open(where, _reason(err)) from err
        except SQLAlchemyError as err:
            raise _cannot_open(where, _reason(err)) from err

    @property
    def _where(self) -> str:
        """The store for a person: the file's path, or the database and its host (never a
        URL with its user and password)."""
        return _describe(self.url)

    def close(self) -> None:
        """Close every connection to the database."""
        self._engine.dispose()

    def __enter__(self) -> FleetStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        try:
            with self._one_at_a_time, self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as err:
            raise FleetError(_("fleet store: {error}").format(error=err)) from err

    def unit_of_work(self) -> AbstractContextManager[Session]:
        """One transaction for the domain modules that take a session (accounts.py,
        sessions.py, audit.py, tenancy.py: the fleet service's): committed on leaving,
        rolled back on an error, a database error raised as FleetError."""
        return self._transaction()

    # ---- Locks ---------------------------------------------------------------------------

    def add_lock(self, lock_id: str, board: str, firmware_version: str, secret: bytes, *,
                 replace: bool = False, now: int | None = None) -> LockRecord:
        """Record a lock just provisioned with ``secret``.

        Args:
            lock_id: the lock's id, as it advertises it.
            board: the board name.
            firmware_version: the firmware version it runs.
            secret: the lock's wire.SECRET_SIZE random bytes.
            replace: re-provisioning: the lock may exist and gets the new secret; every key
                issued for it is marked superseded, since none works with the new secret.
            now: unix time of provisioning; None for the current time.

        Raises:
            LockExistsError: the lock exists and ``replace`` is False.
            FleetError: a field is invalid, or ``replace`` reuses the old secret.
        """
        lock_id = _check_text("lock id", lock_id, LOCK_ID_LENGTH)
        board = _check_text("board", board, BOARD_LENGTH)
        firmware_version = _check_text("firmware version", firmware_version,
                                       FIRMWARE_VERSION_LENGTH)
        if not isinstance(secret, (bytes, bytearray)) or len(secret) != wire.SECRET_SIZE:
            raise FleetError(_("a lock secret is {size} bytes")  # never say more
                             .format(size=wire.SECRET_SIZE))
        secret, now = bytes(secret), _now(now)
        with self._transaction() as session:
            lock = session.get(Lock, lock_id, with_for_update=True)
            if lock is None:
                lock = Lock(lock_id=lock_id, board=board, firmware_version=firmware_version,
                            secret=secret, provisioned_at=now)
                session.add(lock)
                return _lock_record(lock, _current_customer(session, lock_id))
            if not replace:
                raise LockExistsError(lock_id)
            if hmac.compare_digest(lock.secret, secret):
                # The old keys would keep working while the store calls them superseded.
                raise FleetError(_("re-provisioning lock {lock_id} needs a new secret")
                                 .format(lock_id=lock_id))
            lock.board, lock.firmware_version = board, firmware_version
            lock.secret, lock.provisioned_at = secret, now
            session.execute(update(IssuedKeyRow)
                            .where(IssuedKeyRow.lock_id == lock_id,
                                   IssuedKeyRow.superseded == false())
                            .values(superseded=True))
            return _lock_record(lock, _current_customer(session, lock_id))

    def lock(self, lock_id: str) -> LockRecord:
        """The lock ``lock_id``. Raises UnknownLockError if there is none."""
        with self._transaction() as session:
            return _lock_record(_get_lock(session, lock_id), _current_customer(session, lock_id))

    def locks(self) -> list[LockRecord]:
        """Every lock, by id, with the customer it is with now."""
        query = (select(Lock, LockAssignment.customer_number)
                 .outerjoin(LockAssignment, (LockAssignment.lock_id == Lock.lock_id)
                            & LockAssignment.ended_at.is_(None))
                 .order_by(Lock.lock_id))
        with self._transaction() as session:
            return [_lock_record(lock, customer) for lock, customer in session.execute(query)]

    def record_board(self, lock_id: str, board: str) -> LockRecord:
        """The unit's hardware changed (flashed with --board-change): its new board file.
        Raises UnknownLockError."""
        board = _check_text("board", board, BOARD_LENGTH)
        with self._transaction() as session:
            lock = _get_lock(session, lock_id, for_update=True)
            lock.board = board
            return _lock_record(lock, _current_customer(session, lock_id))

    def lock_secret(self, lock_id: str) -> bytes:
        """The lock's secret: the only way one leaves the store. Raises UnknownLockError."""
        with self._transaction() as session:
            return _get_lock(session, lock_id).secret

    def advertising_keys(self) -> dict[bytes, str]:
        """{advertising key: lock id} of every lock (docs/protocol.md, "Advertising"): derived
        from the secrets, which stay here; a scan knows the store's private locks by them."""
        with self._transaction() as session:
            return {wire.derive_advertising_key(lock.secret): lock.lock_id
                    for lock in session.scalars(select(Lock)) if lock.secret}

    # ---- Keys ----------------------------------------------------------------------------

    def issue_key(self, lock_id: str, person: str, role: int, not_before: int, not_after: int,
                  *, now: int | None = None) -> IssuedKey:
        """Issue a key for one lock, one person, one role and a validity window.

        The database allocates the key id (unique across the fleet, increasing); the key
        bytes are derived from the lock secret and returned, and only the metadata is stored.

        Args:
            lock_id: the lock the key opens.
            person: who holds it (non-empty).
            role: wire.ROLE_STAFF, ROLE_TECHNICIAN or ROLE_ADMIN.
            not_before: unix time from which the lock accepts the key.
            not_after: unix time after which it refuses it; later than ``not_before``.
            now: unix time of issue; None for the current time.

        Raises:
            UnknownLockError: no such lock.
            FleetError: an invalid person, role or window.
        """
        person = _check_text("person", person, PERSON_LENGTH)
        if isinstance(role, bool) or role not in ROLES:
            raise FleetError(_("role must be one of {roles}, not {value!r}")
                             .format(roles=", ".join(map(str, ROLES)), value=role))
        _check_time("not_before", not_before)
        _check_time("not_after", not_after)
        if not not_before < not_after:
            raise FleetError(_("a key's validity must end after it begins"))
        now = _now(now)
        with self._transaction() as session:
            # Row lock (PostgreSQL): a concurrent re-provisioning cannot slip between reading
            # the secret and recording the key it derived.
            lock = _get_lock(session, lock_id, for_update=True)
            row = IssuedKeyRow(lock_id=lock_id, person=person, role=int(role),
                               not_before=not_before, not_after=not_after, issued_at=now,
                               superseded=False)
            session.add(row)
            session.flush()  # the database allocates the key id
            if row.key_id > _UINT32_MAX:
                raise FleetError(_("the fleet has used up the key ids (uint32)"))
            key = wire.derive_key(lock.secret, lock_id, row.key_id, row.role, not_before, not_after)
            return IssuedKey(_key_record(row), key, wire.derive_advertising_key(lock.secret))

    def admin_key(self, lock_id: str, lifetime_s: int = 600, now: int | None = None) -> IssuedKey:
        """A short-lived admin key the host issues itself, to push revocations or set the clock.

        Recorded like any key, as issued to "hemlas host". Valid from a few minutes before
        ``now`` (a slow lock clock) to ``lifetime_s`` after it.

        Raises:
            UnknownLockError: no such lock.
            FleetError: ``lifetime_s`` is not positive.
        """
        if lifetime_s <= 0:
            raise FleetError(_("an admin key's lifetime must be positive"))
        now = _now(now)
        return self.issue_key(lock_id, ADMIN_PERSON, wire.ROLE_ADMIN,
                              max(0, now - _ADMIN_CLOCK_SLACK_S), now + lifetime_s, now=now)

    def keys(self, lock_id: str | None = None) -> list[KeyRecord]:
        """Every key issued, or every key for ``lock_id``, oldest first.

        Raises:
            UnknownLockError: ``lock_id`` is given and unknown.
        """
        query = select(IssuedKeyRow).order_by(IssuedKeyRow.key_id)
        with self._transaction() as session:
            if lock_id is not None:
                _get_lock(session, lock_id)
                query = query.where(IssuedKeyRow.lock_id == lock_id)
            return [_key_record(row) for row in session.scalars(query)]

    def unusable_key_ids(self, lock_id: str) -> frozenset[int]:
        """Ids of the lock's keys a client must never choose: superseded by a re-provisioning
        (the lock's new secret refuses them) or revoked (whether or not the lock knows yet).

        Raises:
            UnknownLockError: no such lock.
        """
        from sqlalchemy import true

        with self._transaction() as session:
            _get_lock(session, lock_id)
            return frozenset(session.scalars(select(IssuedKeyRow.key_id).where(
                IssuedKeyRow.lock_id == lock_id,
                (IssuedKeyRow.superseded == true()) | IssuedKeyRow.revoked_at.is_not(None))))

    def key_issue_concern(self, lock_id: str) -> KeyIssueConcern | None:
        """Why a key for this lock may be a mistake, from its place in the routine
        (lifecycle.py): in stock (never mounted, or dismantled and its key back: the key opens
        no customer's door yet) or dismantled (its keys were revoked; the lock waits for its
        key's return). None when the lock is mounted at a customer.

        Raises:
            UnknownLockError: no such lock.
        """
        from .lifecycle import _state
        from .nfc import local_time

        with self._transaction() as session:
            state = _state(session, lock_id)
            if state.mounted:
                return None
            signed_out = state.find("key_signed_out")
            if signed_out is not None and state.find("key_returned") is None:
                dismantled = state.find("dismantle")
                when = local_time(dismantled.at if dismantled else signed_out.at)
                return KeyIssueConcern(lock_id, "dismantled", _(
                    "lock {lock_id} was dismantled from customer {number}'s home ({when}) and its "
                    "keys revoked: a key for it opens no customer's door").format(
                    lock_id=lock_id, number=signed_out.customer_number, when=when))
            return KeyIssueConcern(lock_id, "stock", _(
                "lock {lock_id} is in stock, not mounted at any customer: this key opens no "
                "customer's door until it is (hemlas locks mount {lock_id} CUSTOMER --by PERSON)")
                .format(lock_id=lock_id))

    def key(self, key_id: int) -> KeyRecord:
        """The key ``key_id``. Raises UnknownKeyError if there is none."""
        with self._transaction() as session:
            return _key_record(_get_key(session, key_id))

    def revoke_key(self, key_id: int, now: int | None = None) -> KeyRecord:
        """Revoke a key (again is harmless: the first revocation time stays; see
        :meth:`revoke_key_again` to tell the two apart).

        The lock learns of it at the next admin connection; see :meth:`pending_revocations`.

        Raises:
            UnknownKeyError: no such key.
        """
        return self.revoke_key_again(key_id, now)[0]

    def revoke_key_again(self, key_id: int, now: int | None = None) -> tuple[KeyRecord, bool]:
        """Revoke a key; returns its record and whether it was revoked already (then nothing
        changed, and the record says when, and whether the lock has been told).

        Raises:
            UnknownKeyError: no such key.
        """
        with self._transaction() as session:
            row = _get_key(session, key_id, for_update=True)
            already = row.revoked_at is not None
            if not already:
                row.revoked_at = _now(now)
            return _key_record(row), already

    def pending_revocations(self, lock_id: str, now: int | None = None) -> list[KeyRecord]:
        """Revocations the lock still has to be told of, oldest first.

        Left out: keys already pushed, superseded keys (the new secret already kills them) and
        expired keys (the lock refuses them anyway): the lock's revocation list is bounded.

        Raises:
            UnknownLockError: no such lock.
        """
        with self._transaction() as session:
            _get_lock(session, lock_id)
            return [_key_record(row) for row in session.scalars(_pending_revocations_query(lock_id, _now(now)))]

    def mark_revocation_pushed(self, key_id: int, now: int | None = None) -> None:
        """Record that the lock confirmed the revocation of ``key_id`` (the first time stays).

        Raises:
            UnknownKeyError: no such key.
            FleetError: the key is not revoked.
        """
        with self._transaction() as session:
            row = _get_key(session, key_id, for_update=True)
            if row.revoked_at is None:
                raise FleetError(_("key {key_id} is not revoked").format(key_id=key_id))
            if row.revocation_pushed_at is None:
                row.revocation_pushed_at = _now(now)


# ---- Helpers ---------------------------------------------------------------------------------

def _as_url(value: str) -> URL:
    if "://" not in value:
        return URL.create("sqlite", database=str(Path(value).expanduser()))
    try:
        return make_url(value)
    except ArgumentError as err:
        raise FleetError(_("not a database URL: {error}").format(error=err)) from err


def _describe(url: URL) -> str:
    path = _sqlite_file(url)
    if path is not None:
        return str(path)
    if url.get_backend_name() == "sqlite":
        return _("(an SQLite database in memory)")
    where = url.host or _("the local server")
    if url.port:
        where += f":{url.port}"
    return _("{backend} database {name} on {where}").format(
        backend=url.get_backend_name(), name=url.database or _("(default)"), where=where)


def _cannot_open(where: str, reason: str) -> FleetError:
    return FleetError(_("cannot open the fleet store {where}: {reason}")
                      .format(where=where, reason=reason))


def _reason(err: BaseException) -> str:
    """An error's own first line: no SQLAlchemy URL, statement or link, and no password."""
    orig = getattr(err, "orig", None) or err
    text = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return text.split(" (Background on this error at")[0]


# The SQLite file header (https://www.sqlite.org/fileformat2.html#the_database_header):
# the magic string, the page size at offset 16 (1 meaning 65536), the change counter at 24,
# the page count at 28 and, at 92, the change counter the page count is valid for.
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_HEADER_SIZE = 100


def _check_sqlite_file(path: Path, where: str, create: bool) -> None:
    """Refuse what is not an SQLite store before SQLite touches it: a directory, another kind
    of file, a file cut short (a copy broken off). An empty file is an empty database."""
    if path.is_dir():
        raise NotAFleetStoreError(where, _("it is a directory"))
    if not path.exists():
        if not create:
            raise StoreMissingError(where, configured_by())
        _create_owner_only(path)
        return
    try:
        with path.open("rb") as f:
            header = f.read(_SQLITE_HEADER_SIZE)
        size = path.stat().st_size
    except OSError as err:
        raise _cannot_open(where, err.strerror or err) from err
    if header and (len(header) < _SQLITE_HEADER_SIZE or not header.startswith(_SQLITE_MAGIC)):
        raise NotAFleetStoreError(where, _("it is not an SQLite database"))
    if header:
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        if header[24:28] == header[92:96] and size < page_size * pages:
            raise NotAFleetStoreError(where, _("the file is cut short: {size} of {expected} bytes")
                                      .format(size=size, expected=page_size * pages))
    _create_owner_only(path)


def _sqlite_file(url: URL) -> Path | None:
    """The file behind an SQLite URL; None for other databases and in-memory ones."""
    db = url.database
    if url.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def _create_owner_only(path: Path) -> None:
    """Create the store file 0600 before SQLite does (it would honour the umask, often 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            log.warning("fleet store %s was readable by others; made it owner-only", path)
            os.chmod(path, 0o600)


def _sqlite_connect(dbapi_connection, _record) -> None:
    # SQLite checks foreign keys only when asked, per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # The driver's own deferred BEGIN off: _sqlite_begin_immediate says when a transaction begins.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection) -> None:
    # A deferred transaction takes SQLite's write lock only at its first write, so two
    # processes could both pass a rule's check (a lock not yet mounted, a key not yet signed
    # out) and both write. BEGIN IMMEDIATE takes it at the start: each store method's check and
    # write are one step, as PostgreSQL's row locks make them there. Others wait (5 s).
    connection.exec_driver_sql("BEGIN IMMEDIATE")


from dataclasses import dataclass  # noqa: E402  (the key records' helpers, kept together here)


def _get_key(session: Session, key_id: int, for_update: bool = False) -> IssuedKeyRow:
    row = session.get(IssuedKeyRow, key_id, with_for_update=for_update)
    if row is None:
        raise UnknownKeyError(key_id)
    return row


@dataclass(frozen=True)
class KeyIssueConcern:
    """Why issuing a key for a lock may be a mistake (FleetStore.key_issue_concern)."""

    lock_id: str
    status: str  # "stock" or "dismantled" (lifecycle.py's words)
    message: str


def _key_record(row: IssuedKeyRow) -> KeyRecord:
    return KeyRecord(row.key_id, row.lock_id, row.person, row.role, row.not_before, row.not_after,
                     row.issued_at, row.revoked_at, row.revocation_pushed_at, row.superseded)
