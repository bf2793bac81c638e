"""The fleet store's data: its tables (typed SQLAlchemy 2 ORM models) and the records it hands out.

The schema is created and changed only by the Alembic migrations beside this module; these
models describe it for the ORM (and for the test that checks the two agree). Nothing outside
the fleet package sees the ORM objects: the store hands out the frozen records at the end of
this module instead, so no session, lazy load or lock secret travels with them.

Times are unix seconds (UTC) in BIGINT columns: the wire carries them as uint32, which
overflows PostgreSQL's signed INTEGER in 2038.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index,
                        Integer, LargeBinary, MetaData, SmallInteger, String, false, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Column sizes. Migrations spell their values out: a migration is history, and must not change
# when these constants do.
LOCK_ID_LENGTH = 64
BOARD_LENGTH = 64
FIRMWARE_VERSION_LENGTH = 32
PERSON_LENGTH = 200
CUSTOMER_NUMBER_LENGTH = 32
NAME_LENGTH = 200
ADDRESS_LENGTH = 300
SOURCE_LENGTH = 16
REASON_LENGTH = 500
NOTE_LENGTH = 1000
PROVIDER_LENGTH = 200  # a home-care provider's (hemtjänstanordnare's) name
NFC_TAG_LENGTH = 64
LIFECYCLE_ACTION_LENGTH = 16

# A swap's outcome and how far its flow got (see BatterySwap).
SWAP_PENDING = "pending"
SWAP_FINISHED_STATUSES = ("passed", "failed", "refused", "abandoned")
SWAP_STAGES = ("confirmed", "registered", "verifying", "done")
CYCLE_ACTIONS = ("lock", "unlock")

# Named constraints, so a later migration can alter or drop them by name on PostgreSQL
# (SQLite names nothing, and Alembic's batch mode needs the names to rebuild its tables).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Lock(Base):
    """A provisioned lock and its secret: the row the whole fleet's security rests on."""

    __tablename__ = "locks"

    lock_id: Mapped[str] = mapped_column(String(LOCK_ID_LENGTH), primary_key=True)
    board: Mapped[str] = mapped_column(String(BOARD_LENGTH))
    firmware_version: Mapped[str] = mapped_column(String(FIRMWARE_VERSION_LENGTH))
    secret: Mapped[bytes] = mapped_column(LargeBinary(32))
    provisioned_at: Mapped[int] = mapped_column(BigInteger)

    def __repr__(self) -> str:
        # Written out so the secret can never reach a log or traceback through repr().
        return f"Lock(lock_id={self.lock_id!r}, board={self.board!r})"


class IssuedKeyRow(Base):
    """One staff key's metadata. The key bytes are never stored: they follow from the lock
    secret and these fields, and a stolen database should not hand out working keys twice."""

    __tablename__ = "issued_keys"
    __table_args__ = (
        CheckConstraint("role BETWEEN 1 AND 3", name="role"),
        CheckConstraint("not_before < not_after", name="window"),
        # AUTOINCREMENT: SQLite never hands out a deleted row's id again. A key id is what the
        # lock's revocation list names, so a reused id would revive or block the wrong key.
        # (Other databases take ids from a sequence, which never goes back.)
        {"sqlite_autoincrement": True},
    )

    key_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.lock_id"), index=True)
    person: Mapped[str] = mapped_column(String(PERSON_LENGTH))
    role: Mapped[int] = mapped_column(SmallInteger)
    not_before: Mapped[int] = mapped_column(BigInteger)
    not_after: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    revocation_pushed_at: Mapped[int | None] = mapped_column(BigInteger)
    # True once the lock was re-provisioned: its new secret makes this key useless.
    superseded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    def __repr__(self) -> str:
        return f"IssuedKeyRow(key_id={self.key_id!r}, lock_id={self.lock_id!r})"


