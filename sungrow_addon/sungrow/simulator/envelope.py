"""The gateway's reply envelope and its documented error codes (Appendix 2)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Appendix 2: error code -> result_msg as the gateway sends it.
MESSAGES = {
    "-1": "error",
    "001": "er_missing_parameter:appkey",
    "002": "er_missing_parameter:token",
    "003": "er_missing_parameter:sys_code",
    "009": "er_missing_parameter",
    "010": "er_parameter_value_invalid",
    "E00000": "er_invalid_appkey",
    "E00003": "er_token_login_invalid",
    "E900": "Unauthorized access",
    "E901": "Call too frequently",
    "E902": "Request is not encrypted",
    "E904": "Missing parameter in request header: x-random-secret-key",
    "E905": "AES decryption exception",
    "E906": "RSA decryption exception",
    "E907": "AES random secret key length must be 16",
    "E908": "Missing key parameter: api_key_param",
    "E909": "Invalid parameter format: nonce [32-bit string of numbers and letters]",
    "E910": "Repeated request",
    "E911": "Missing parameter in request header: x-access-key",
    "E912": "Illegal x-access-key",
    "E913": "Expired request",
    "E914": "Mismatched appkey and x-access-key",
    "E916": "Login too frequently",
    "E996": "api not found",
    "E998": "er_month_call_api_times_upper_limit",
    "E999": "er_hour_call_api_times_upper_limit",
}


class SimError(Exception):
    """An error answer, with any extra top-level fields (OAuth's `error`) and its HTTP status."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        http_status: int = 200,
    ) -> None:
        """Use the gateway's own message for the code unless a specific one is given."""
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES.get(code, "error")
        self.extra = extra or {}
        self.http_status = http_status


@dataclass(frozen=True)
class Answer:
    """A success answer whose fields go partly beside `result_data` (the OAuth token reply)."""

    data: Any
    extra: dict[str, Any] = field(default_factory=dict)


def envelope(
    code: str, message: str, data: Any, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the reply: serial number, code, message, data and any extra top-level fields."""
    serial = datetime.now(UTC).strftime("%Y%m%d") + secrets.token_hex(12)
    return {
        "req_serial_num": serial,
        "result_code": code,
        "result_msg": message,
        **(extra or {}),
        "result_data": data,
    }
