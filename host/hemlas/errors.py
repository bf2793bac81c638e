"""One base error for everything hemlas raises, with subclasses that carry their data."""

from __future__ import annotations


class HemlasError(Exception):
    """Base of every error hemlas raises on purpose."""


class BoardError(HemlasError):
    """A board file is missing or malformed."""


class VirtualBoardError(HemlasError):
    """The virtual board could not start, or its firmware stopped answering."""

    def __init__(self, message: str, output: str = ""):
        last = output.strip().splitlines()[-1:] if output else []
        super().__init__(f"{message}: {last[0]}" if last else message)
        self.output = output  # what the firmware printed last, for the report


class LockError(HemlasError):
    """Something went wrong talking to a lock."""


class RadioUnavailableError(LockError):
    """No Bluetooth radio to scan with: no adapter, Bluetooth off, or no BlueZ on this host."""

    def __init__(self, detail: str):
        super().__init__(f"no Bluetooth radio is available ({detail}): switch Bluetooth on, or set "
                         "HEMLAS_RADIO to the virtual radio `hemlas sim` prints")
        self.detail = detail


class LockNotFoundError(LockError):
    def __init__(self, lock_id: str, timeout: float):
        super().__init__(f"lock {lock_id} not found within {timeout:.0f} s")
        self.lock_id = lock_id
        self.timeout = timeout


class LockDisconnectedError(LockError):
    def __init__(self, lock_id: str, detail: str = ""):
        super().__init__(f"lock {lock_id} disconnected" + (f": {detail}" if detail else ""))
        self.lock_id = lock_id


class LockTimeoutError(LockError):
    def __init__(self, lock_id: str, what: str, timeout: float):
        super().__init__(f"lock {lock_id} did not answer {what} within {timeout:.0f} s")
        self.lock_id = lock_id
        self.timeout = timeout


class LockStatusError(LockError):
    """The lock answered with a status other than OK."""

    def __init__(self, lock_id: str, status: int, message: str):
        super().__init__(f"lock {lock_id}: {message}")
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
        super().__init__(lock_id, status, f"{message} ({loaded_mv} mV under load)")
        self.idle_mv = idle_mv
        self.loaded_mv = loaded_mv


class ProtocolError(LockStatusError):
    """A frame the lock or this client could not read, or a request the lock refused as bad."""


class AuthError(LockStatusError):
    """The lock refused the key or the request: expired, revoked, wrong lock, no permission..."""


class LockAuthenticityError(LockError):
    """The lock could not prove it holds the lock secret: a fake lock, or a tampered answer."""

    def __init__(self, lock_id: str, detail: str):
        super().__init__(f"lock {lock_id} failed to authenticate ({detail}): it may be a fake; "
                         "nothing it reported can be trusted")
        self.lock_id = lock_id


UNVERIFIED = "an unverified answer (not from the lock, or tampered) said: "


class UnverifiedAnswerError(LockAuthenticityError):
    """An answer whose tag does not verify (an untagged refusal, a forgery, a tampered frame):
    what it says is reported as its claim, never as the lock's statement, and acted on as
    nothing (no discharged-battery routine, no key deleted). ``status`` is what it claimed."""

    def __init__(self, lock_id: str, status: int, text: str):
        LockError.__init__(self, f"lock {lock_id}: {UNVERIFIED}{text}; nothing it reported can be "
                                 "trusted: try again, and if it repeats, use the physical key")
        self.lock_id = lock_id
        self.status = status


class UnverifiedRefusalError(AuthError):
    """A HELLO refused for the key's own sake (BAD_TAG, KEY_*): untagged by design, since no
    session exists yet, so it may be the lock's or anyone's in range. Said as unverified; the
    key file's next key may be tried, and nothing else is done on its word."""

    def __init__(self, lock_id: str, status: int, text: str):
        super().__init__(lock_id, status, UNVERIFIED + text)


class NoKeyError(LockError):
    """The key file holds no key this request could use; ``reason`` says why (missing file, no
    key for this lock, not yet valid, expired, too small a role)."""

    def __init__(self, lock_id: str, role: str, reason: str | None = None):
        super().__init__(reason or f"no valid {role} key for lock {lock_id} in the key file")
        self.lock_id = lock_id
        self.role = role


class KeysRefusedError(AuthError):
    """The lock refused every key the client tried; ``refusals`` is (key id, status) per key,
    in the order tried. ``status`` is the last refusal's."""

    def __init__(self, lock_id: str, refusals: list[tuple[int, int]], texts: dict[int, str]):
        said = "; ".join(f"key {key_id}: {texts.get(status, f'status {status}')}"
                         for key_id, status in refusals)
        what = "its key" if len(refusals) == 1 else f"all {len(refusals)} keys tried"
        # HELLO refusals come untagged (no session yet): the lock's, or anyone's in range.
        super().__init__(lock_id, refusals[-1][1], f"refused {what} in unverified answers ({said})")
        self.refusals = refusals