class Customer(Base):
    """A home-care customer, by the municipality's customer number (digits, kept as text:
    a leading zero is part of the number)."""

    __tablename__ = "customers"
    # A unique index, not a constraint: SQLite adds an index to a table in place, where a
    # constraint would copy the table, which its foreign keys refuse once it has rows (0010).
    __table_args__ = (Index("uq_customers_personal_number", "personal_number", unique=True),)

    customer_number: Mapped[str] = mapped_column(String(CUSTOMER_NUMBER_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    created_at: Mapped[int] = mapped_column(BigInteger)
    # The provider serving the customer now (0004); each mount records its own copy. Indexed
    # (0011): every provider-scoped read starts here.
    provider: Mapped[str | None] = mapped_column(String(PROVIDER_LENGTH), index=True)
    # The customer's personnummer, 12 digits (0010; fleet/personnummer.py): what the routine
    # finds a customer by under Kund. Unique: one person is one customer.
    personal_number: Mapped[str | None] = mapped_column(String(12))


class LockAssignment(Base):
    """A lock placed with a customer, from ``assigned_at`` until ``ended_at`` (None: now).

    Rows are added and ended, never rewritten, so the table is already the lock's history;
    the mount/move/dismantle records of a later issue extend it. The partial unique index
    keeps a lock with at most one customer at a time.
    """

    __tablename__ = "lock_assignments"
    __table_args__ = (
        Index("uq_lock_assignments_current_lock_id", "lock_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
        {"sqlite_autoincrement": True},
    )

    assignment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.lock_id"))
    customer_number: Mapped[str] = mapped_column(ForeignKey("customers.customer_number"),
                                                 index=True)
    assigned_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)


class BatteryReading(Base):
    """One battery measurement the host received from a lock (status, battery request, swap)."""

    __tablename__ = "battery_readings"
    __table_args__ = (
        CheckConstraint("state BETWEEN 0 AND 2", name="state"),
        CheckConstraint("percent IS NULL OR percent BETWEEN 0 AND 100", name="percent"),
        Index("ix_battery_readings_lock_id_at", "lock_id", "at"),
    )

    reading_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.lock_id"))
    at: Mapped[int] = mapped_column(BigInteger)  # host time of the reading
    idle_mv: Mapped[int] = mapped_column(Integer)
    loaded_mv: Mapped[int] = mapped_column(Integer)
    state: Mapped[int] = mapped_column(SmallInteger)  # wire.BATTERY_OK, _LOW or _CRITICAL
    percent: Mapped[int | None] = mapped_column(SmallInteger)
    days_left: Mapped[int | None] = mapped_column(Integer)
    charge_used_mah: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH))


class BatterySwap(Base):
    """One battery swap at a lock, as the guided flow records it step by step.

    ``stage`` is how far the flow got (confirmed, registered, verifying, done) and ``status``
    how it ended (pending while it runs). A lock has at most one pending swap (the partial
    unique index): a flow that stopped halfway resumes that swap instead of starting another.
    """

    __tablename__ = "battery_swaps"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'passed', 'failed', 'refused', 'abandoned')",
                        name="status"),
        CheckConstraint("stage IN ('confirmed', 'registered', 'verifying', 'done')", name="stage"),
        Index("uq_battery_swaps_pending_lock_id", "lock_id", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
        Index("ix_battery_swaps_lock_id_registered_at", "lock_id", "registered_at"),
        {"sqlite_autoincrement": True},
    )

    swap_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.lock_id"))
    # The customer the lock was with when the swap began (a lock can move later).
    customer_number: Mapped[str | None] = mapped_column(ForeignKey("customers.customer_number"))
    person: Mapped[str] = mapped_column(String(PERSON_LENGTH))
    started_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[int | None] = mapped_column(BigInteger)
    loaded_mv_at_registration: Mapped[int | None] = mapped_column(Integer)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    # The lock's own swap time (its battery answer's last_swap) read just before registering,
    # and the one its registration answer gave (0005): a resumed swap asks the lock whether
    # the registration happened, instead of guessing from the time that passed.
    lock_swap_time_before: Mapped[int | None] = mapped_column(BigInteger)
    lock_swap_time: Mapped[int | None] = mapped_column(BigInteger)


class SwapCycle(Base):
    """One verification lock or unlock after a swap; (swap_id, cycle_index) is its key, so a
    resumed flow that sends a cycle again cannot record it twice."""

    __tablename__ = "swap_cycles"
    __table_args__ = (
        CheckConstraint("action IN ('lock', 'unlock')", name="action"),
        CheckConstraint("cycle_index >= 0", name="cycle_index"),
    )

    swap_id: Mapped[int] = mapped_column(ForeignKey("battery_swaps.swap_id"), primary_key=True)
    cycle_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(8))
    result: Mapped[int] = mapped_column(SmallInteger)  # the lock's wire status code
    state: Mapped[int] = mapped_column(SmallInteger)  # the bolt state it reported
    travel_ms: Mapped[int] = mapped_column(Integer)
    loaded_mv: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[int] = mapped_column(BigInteger)


