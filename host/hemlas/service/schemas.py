"""The API's request and answer bodies, for validation and the OpenAPI description. Answers
carry no secret: no password or its hash, no lock secret, no key bytes; a token only in the
one answer that hands a device its own."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    # A name for the field device to enrol ("Anna's phone"); absent for a browser session.
    device: str | None = Field(default=None, min_length=1, max_length=100)


class Account(BaseModel):
    login: str
    display_name: str
    role: str
    provider: str | None


class LoginAnswer(BaseModel):
    account: Account
    expires_at: int
    # Only for a device: its bearer token, shown this once. A browser gets a cookie instead.
    token: str | None = None
    device_token_id: int | None = None


class Me(BaseModel):
    account: Account
    permissions: list[str]
    device: str | None
    session_expires_at: int | None = None


class Customer(BaseModel):
    customer_number: str
    name: str
    address: str | None
    provider: str | None
    created_at: int


class CustomerDetail(Customer):
    lock_ids: list[str]


class Lock(BaseModel):
    lock_id: str
    board: str
    firmware_version: str
    provisioned_at: int
    customer_number: str | None  # None for a role that may not read customers
    provider: str | None


class Warning(BaseModel):
    lock_id: str
    level: str
    reason: str
    customer_number: str | None
    customer_name: str | None
    state: int | None
    idle_mv: int | None
    loaded_mv: int | None
    percent: int | None
    days_left: int | None
    reading_at: int | None
    last_swap_at: int | None


class AuditEntry(BaseModel):
    audit_id: int
    at: int
    actor: str
    device: str | None
    address: str | None
    action: str
    target: str | None
    provider: str | None
    outcome: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the domain rule's name."""

    type: str
    title: str
    status: int
    detail: str
    rule: str


def account(record) -> Account:
    return Account(login=record.login, display_name=record.display_name, role=record.role,
                   provider=record.provider)
