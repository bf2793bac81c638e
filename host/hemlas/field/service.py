"""This device's enrolment with the fleet service, and the requests it makes there.

`hemlas login URL` keeps the service's address and this device's token in one small JSON file
in the user's config directory (platformdirs; $HEMLAS_LOGIN to put it elsewhere), owner-only
from the moment it exists and replaced whole, as the key file is: the token lets its holder
upload for the account and fetch its keys. No file: not logged in, and every command works on
the local fleet store as it always has.

Requests go through httpx, in the user's language (Accept-Language): a refusal is the service's
problem details, said as it said them. What the network or a failing server does is one error
(:class:`ServiceUnreachableError`): the outbox keeps the upload and tries again later.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

import platformdirs

from ..errors import HemlasError
from ..i18n import _, language

LOGIN_FILE = "service.json"
FORMAT_VERSION = 1
API = "/api/v1"
CONNECT_TIMEOUT_S = 5.0  # at the door a dead network must not hold the carer for long
READ_TIMEOUT_S = 20.0  # a busy service's answer to an upload: well under a minute


class ServiceError(HemlasError):
    """The service could not be reached, or refused."""


class ServiceUnreachableError(ServiceError):
    """No answer (connection refused or cut, a timeout) or the service's own failure (5xx):
    worth trying again later."""

    def __init__(self, url: str, why: str):
        super().__init__(_("the fleet service at {url} did not answer ({why}); what waits is "
                           "kept and sent later (hemlas outbox send)").format(url=url, why=why))


class ServiceRefusedError(ServiceError):
    """The service's problem details (RFC 9457): its rule and its words."""

    def __init__(self, status: int, rule: str, detail: str):
        super().__init__(detail)
        self.status, self.rule, self.detail = status, rule, detail

    @property
    def retryable(self) -> bool:
        """Worth sending again later (a login, a rate limit, a conflict of the moment); else
        the upload itself is refused, and waits for a person (hemlas outbox)."""
        return self.status in (401, 403, 408, 425, 429)


class LoginFileError(HemlasError):
    def __init__(self, path: Path, problem: str):
        super().__init__(_("login file {path}: {problem}").format(path=path, problem=problem))


@dataclass(frozen=True)
class Enrolment:
    url: str  # the service's base, without /api/v1
    token: str
    login: str
    display_name: str
    device: str
    token_id: int | None
    provider: str | None

    def __repr__(self) -> str:  # never the token
        return f"Enrolment(url={self.url!r}, login={self.login!r}, device={self.device!r})"


def login_path() -> Path:
    configured = os.environ.get("HEMLAS_LOGIN")
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_config_dir("hemlas", appauthor=False)) / LOGIN_FILE


def enrolment(path: Path | None = None) -> Enrolment | None:
    """This device's enrolment; None when it is not logged in."""
    path = path or login_path()
    try:
        with open(path, encoding="utf-8") as f:
            mode = os.fstat(f.fileno()).st_mode
            if os.name == "posix" and mode & 0o077:
                raise LoginFileError(path, _("readable by others (mode {mode}): its token uploads "
                                             "for your account; log in again (hemlas logout; "
                                             "hemlas login)").format(mode=f"{mode & 0o777:04o}"))
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise LoginFileError(path, _("cannot be read ({error}); log in again").format(error=err)) from err
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise LoginFileError(path, _("not a login file of this hemlas; log in again"))
    try:
        return Enrolment(**{k: data[k] for k in Enrolment.__dataclass_fields__})
    except (KeyError, TypeError) as err:
        raise LoginFileError(path, _("incomplete; log in again")) from err


def save_enrolment(found: Enrolment, path: Path | None = None) -> Path:
    """Write the enrolment whole, owner-only (mkstemp's 0600, then an atomic rename)."""
    path = path or login_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": FORMAT_VERSION, **asdict(found)}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def forget_enrolment(path: Path | None = None) -> bool:
    path = path or login_path()
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def normalise_url(url: str) -> str:
    """The service's base as a person types it: "https://lås.kommun.se", with or without
    /api/v1 or a trailing slash."""
    url = url.strip().rstrip("/")
    if url.endswith(API):
        url = url[: -len(API)]
    if not url.startswith(("http://", "https://")):
        raise ServiceError(_("not a service address: {url} (it begins with https://)").format(url=url))
    return url


class ServiceClient:
    """Requests to the fleet service, as the enrolled device (or, for login, as nobody yet)."""

    def __init__(self, url: str, token: str | None = None):
        import httpx  # only when the service is used: local commands never load it

        self.url = url
        headers = {"Accept-Language": language(), "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._httpx = httpx
        self._http = httpx.Client(base_url=url + API, headers=headers, follow_redirects=False,
                                  timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S))

    @classmethod
    def enrolled(cls, found: Enrolment) -> ServiceClient:
        return cls(found.url, found.token)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs):
        try:
            answer = self._http.request(method, path, **kwargs)
        except self._httpx.HTTPError as err:  # refused, reset, cut mid-answer, timed out
            raise ServiceUnreachableError(self.url, type(err).__name__) from err
        if answer.status_code >= 500:
            raise ServiceUnreachableError(self.url, f"HTTP {answer.status_code}")
        if answer.status_code >= 400:
            try:
                problem = answer.json()
                raise ServiceRefusedError(answer.status_code, str(problem["rule"]),
                                          str(problem["detail"]))
            except (ValueError, KeyError, TypeError):
                raise ServiceRefusedError(answer.status_code, "http-error",
                                          f"HTTP {answer.status_code}") from None
        return answer

    def login(self, login: str, password: str, device: str) -> dict:
        return self._request("POST", "/login", json={"login": login, "password": password,
                                                     "device": device}).json()

    def logout(self) -> None:
        self._request("POST", "/logout")

    def keys(self, hours: int) -> list[dict]:
        return self._request("GET", "/keys", params={"hours": hours}).json()

    def upload(self, lock_id: str, upload_id: str, body: dict) -> dict:
        return self._request("PUT", f"/locks/{quote(lock_id, safe='')}/uploads/{upload_id}",
                             json=body).json()
