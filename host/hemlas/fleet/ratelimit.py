"""The login rate limit: at most 5 failed logins in 15 minutes per account and per client
address, then every login for it is refused, right password or not, until the oldest failure
in the window is 15 minutes old (the API answers 429 with Retry-After).

The failures are rows in the store, so the limit holds across the service's workers and its
restarts. Per account, a guesser spreading over many addresses is stopped; per address, one
trying many accounts. A successful login clears its account's failures (its owner is back),
never its address's (one valid account must not buy a guesser more tries at others).
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..i18n import ngettext
from ._common import FleetError
from .models import LoginFailure

MAX_FAILURES = 5  # OWASP's authentication cheat sheet: a few failures, then a lockout period
WINDOW_S = 15 * 60


class RateLimitedError(FleetError):
    """Too many failed logins (the API answers 429, Retry-After: retry_after_s)."""

    rule = "login-rate-limit"

    def __init__(self, retry_after_s: int):
        minutes = max(1, (retry_after_s + 59) // 60)
        super().__init__(ngettext(
            "too many failed logins: wait {n} minute and try again, or ask your lock "
            "administrator to set a new password",
            "too many failed logins: wait {n} minutes and try again, or ask your lock "
            "administrator to set a new password", minutes).format(n=minutes))
        self.retry_after_s = retry_after_s


def subjects(login: str, address: str | None) -> list[str]:
    """What a login attempt counts against. The login as typed (case-folded), known or not:
    an unknown name is limited alike, so the limit tells nobody which names exist."""
    out = ["account:" + login.strip().casefold()[:64]]
    if address:
        out.append("address:" + address[:64])
    return out


def check(session: Session, subject_list: list[str], now: int) -> None:
    """Raises RateLimitedError if any subject has MAX_FAILURES failures in the window."""
    since = now - WINDOW_S
    for subject in subject_list:
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at))
            .where(LoginFailure.subject == subject, LoginFailure.at > since)).one()
        if count >= MAX_FAILURES:
            # The window frees a try when its oldest failures age out; with more than the
            # maximum (concurrent attempts), when enough of them have.
            times = session.scalars(select(LoginFailure.at)
                                    .where(LoginFailure.subject == subject, LoginFailure.at > since)
                                    .order_by(LoginFailure.at)
                                    .limit(count - MAX_FAILURES + 1)).all()
            raise RateLimitedError(max(1, times[-1] + WINDOW_S - now))


def record_failure(session: Session, subject_list: list[str], now: int) -> None:
    for subject in subject_list:
        session.add(LoginFailure(subject=subject, at=now))
    # Rows past the window count for nothing: drop them (the table stays small).
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - WINDOW_S))


def clear_account(session: Session, login: str) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.subject == subjects(login, None)[0]))
