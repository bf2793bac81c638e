"""The fleet store's data: its tables (typed SQLAlchemy 2 ORM models) and the records it hands out.

The schema is created and changed only by the Alembic migrations beside this module; these
models describe it for the ORM (and for the test that checks the two agree). Nothing outside
the fleet package sees the ORM objects: the store hands out the frozen records at the end of
this module instead, so no session, lazy load or lock secret travels with them.

Times are unix seconds (UTC) in BIGINT columns: the wire carries them as uint32, which
overflows PostgreSQL's signed INTEGER in 2038.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, LargeBinary,
                        MetaData, SmallInteger, String, false)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Column sizes. Migrations spell their values out: a migration is history, and must not change
# when these constants do.
LOCK_ID_LENGTH = 64
BOARD_LENGTH = 64
FIRMWARE_VERSION_LENGTH = 32
PERSON_LENGTH = 200

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


@dataclass(frozen=True)
class LockRecord:
    """A provisioned lock. Deliberately without its secret."""

    lock_id: str
    board: str
    firmware_version: str
    provisioned_at: int


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
    """A key just issued: its record and the 32 key bytes, which no repr shows."""

    record: KeyRecord
    key: bytes = field(repr=False)