class LockEvent(Base):
    """One record of a lock's own event log, as synced to the host: the visit record.

    (lock_id, log_epoch, seq) is the key, so a record synced twice -- two clients, or a sync
    cut off and resumed -- is stored once. ``log_epoch`` counts the times the lock's log
    started again from sequence number 1 (its flash erased): the numbers repeat, the events
    do not. ``at`` is the lock's clock; ``key_id`` the key that moved the bolt (lock and unlock
    events), kept apart from ``fields`` so visits can be found by index.
    """

    __tablename__ = "lock_events"
    __table_args__ = (
        Index("ix_lock_events_lock_id_at", "lock_id", "at"),
    )

    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.lock_id"), primary_key=True)
    log_epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[int] = mapped_column(SmallInteger)
    key_id: Mapped[int | None] = mapped_column(BigInteger)
    fields: Mapped[list] = mapped_column(JSON)
    synced_at: Mapped[int] = mapped_column(BigInteger)


class LockSync(Base):
    """How far each lock's event log has been synced.

    ``next_seq`` is the first sequence number not yet in lock_events for ``log_epoch``; every
    record below it is stored (or was gone from the lock before any sync reached it: counted in
    ``lost_events``). It only moves forward, in the transaction that stores the records.
    """

    __tablename__ = "lock_sync"

    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.lock_id"), primary_key=True)
    log_epoch: Mapped[int] = mapped_column(Integer)
    next_seq: Mapped[int] = mapped_column(BigInteger)
    lock_next_seq: Mapped[int] = mapped_column(BigInteger)  # what the lock said at the last sync
    lost_events: Mapped[int] = mapped_column(BigInteger)
    synced_at: Mapped[int] = mapped_column(BigInteger)


class ManualVisit(Base):
    """A visit registered by hand because the lock failed (the routine: the physical key, and a
    note saying why). Never rewritten."""

    __tablename__ = "manual_visits"
    __table_args__ = (
        CheckConstraint("out_at IS NULL OR out_at >= at", name="window"),
        Index("ix_manual_visits_customer_number_at", "customer_number", "at"),
        {"sqlite_autoincrement": True},
    )

    visit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_number: Mapped[str] = mapped_column(ForeignKey("customers.customer_number"))
    person: Mapped[str] = mapped_column(String(PERSON_LENGTH))
    at: Mapped[int] = mapped_column(BigInteger)
    out_at: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(NOTE_LENGTH))
    registered_at: Mapped[int] = mapped_column(BigInteger)


# ---- NFC tags, lock lifecycle, compensation (0004; nfc.py, lifecycle.py, compensation.py) ----

# What a lifecycle record says happened. "unassign" ends a placement outside the routine
# (FleetStore.unassign_lock: bench work, data repair), so even that change leaves a record.
LIFECYCLE_ACTIONS = ("mount", "move", "key_signed_out", "dismantle", "key_returned", "unassign")
HOUR_SOURCES = ("cli", "csv")
SOURCE_REF_LENGTH = 300  # a file name and line number
ROW_KEY_LENGTH = 64  # a SHA-256 in hex


class NfcTag(Base):
    """An NFC tag at a customer's home, from before the smart locks. Registered, then
    deactivated (who and when) before a lock may be mounted; after that it may be taken down.
    The partial unique indexes keep one active tag per customer and per tag id."""

    __tablename__ = "nfc_tags"
    __table_args__ = (
        CheckConstraint("(deactivated_at IS NULL) = (deactivated_by IS NULL)",
                        name="deactivated"),
        CheckConstraint("deactivated_at IS NULL OR deactivated_at >= registered_at",
                        name="window"),
        Index("uq_nfc_tags_active_customer_number", "customer_number", unique=True,
              sqlite_where=text("deactivated_at IS NULL"),
              postgresql_where=text("deactivated_at IS NULL")),
        Index("uq_nfc_tags_active_tag", "tag", unique=True,
              sqlite_where=text("deactivated_at IS NULL"),
              postgresql_where=text("deactivated_at IS NULL")),
        {"sqlite_autoincrement": True},
    )

    nfc_tag_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_number: Mapped[str] = mapped_column(ForeignKey("customers.customer_number"))
    tag: Mapped[str] = mapped_column(String(NFC_TAG_LENGTH))  # the tag's own id
    registered_at: Mapped[int] = mapped_column(BigInteger)
    registered_by: Mapped[str] = mapped_column(String(PERSON_LENGTH))
    deactivated_at: Mapped[int | None] = mapped_column(BigInteger)
    deactivated_by: Mapped[str | None] = mapped_column(String(PERSON_LENGTH))


