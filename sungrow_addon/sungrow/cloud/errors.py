"""What each iSolarCloud error code means: the one table every other module asks.

Appendix 2 of the developer portal lists the codes; the live cloud uses some of them for more
than one thing (REAL_WORLD.md): an expired login token has been answered `E900` (Australia)
and `010` (Europe) as well as `E00003`, while `E900` also means "not in this application's
plan" and `010` "a parameter is wrong". Those three only say "the token may be dead": the
client renews the token once and lets the second answer decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sungrow.exceptions import (
    ISolarCloudAuthenticationError,
    ISolarCloudConnectionError,
    ISolarCloudError,
    ISolarCloudRateLimitError,
    ISolarCloudResponseError,
    TokenRejectedError,
)

SUCCESS = "1"
TOKEN_INVALID_CODE = "E00003"  # noqa: S105 - an error code, not a secret
TOKEN_INVALID_MESSAGE = "er_token_login_invalid"  # noqa: S105 - idem
CLOCK_SKEW_CODE = "E913"
NOT_IN_PLAN_CODE = "E900"
BAD_PARAMETER_CODE = "010"


class Pause(Enum):
    """How long a code keeps the add-on from calling again."""

    NONE = "none"
    NEXT_HOUR = "next hour"
    NEXT_MONTH = "next month"
    LOGIN = "login pause"
    BACKOFF = "growing backoff"


@dataclass(frozen=True, kw_only=True)
class ErrorCode:
    """One code: the exception it raises, its one-line advice, and how to react to it."""

    exception: type[ISolarCloudResponseError]
    message: str
    transient: bool = False
    pause: Pause = Pause.NONE
    token_suspect: bool = False


def _credential(message: str) -> ErrorCode:
    return ErrorCode(exception=ISolarCloudAuthenticationError, message=message)


def _transient(message: str) -> ErrorCode:
    return ErrorCode(exception=ISolarCloudResponseError, message=message, transient=True)


def _quota(message: str, pause: Pause) -> ErrorCode:
    return ErrorCode(exception=ISolarCloudRateLimitError, message=message, pause=pause)


# {path} is the endpoint, {code} the code, {detail} the cloud's own result_msg (with a space).
CODES: dict[str, ErrorCode] = {
    "-1": _transient("iSolarCloud had an internal error answering {path} (-1)"),
    "000": _transient("iSolarCloud had an unknown error answering {path} (000)"),
    # A reused nonce: the next attempt has a new one.
    "E910": _transient("iSolarCloud saw the same encrypted call twice (E910)"),
    "HTTP 429": _transient("iSolarCloud asked to slow down (HTTP 429)"),
    TOKEN_INVALID_CODE: ErrorCode(
        exception=TokenRejectedError,
        message="iSolarCloud rejected the token (E00003)",
        token_suspect=True,
    ),
    NOT_IN_PLAN_CODE: ErrorCode(
        exception=ISolarCloudResponseError,
        message="iSolarCloud does not allow this application to call {path} (E900 "
        "Unauthorized access): check the application's API permissions in the developer "
        "portal",
        token_suspect=True,
    ),
    BAD_PARAMETER_CODE: ErrorCode(
        exception=ISolarCloudResponseError,
        message="iSolarCloud refused the parameters of {path} (010{detail})",
        token_suspect=True,
    ),
    "E00000": _credential(
        "iSolarCloud rejected the appkey (E00000 er_invalid_appkey): check the 'appkey' option "
        "against the AppKey of your application in the developer portal, and that the "
        "application is approved"
    ),
    "E00001": _credential(
        "The Open API service of this application has expired (E00001): renew it in the "
        "iSolarCloud developer portal"
    ),
    "E902": _credential(
        "This application accepts encrypted calls only (E902 Request is not encrypted): copy "
        "the RSA public key from the application's page in the developer portal into the "
        "'rsa_public_key' option"
    ),
    "E906": _credential(
        "iSolarCloud could not decrypt the call's key (E906): check the 'rsa_public_key' "
        "option against the RSA public key of your application"
    ),
    "E911": _credential("The secret key was not sent (E911): set the 'secret_key' option"),
    "E912": _credential(
        "iSolarCloud rejected the secret key (E912 Illegal x-access-key): check the "
        "'secret_key' option against the Secret Key of your application in the developer portal"
    ),
    "E914": _credential(
        "The appkey and the secret key belong to different applications (E914): copy both "
        "from the same application in the developer portal"
    ),
    "E918": _credential(
        "iSolarCloud refused this IP address (E918, IP whitelist): allow it in the "
        "application's settings in the developer portal"
    ),
    "E919": _credential(
        "iSolarCloud refused this account (E919, user whitelist): add the account to the "
        "application's user whitelist in the developer portal"
    ),
    "E999": _quota(
        "iSolarCloud: the hourly call quota of the application is used up (E999)",
        Pause.NEXT_HOUR,
    ),
    "E998": _quota(
        "iSolarCloud: the monthly call quota of the application is used up (E998)",
        Pause.NEXT_MONTH,
    ),
    "E901": _quota("iSolarCloud: calls are too frequent (E901)", Pause.BACKOFF),
    "E916": _quota("iSolarCloud: logins are too frequent (E916)", Pause.LOGIN),
    "E903": _quota("iSolarCloud: the IP address changes too often (E903)", Pause.BACKOFF),
}
_UNKNOWN = ErrorCode(
    exception=ISolarCloudResponseError, message="iSolarCloud answered {path} with {code}{detail}"
)


def lookup(code: str | None, result_msg: str = "") -> ErrorCode:
    """Return what a code means; a message saying the token is invalid wins over the code."""
    if result_msg == TOKEN_INVALID_MESSAGE:
        return CODES[TOKEN_INVALID_CODE]
    return CODES.get(code or "", _UNKNOWN)


def error_for(path: str, code: str, result_msg: str = "") -> ISolarCloudResponseError:
    """Return the exception a call to `path` answered with `code` raises."""
    entry = lookup(code, result_msg)
    detail = f" {result_msg}" if result_msg else ""
    return entry.exception(entry.message.format(path=path, code=code, detail=detail), code=code)


def is_transient(err: ISolarCloudError) -> bool:
    """Return True for failures a retry can cure: network, 5xx, garbled or internal errors."""
    if isinstance(err, ISolarCloudConnectionError):
        return True
    code = getattr(err, "code", None)
    if code is None:
        return not isinstance(err, ISolarCloudAuthenticationError | ISolarCloudRateLimitError)
    return lookup(code).transient or code.startswith("HTTP 5")


def is_token_suspect(err: ISolarCloudError) -> bool:
    """Return True when the answer may only mean that the token is dead (see the docstring)."""
    if isinstance(err, TokenRejectedError):
        return True
    code = getattr(err, "code", None)
    return code is not None and lookup(code).token_suspect


def pause_of(code: str | None) -> Pause:
    """Return the pause a quota or frequency code calls for."""
    return lookup(code).pause
