"""One base error for everything hemlas raises, with subclasses that carry their data."""

from __future__ import annotations

from .i18n import _, ngettext


class HemlasError(Exception):
    """Base of every error hemlas raises on purpose."""


class BoardError(HemlasError):
    """A board file is missing or malformed."""


class VirtualBoardError(HemlasError):
    """The virtual board could not start, or its firmware stopped answering."""

    def __init__(self, message: str, output: str = ""):
        last = output.strip().splitlines()[-1:] if output else []
        super().__init__(_("{message}: {output}").format(message=message, output=last[0])
                         if last else message)
        self.output = output  # what the firmware printed last, for the report


class LockError(HemlasError):
    """Something went wrong talking to a lock."""


class RadioUnavailableError(LockError):
    """No Bluetooth radio to scan with: no adapter, Bluetooth off, or no BlueZ on this host."""

    def __init__(self, detail: str):
        super().__init__(_("no Bluetooth radio is available ({detail}): switch Bluetooth on, or "
                           "set HEMLAS_RADIO to the virtual radio `hemlas sim` prints")
                         .format(detail=detail))
        self.detail = detail


class LockNotFoundError(LockError):
    def __init__(self, lock_id: str, timeout: float):
        super().__init__(_("lock {lock_id} not found within {seconds} s")
                         .format(lock_id=lock_id, seconds=f"{timeout:.0f}"))
        self.lock_id = lock_id
        self.timeout = timeout


class LockDisconnectedError(LockError):
    def __init__(self, lock_id: str, detail: str = ""):
        super().__init__(_("lock {lock_id} disconnected: {detail}").format(lock_id=lock_id, detail=detail)
                         if detail else _("lock {lock_id} disconnected").format(lock_id=lock_id))
        self.lock_id = lock_id


class LockTimeoutError(LockError):
    def __init__(self, lock_id: str, what: str, timeout: float):
        super().__init__(_("lock {lock_id} did not answer {what} within {seconds} s")
                         .format(lock_id=lock_id, what=what, seconds=f"{timeout:.0f}"))
        self.lock_id = lock_id
        self.timeout = timeout


class LockStatusError(LockError):
    """The lock answered with a status other than OK."""

    def __init__(self, lock_id: str, status: int, message: str):
        super().__init__(_("lock {lock_id}: {message}").format(lock_id=lock_id, message=message))
        self.lock_id = lock_id
        self.status = status


class LockBusyError(LockStatusError):
    pass


class LockJammedError(LockStatusError):
    pass


class BatteryCriticalError(LockStatusError):
    pass


class BatteryDepletedError(LockStatusError):
    """A battery swap was not registered: the new battery still reads depleted under load."""

    def __init__(self, lock_id: str, status: int, message: str, idle_mv: int = 0, loaded_mv: int = 0):
        super().__init__(lock_id, status, _("{message} ({loaded_mv} mV under load)")
                         .format(message=message, loaded_mv=loaded_mv))
        self.idle_mv = idle_mv
        self.loaded_mv = loaded_mv


class ProtocolError(LockStatusError):
    """A frame the lock or this client could not read, or a request the lock refused as bad."""


class AuthError(LockStatusError):
    """The lock refused the key or the request: expired, revoked, wrong lock, no permission..."""


class LockAuthenticityError(LockError):
    """The lock could not prove it holds the lock secret: a fake lock, or a tampered answer."""

    def __init__(self, lock_id: str, detail: str):
        super().__init__(_("lock {lock_id} failed to authenticate ({detail}): it may be a fake; "
                           "nothing it reported can be trusted").format(lock_id=lock_id, detail=detail))
        self.lock_id = lock_id


def unverified(text: str) -> str:
    return _("an unverified answer (not from the lock, or tampered) said: {text}").format(text=text)


class UnverifiedAnswerError(LockAuthenticityError):
    """An answer whose tag does not verify (an untagged refusal, a forgery, a tampered frame):
    what it says is reported as its claim, never as the lock's statement, and acted on as
    nothing (no discharged-battery routine, no key deleted). ``status`` is what it claimed."""

    def __init__(self, lock_id: str, status: int, text: str):
        LockError.__init__(self, _("lock {lock_id}: {claim}; nothing it reported can be trusted: "
                                   "try again, and if it repeats, use the physical key")
                           .format(lock_id=lock_id, claim=unverified(text)))
        self.lock_id = lock_id
        self.status = status


class UnverifiedRefusalError(AuthError):
    """A HELLO refused for the key's own sake (BAD_TAG, KEY_*): untagged by design, since no
    session exists yet, so it may be the lock's or anyone's in range. Said as unverified; the
    key file's next key may be tried, and nothing else is done on its word."""

    def __init__(self, lock_id: str, status: int, text: str):
        super().__init__(lock_id, status, unverified(text))


class NoKeyError(LockError):
    """The key file holds no key this request could use; ``reason`` says why (missing file, no
    key for this lock, not yet valid, expired, too small a role)."""

    def __init__(self, lock_id: str, role: str, reason: str | None = None):
        super().__init__(reason or _("no valid {role} key for lock {lock_id} in the key file")
                         .format(role=role, lock_id=lock_id))
        self.lock_id = lock_id
        self.role = role


class KeysRefusedError(AuthError):
    """The lock refused every key the client tried; ``refusals`` is (key id, status) per key,
    in the order tried. ``status`` is the last refusal's."""

    def __init__(self, lock_id: str, refusals: list[tuple[int, int]], texts: dict[int, str]):
        said = "; ".join(_("key {key_id}: {text}").format(
            key_id=key_id, text=texts.get(status, _("status {status}").format(status=status)))
            for key_id, status in refusals)
        what = ngettext("refused its key in unverified answers ({said})",
                        "refused all {n} keys tried in unverified answers ({said})", len(refusals))
        # HELLO refusals come untagged (no session yet): the lock's, or anyone's in range.
        super().__init__(lock_id, refusals[-1][1], what.format(n=len(refusals), said=said))
        self.refusals = refusals