class LockLifecycle(Base):
    """One change in a lock's life (mount, move, key signed out, dismantle, key returned):
    who, when, what. Append-only: the store adds rows and never changes or deletes one.

    ``assignment_id`` is the placement (lock_assignments row) the record belongs to: a mount
    opens one, a dismantle ends it, and the key custody in between is checked per placement.
    ``at`` is when it happened (it may be back-dated), ``recorded_at`` when it was entered.
    ``provider`` is the provider serving the customer at that moment, so a compensation report
    does not change when the customer changes provider later.
    """

    __tablename__ = "lock_lifecycle"
    __table_args__ = (
        CheckConstraint("action IN ('mount', 'move', 'key_signed_out', 'dismantle', "
                        "'key_returned', 'unassign')", name="action"),
        # The compensation report: one provider's mounts in a month, by index.
        Index("ix_lock_lifecycle_provider_action_at", "provider", "action", "at"),
        {"sqlite_autoincrement": True},
    )

    record_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.lock_id"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("lock_assignments.assignment_id"),
                                               index=True)
    action: Mapped[str] = mapped_column(String(LIFECYCLE_ACTION_LENGTH))
    customer_number: Mapped[str] = mapped_column(ForeignKey("customers.customer_number"))
    address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    person: Mapped[str] = mapped_column(String(PERSON_LENGTH))
    at: Mapped[int] = mapped_column(BigInteger)
    provider: Mapped[str | None] = mapped_column(String(PROVIDER_LENGTH))
    note: Mapped[str | None] = mapped_column(String(NOTE_LENGTH))
    recorded_at: Mapped[int] = mapped_column(BigInteger)


class CompensationHour(Base):
    """One hour a provider registered on the intervention "Uppstart smarta lås".

    These come from the provider's own registrations (typed in, or a CSV export) to be checked
    against the locks mounted, so the customer and lock are not foreign keys: an hour for a
    customer or lock the store does not know is exactly a mismatch the report must show.
    ``row_key`` (unique) identifies the registration, so importing a file again adds nothing.
    """

    __tablename__ = "compensation_hours"
    __table_args__ = (
        CheckConstraint("source IN ('cli', 'csv')", name="source"),
        Index("ix_compensation_hours_provider_day", "provider", "day"),
        {"sqlite_autoincrement": True},
    )

    hour_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(PROVIDER_LENGTH))
    customer_number: Mapped[str] = mapped_column(String(CUSTOMER_NUMBER_LENGTH))
    lock_id: Mapped[str | None] = mapped_column(String(LOCK_ID_LENGTH))
    day: Mapped[datetime.date] = mapped_column(Date)  # the date the hour is registered for
    registered_by: Mapped[str] = mapped_column(String(PERSON_LENGTH))
    registered_at: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH))
    source_ref: Mapped[str | None] = mapped_column(String(SOURCE_REF_LENGTH))  # file:line
    row_key: Mapped[str] = mapped_column(String(ROW_KEY_LENGTH), unique=True)


# ---- corrections (0005): append-only records that withdraw or correct a row ----

CORRECTION_ACTIONS = ("correct", "withdraw")


class ManualVisitCorrection(Base):
    """A manual visit withdrawn, or corrected by a new manual visit (``replacement_id``): who,
    when and why. The visit itself is never rewritten or deleted; a row is corrected once (a
    replacement may be corrected in turn)."""

    __tablename__ = "visit_corrections"
    __table_args__ = (
        CheckConstraint("action IN ('correct', 'withdraw')", name="action"),
        CheckConstraint("(action = 'correct') = (replacement_id IS NOT NULL)", name="replacement"),
        {"sqlite_autoincrement": True},
    )

    correction_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("manual_visits.visit_id"), unique=True)
    action: Mapped[str] = mapped_column(String(16))
    replacement_id: Mapped[int | None] = mapped_column(ForeignKey("manual_visits.visit_id"))
    by: Mapped[str] = mapped_column(String(PERSON_LENGTH))
    reason: Mapped[str] = mapped_column(String(NOTE_LENGTH))
    recorded_at: Mapped[int] = mapped_column(BigInteger)


