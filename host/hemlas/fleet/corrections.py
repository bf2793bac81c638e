"""What every correction record shares, for manual visits and compensation hours alike: the
reason it needs, how it is written when two clients correct one row at once, and the state a
corrected row is listed in (the rows themselves are never rewritten or deleted)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..i18n import _
from ._common import FleetError, _check_text
from .models import NOTE_LENGTH, CompensationHourCorrection, ManualVisitCorrection
from .visit_pairing import CORRECTED, CURRENT, WITHDRAWN, Correction

CorrectionRow = ManualVisitCorrection | CompensationHourCorrection


def correction_reason(reason: str) -> str:
    """The reason a correction must give (the record says why), checked."""
    if not isinstance(reason, str) or not reason.strip():
        raise FleetError(_('a correction needs a reason saying why: give --reason "..."'))
    return _check_text("reason", reason, NOTE_LENGTH)


def record_correction(session: Session, correction: CorrectionRow, what: str,
                      error: type[FleetError] = FleetError) -> None:
    """Add the correction record. The corrected row's id is unique among corrections, so a
    second client correcting the same row meanwhile is turned away here (what: "hour #3")."""
    session.add(correction)
    try:
        session.flush()
    except IntegrityError:
        raise error(_("{what} was corrected or withdrawn by someone else meanwhile: list it "
                      "again (--all)").format(what=what)) from None


def correction_state(correction: CorrectionRow | None) -> tuple[str, Correction | None]:
    """How a row is listed (current, withdrawn or corrected) and its correction's record."""
    if correction is None:
        return CURRENT, None
    status = WITHDRAWN if correction.action == "withdraw" else CORRECTED
    return status, Correction(correction.action, correction.by, correction.reason,
                              correction.recorded_at, correction.replacement_id)


__all__ = ["correction_reason", "correction_state", "record_correction"]
