"""What the live cloud has been seen to do beyond the documentation, as switchable behaviour.

Each quirk is off by default (the gateway then answers as documented) and reproduces a live
record from REAL_WORLD.md: an expired token answered `E900` (Australia) or `010` (Europe)
instead of `E00003`; a dead refresh token answered in one of several shapes; a device type
outside the application's plan refused with `E900`; an impossible counter value; an
application without the permission to control.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .envelope import SimError


class RefreshRefusal(StrEnum):
    """The shapes in which a refused refresh token has been recorded or documented."""

    INVALID_GRANT = "invalid_grant"  # result_code "-2" with OAuth's error fields (documented)
    RESULT_CODE = "result_code"  # result_code "2" alone (KRoperUK#396)
    EXPIRED = "code -2"  # result_code "1" and result_data.code "-2" (portal: expired)
    INVALID = "code 5"  # result_code "1" and result_data.code "5" (portal: invalid)
    NO_ACCESS_TOKEN = "no access_token"  # noqa: S105 - result_code "1", no token in the reply
    HTTP_400 = "HTTP 400"  # an HTTP 400 whose JSON body says invalid_grant


@dataclass(frozen=True, kw_only=True)
class Quirks:
    """The live behaviours the simulator reproduces when asked to."""

    # The code and message an unknown or expired token gets (V1 token and OAuth bearer).
    expired_token: tuple[str, str] = ("E00003", "er_token_login_invalid")
    refresh_refusal: RefreshRefusal = RefreshRefusal.INVALID_GRANT
    # Device types whose real-time data the application's plan does not cover (E900).
    plan_excludes: frozenset[int] = frozenset()
    # (device type, point id) -> the value sent instead of the household's (None: null).
    point_values: dict[tuple[int, int], float | None] = field(default_factory=dict)
    # The application may read but not control (E900 on the parameter-setting endpoints).
    control_denied: bool = False
    # Minute history of the current day (the portal says there is none; INKY back-filled it).
    minute_data_today: bool = False

    def token_refused(self) -> SimError:
        """Return the answer to a call with an unknown or expired token."""
        code, message = self.expired_token
        return SimError(code, message)


AUSTRALIAN_EXPIRY = ("E900", "Unauthorized access")  # steven-g-w/HA-Sungrow 8d6fe51
EUROPEAN_EXPIRY = ("010", "er_token_login_invalid")  # Galaga-Agency README