class CompensationHourCorrection(Base):
    """A registered compensation hour withdrawn, or corrected by a new hour (``replacement_id``):
    who, when and why. The hour itself is never rewritten or deleted."""

    __tablename__ = "hour_corrections"
    __table_args__ = (
        CheckConstraint("action IN ('correct', 'withdraw')", name="action"),
        CheckConstraint("(action = 'correct') = (replacement_id IS NOT NULL)", name="replacement"),
        {"sqlite_autoincrement": True},
    )

    correction_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hour_id: Mapped[int] = mapped_column(ForeignKey("compensation_hours.hour_id"), unique=True)
    action: Mapped[str] = mapped_column(String(16))
    replacement_id: Mapped[int | None] = mapped_column(ForeignKey("compensation_hours.hour_id"))
    by: Mapped[str] = mapped_column(String(PERSON_LENGTH))
    reason: Mapped[str] = mapped_column(String(NOTE_LENGTH))
    recorded_at: Mapped[int] = mapped_column(BigInteger)


@dataclass(frozen=True)
class LockRecord:
    """A provisioned lock. Deliberately without its secret."""

    lock_id: str
    board: str
    firmware_version: str
    provisioned_at: int
    customer_number: str | None = None  # the customer it is with now


@dataclass(frozen=True)
class KeyRecord:
    """What the store knows of an issued key: its fields and history, never its bytes."""

    key_id: int
    lock_id: str
    person: str
    role: int
    not_before: int
    not_after: int
    issued_at: int
    revoked_at: int | None
    revocation_pushed_at: int | None
    superseded: bool

    def state(self, now: int) -> str:
        """One word for listings: superseded, revoked, expired, not yet valid or valid."""
        if self.superseded:
            return "superseded"
        if self.revoked_at is not None:
            return "revoked"
        if now > self.not_after:
            return "expired"
        return "not yet valid" if now < self.not_before else "valid"


@dataclass(frozen=True)
class IssuedKey:
    """A key just issued: its record, the 32 key bytes and the lock's 16-byte advertising key
    (which the client needs to find the lock and say HELLO to it), which no repr shows."""

    record: KeyRecord
    key: bytes = field(repr=False)
    adv_key: bytes = field(repr=False)


@dataclass(frozen=True)
class CustomerRecord:
    customer_number: str
    name: str
    address: str | None
    created_at: int
    provider: str | None = None


@dataclass(frozen=True)
class BatteryReadingRecord:
    reading_id: int
    lock_id: str
    at: int
    idle_mv: int
    loaded_mv: int
    state: int  # wire.BATTERY_OK, BATTERY_LOW or BATTERY_CRITICAL
    percent: int | None
    days_left: int | None
    charge_used_mah: int | None
    source: str


@dataclass(frozen=True)
class SwapCycleRecord:
    swap_id: int
    cycle_index: int
    action: str  # "lock" or "unlock"
    result: int  # wire status code
    state: int  # bolt state
    travel_ms: int
    loaded_mv: int | None
    at: int


@dataclass(frozen=True)
class SwapRecord:
    """A battery swap and its verification cycles, in cycle order."""

    swap_id: int
    lock_id: str
    customer_number: str | None
    person: str
    started_at: int
    status: str  # pending, passed, failed, refused, abandoned
    stage: str  # confirmed, registered, verifying, done
    registered_at: int | None
    loaded_mv_at_registration: int | None
    finished_at: int | None
    reason: str | None
    cycles: tuple[SwapCycleRecord, ...] = ()
    # The lock's own swap time before the registration was sent (0: it had none; None: not
    # read yet, so not sent) and as the registration's answer gave it (docs/battery-swap.md).
    lock_swap_time_before: int | None = None
    lock_swap_time: int | None = None

    @property
    def registered(self) -> bool:
        """Whether the battery counts as swapped: only a registered swap does."""
        return self.registered_at is not None


@dataclass(frozen=True)
class BatteryWarning:
    """One line of the battery report: a lock that needs someone's attention."""

    lock_id: str
    level: str  # "CRITICAL", "LOW" or "stale", most urgent first
    reason: str
    customer_number: str | None
    customer_name: str | None
    state: int | None  # of the last reading; None if there is none
    idle_mv: int | None
    loaded_mv: int | None
    percent: int | None
    days_left: int | None
    reading_at: int | None
    last_swap_at: int | None


# ---- NFC tags, lock lifecycle, compensation (0004) -------------------------------------------

@dataclass(frozen=True)
class NfcTagRecord:
    nfc_tag_id: int
    customer_number: str
    tag: str
    registered_at: int
    registered_by: str
    deactivated_at: int | None
    deactivated_by: str | None

    @property
    def active(self) -> bool:
        return self.deactivated_at is None


@dataclass(frozen=True)
class LifecycleRecord:
    """One change in a lock's life (see LockLifecycle)."""

    record_id: int
    lock_id: str
    assignment_id: int
    action: str  # one of LIFECYCLE_ACTIONS
    customer_number: str
    address: str | None
    person: str
    at: int
    provider: str | None
    note: str | None
    recorded_at: int


@dataclass(frozen=True)
class DismantleRecord:
    """A dismantling and the keys it revoked (pushed to the lock at its next admin connection)."""

    record: LifecycleRecord
    revoked_key_ids: tuple[int, ...]


@dataclass(frozen=True)
class HourRecord:
    """One registered "Uppstart smarta lås" hour."""

    hour_id: int
    provider: str
    customer_number: str
    lock_id: str | None
    day: datetime.date
    registered_by: str
    registered_at: int
    source: str  # "cli" or "csv"
    source_ref: str | None


@dataclass(frozen=True)
class HourImport:
    """What a CSV import did: lines read, hours added, and hours that were already there."""

    lines: int
    added: tuple[HourRecord, ...]
    already_present: int


@dataclass(frozen=True)
class CompensationMount:
    """A mount in the report's month, and the registered hour matched to it (None: missing)."""

    record_id: int
    lock_id: str
    customer_number: str
    customer_name: str | None
    address: str | None
    at: int
    person: str
    hour_id: int | None


@dataclass(frozen=True)
class CompensationHourLine:
    """A registered hour in the report's month, and the mount it pays for (None: no mount)."""

    hour: HourRecord
    customer_name: str | None
    record_id: int | None
    reason: str | None  # why it matches no mount


@dataclass(frozen=True)
class CompensationReport:
    """One provider's month: mounts beside registered hours, and every mismatch."""

    provider: str
    month: str  # "YYYY-MM"
    mounts: tuple[CompensationMount, ...]
    hours: tuple[CompensationHourLine, ...]
    unmatched_mounts: tuple[CompensationMount, ...]
    unmatched_hours: tuple[CompensationHourLine, ...]

    @property
    def balanced(self) -> bool:
        return not self.unmatched_mounts and not self.unmatched_hours


# ---- the fleet service: providers, accounts, tokens, login failures, audit (0006) -----------
# (accounts.py, sessions.py, ratelimit.py, audit.py; docs/service.md)

ACCOUNT_ROLES = ("lock-admin", "coordinator", "carer", "technician")
PROVIDER_ROLES = ("coordinator", "carer")  # bound to one provider
TOKEN_KINDS = ("browser", "device")
LOGIN_LENGTH = 64
DEVICE_NAME_LENGTH = 100
ADDRESS_TEXT_LENGTH = 64  # a client's IP address as text (IPv6 with a zone fits)
AUDIT_ACTION_LENGTH = 64
AUDIT_TARGET_LENGTH = 300


class Provider(Base):
    """A home-care provider (hemtjänstanordnare). Customers name theirs in customers.provider
    (free text since 0004); that name is the link (accounts.py says why), so it is unique here."""

    __tablename__ = "providers"
    __table_args__ = ({"sqlite_autoincrement": True},)

    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(PROVIDER_LENGTH), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Account(Base):
    """A person who logs in to the service. ``login`` is stored case-folded; ``person_key``
    is the display name case-folded, unique: it is the name staff keys are issued to
    (issued_keys.person), so revoking a carer's device finds exactly that carer's keys."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("role IN ('lock-admin', 'coordinator', 'carer', 'technician')",
                        name="role"),
        CheckConstraint("(role IN ('coordinator', 'carer')) = (provider_id IS NOT NULL)",
                        name="provider"),
        {"sqlite_autoincrement": True},
    )

    account_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(LOGIN_LENGTH), unique=True)
    display_name: Mapped[str] = mapped_column(String(PERSON_LENGTH))
    person_key: Mapped[str] = mapped_column(String(PERSON_LENGTH), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.provider_id"))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)
    password_changed_at: Mapped[int] = mapped_column(BigInteger)
    disabled_at: Mapped[int | None] = mapped_column(BigInteger)

    def __repr__(self) -> str:  # never the hash
        return f"Account(account_id={self.account_id!r}, login={self.login!r})"


class AuthToken(Base):
    """A browser session or a field device's token. Only the token's SHA-256 is stored: a
    copy of the database opens no session."""

    __tablename__ = "auth_tokens"
    __table_args__ = (
        CheckConstraint("kind IN ('browser', 'device')", name="kind"),
        CheckConstraint("(kind = 'device') = (device_name IS NOT NULL)", name="device_name"),
        {"sqlite_autoincrement": True},
    )

    token_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    device_name: Mapped[str | None] = mapped_column(String(DEVICE_NAME_LENGTH))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)
    address: Mapped[str | None] = mapped_column(String(ADDRESS_TEXT_LENGTH))
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)

    def __repr__(self) -> str:
        return f"AuthToken(token_id={self.token_id!r}, kind={self.kind!r})"


class LoginFailure(Base):
    """One failed login, by what it counts against ("account:LOGIN" or "address:IP"): kept in
    the store so the limit holds across workers and restarts."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_subject_at", "subject", "at"),
        {"sqlite_autoincrement": True},
    )

    failure_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(LOGIN_LENGTH + 16))
    at: Mapped[int] = mapped_column(BigInteger)


class AuditEntry(Base):
    """One action that changed something or revealed personal data: who, when, what, from
    which device and address. Append-only (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        {"sqlite_autoincrement": True},
    )

    audit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.account_id"))
    actor: Mapped[str] = mapped_column(String(PERSON_LENGTH))  # login, or "local:USER" (CLI)
    device: Mapped[str | None] = mapped_column(String(DEVICE_NAME_LENGTH))
    address: Mapped[str | None] = mapped_column(String(ADDRESS_TEXT_LENGTH))
    action: Mapped[str] = mapped_column(String(AUDIT_ACTION_LENGTH))
    target: Mapped[str | None] = mapped_column(String(AUDIT_TARGET_LENGTH))
    provider: Mapped[str | None] = mapped_column(String(PROVIDER_LENGTH))  # whose data
    outcome: Mapped[str] = mapped_column(String(16))  # "ok" or "refused"


@dataclass(frozen=True)
class ProviderRecord:
    provider_id: int
    name: str
    created_at: int


@dataclass(frozen=True)
class AccountRecord:
    """An account as the domain hands it out: never its password hash."""

    account_id: int
    login: str
    display_name: str
    role: str
    provider_id: int | None
    provider: str | None  # the provider's name
    created_at: int
    disabled_at: int | None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class TokenRecord:
    """A session or device token's metadata: never the token."""

    token_id: int
    account_id: int
    kind: str
    device_name: str | None
    created_at: int
    expires_at: int
    last_used_at: int | None
    address: str | None
    revoked_at: int | None


@dataclass(frozen=True)
class AuditRecord:
    audit_id: int
    at: int
    account_id: int | None
    actor: str
    device: str | None
    address: str | None
    action: str
    target: str | None
    provider: str | None
    outcome: str


# ---- planned visits, the keys issued for them, alarm access (0008) --------------------------
# (planned_visits.py, plan_keys.py, alarm_access.py; docs/planning.md)

VISIT_KINDS = ("planned", "alarm")
VISIT_STATUSES = ("active", "cancelled")
# Why the plan ended a visit's key (each also revoked it): the visit moved (to another time,
# carer or customer) or was cancelled; the lock left the customer; the customer left the
# provider; the lock was re-provisioned (superseded); a coordinator had a blocked key re-issued.
VISIT_KEY_ENDS = ("moved", "cancelled", "lock-gone", "customer-left", "superseded", "reissued")
EXTERNAL_ID_LENGTH = 64  # the planning system's own visit id


class PlannedVisit(Base):
    """A visit a provider planned (imported from its planning system), or an alarm access
    (trygghetslarm: a carer's request, kind "alarm", with its reason). A carer's keys follow
    these: one key per visit and door, valid from the planned start minus a margin to the
    planned end plus a margin (plan_keys.py).

    ``row_key`` identifies the planning system's visit: its visit id when the file has one
    (a later file moves or cancels it), else the row's own fields (the same row again is the
    same visit). Alarm accesses have none. Rows are changed (moved, cancelled), never deleted:
    the audit log says who changed what, and each visit's keys stay in visit_keys.
    """

    __tablename__ = "planned_visits"
    __table_args__ = (
        CheckConstraint("kind IN ('planned', 'alarm')", name="kind"),
        CheckConstraint("status IN ('active', 'cancelled')", name="status"),
        CheckConstraint("planned_start < planned_end", name="window"),
        CheckConstraint("(kind = 'alarm') = (reason IS NOT NULL)", name="reason"),
        # A carer's keys: their visits ending after now.
        Index("ix_planned_visits_carer_account_id_planned_end", "carer_account_id", "planned_end"),
        Index("ix_planned_visits_provider_planned_start", "provider", "planned_start"),
        {"sqlite_autoincrement": True},
    )

    visit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(PROVIDER_LENGTH))
    row_key: Mapped[str | None] = mapped_column(String(ROW_KEY_LENGTH), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(EXTERNAL_ID_LENGTH))
    customer_number: Mapped[str] = mapped_column(ForeignKey("customers.customer_number"))
    carer_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.account_id"))
    planned_start: Mapped[int] = mapped_column(BigInteger)
    planned_end: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))  # an alarm access's
    source: Mapped[str | None] = mapped_column(String(SOURCE_REF_LENGTH))  # file:line
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(PERSON_LENGTH))  # the actor (audit's)
    changed_at: Mapped[int | None] = mapped_column(BigInteger)
    changed_by: Mapped[str | None] = mapped_column(String(PERSON_LENGTH))


class VisitKey(Base):
    """A key issued for a planned visit (or an alarm access) at one door. ``alarm`` flags an
    alarm access's key, so a listing of keys shows it without a join. A key the plan ended
    (``ended_at``, ``ended_why``) was revoked in the same transaction. The partial unique
    index keeps one live key per visit and lock: two fetches at once cannot issue two."""

    __tablename__ = "visit_keys"
    __table_args__ = (
        CheckConstraint("(ended_at IS NULL) = (ended_why IS NULL)", name="ended"),
        CheckConstraint("ended_why IS NULL OR ended_why IN ('moved', 'cancelled', 'lock-gone', "
                        "'customer-left', 'superseded', 'reissued')", name="ended_why"),
        Index("uq_visit_keys_live_visit_id", "visit_id", "lock_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
    )

    key_id: Mapped[int] = mapped_column(ForeignKey("issued_keys.key_id"), primary_key=True,
                                        autoincrement=False)
    visit_id: Mapped[int] = mapped_column(ForeignKey("planned_visits.visit_id"), index=True)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.lock_id"))
    alarm: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    issued_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)
    ended_why: Mapped[str | None] = mapped_column(String(16))


@dataclass(frozen=True)
class PlannedVisitRecord:
    visit_id: int
    provider: str
    external_id: str | None
    customer_number: str
    carer_login: str
    carer_name: str
    planned_start: int
    planned_end: int
    kind: str  # "planned" or "alarm"
    status: str  # "active" or "cancelled"
    reason: str | None
    source: str | None
    created_at: int
    created_by: str
    changed_at: int | None
    changed_by: str | None
    key_ids: tuple[int, ...] = ()  # every key issued for it, live or ended

    @property
    def alarm(self) -> bool:
        return self.kind == "alarm"


@dataclass(frozen=True)
class PlanImport:
    """What an import did. ``moved`` and ``cancelled`` count visits a visit id found again
    with other fields or as cancelled; their keys were revoked (``revoked_key_ids``)."""

    rows: int
    added: int
    moved: int
    cancelled: int
    unchanged: int
    revoked_key_ids: tuple[int, ...]


# ---- field uploads (0009) -------------------------------------------------------------------

UPLOAD_ID_LENGTH = 64
UPLOAD_KINDS = ("log-page", "battery-reading", "swap")


class AppliedUpload(Base):
    """A field client's upload the service has applied, by the idempotency id the client made
    for it (fleet/uploads.py). Written in the transaction that applies the upload, so a repeat
    (the answer lost, the client killed before it noted the answer) finds it and is answered
    the same, applied once. Keyed by account too: one account's id says nothing to another's."""

    __tablename__ = "applied_uploads"
    __table_args__ = (
        CheckConstraint("kind IN ('log-page', 'battery-reading', 'swap')", name="kind"),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.account_id"), primary_key=True)
    upload_id: Mapped[str] = mapped_column(String(UPLOAD_ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.lock_id"), index=True)
    body_sha256: Mapped[str] = mapped_column(String(64))  # the same id with another body: refused
    answer: Mapped[dict] = mapped_column(JSON)  # what the first apply answered, answered again
    applied_at: Mapped[int] = mapped_column(BigInteger)
