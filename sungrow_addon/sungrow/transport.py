"""One call to an iSolarCloud gateway: the envelope, the error codes, timeouts, encryption."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientSession

from .crypto import UndecryptableReplyError, decrypt_reply, encrypt_request
from .exceptions import (
    ISolarCloudAuthenticationError,
    ISolarCloudConnectionError,
    ISolarCloudError,
    ISolarCloudRateLimitError,
    ISolarCloudResponseError,
    ISolarCloudTimeoutError,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

SUCCESS = "1"
TOKEN_INVALID_CODE = "E00003"  # noqa: S105 - an error code, not a secret
TOKEN_INVALID_MESSAGE = "er_token_login_invalid"  # noqa: S105 - idem
CLOCK_SKEW_CODE = "E913"

_CREDENTIAL_ERRORS = {
    "E00000": "iSolarCloud rejected the appkey (E00000 er_invalid_appkey): check the 'appkey' "
    "option against the AppKey of your application in the developer portal, and that the "
    "application is approved",
    "E00001": "The Open API service of this application has expired (E00001): renew it in the "
    "iSolarCloud developer portal",
    "E900": "iSolarCloud does not allow this application to call {path} (E900 Unauthorized "
    "access): check the application's API permissions in the developer portal",
    "E902": "This application accepts encrypted calls only (E902 Request is not encrypted): copy "
    "the RSA public key from the application's page in the developer portal into the "
    "'rsa_public_key' option",
    "E906": "iSolarCloud could not decrypt the call's key (E906): check the 'rsa_public_key' "
    "option against the RSA public key of your application",
    "E911": "The secret key was not sent (E911): set the 'secret_key' option",
    "E912": "iSolarCloud rejected the secret key (E912 Illegal x-access-key): check the "
    "'secret_key' option against the Secret Key of your application in the developer portal",
    "E914": "The appkey and the secret key belong to different applications (E914): copy both "
    "from the same application in the developer portal",
    "E918": "iSolarCloud refused this IP address (E918, IP whitelist): allow it in the "
    "application's settings in the developer portal",
    "E919": "iSolarCloud refused this account (E919, user whitelist): add the account to the "
    "application's user whitelist in the developer portal",
}

# Internal gateway errors, a reused nonce (a new call has a new one) and HTTP 429.
_TRANSIENT_CODES = frozenset({"-1", "000", "E910", "HTTP 429"})

_RATE_LIMITS = {
    "E999": "the hourly call quota of the application is used up (E999)",
    "E998": "the monthly call quota of the application is used up (E998)",
    "E901": "calls are too frequent (E901)",
    "E916": "logins are too frequent (E916)",
    "E903": "the IP address changes too often (E903)",
}


class TokenRejectedError(ISolarCloudAuthenticationError):
    """The session or access token is invalid or expired."""


class GrantRejectedError(ISolarCloudAuthenticationError):
    """The OAuth2 token endpoint refused a code or a refresh token (invalid_grant)."""

    def __init__(self, detail: str, *, code: str) -> None:
        """Keep the cloud's own explanation apart for messages."""
        super().__init__(f"iSolarCloud refused the grant ({detail})", code=code)
        self.detail = detail


@dataclass
class CallLog:
    """When the recent calls were made: the source of the calls-per-hour figure."""

    times: deque[float] = field(default_factory=deque)

    def add(self, now: float) -> None:
        """Record a call made at `now` (epoch seconds)."""
        self.times.append(now)
        self.prune(now)

    def last_hour(self, now: float) -> int:
        """Return how many calls were made during the hour before `now`."""
        self.prune(now)
        return len(self.times)

    def prune(self, now: float) -> None:
        """Forget calls older than an hour."""
        while self.times and self.times[0] <= now - 3600:
            self.times.popleft()


@dataclass(kw_only=True)
class Gateway:
    """A regional gateway, the application's keys, and encryption when a public key is set."""

    session: ClientSession
    url: str
    appkey: str
    secret_key: str = field(repr=False)
    public_key: RSAPublicKey | None = field(default=None, repr=False)
    request_timeout: float = 20.0
    attempts: int = 3
    retry_delay: float = 2.0
    lang: str = "_en_US"
    calls: CallLog = field(default_factory=CallLog, repr=False)
    _clock_offset_ms: int = field(default=0, init=False, repr=False)

    @property
    def host(self) -> str:
        """Return the gateway's host name, for messages."""
        return urlsplit(self.url).netloc

    async def post(
        self, path: str, body: dict[str, Any], *, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Send one call; return the successful envelope or raise the error it carries."""
        try:
            return await self._post_retrying(path, body, headers or {})
        except ISolarCloudResponseError as err:
            if err.code != CLOCK_SKEW_CODE or self.public_key is None:
                raise
        # E913: the call's timestamp is too far from the gateway's clock. The documented
        # remedy is to read the gateway's time once and call again.
        await self._sync_clock()
        return await self._post_retrying(path, body, headers or {})

    async def _post_retrying(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        """Try a call up to `attempts` times while it fails in a way a retry can cure."""
        for attempt in range(1, self.attempts):
            try:
                return await self._post_once(path, body, headers)
            except ISolarCloudError as err:
                if not _transient(err):
                    raise
            # Exponential backoff with jitter, so that many clients do not retry in step.
            jitter = random.uniform(0.5, 1.5)  # noqa: S311 - timing, not security
            await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1) * jitter)
        return await self._post_once(path, body, headers)

    async def _post_once(
        self, path: str, body: dict[str, Any], extra_headers: dict[str, str]
    ) -> dict[str, Any]:
        headers = {
            "Content-Type": "application/json;charset=UTF-8",
            "x-access-key": self.secret_key,
            **extra_headers,
        }
        payload = {"appkey": self.appkey, "lang": self.lang, **body}
        aes_key = None
        if self.public_key is None:
            data = json.dumps(payload)
        else:
            sealed = encrypt_request(self.public_key, payload, timestamp_ms=self._now_ms())
            headers["x-random-secret-key"] = sealed.secret_key_header
            data, aes_key = sealed.body, sealed.aes_key
        status, text = await self._send("POST", path, data=data, headers=headers)
        if status != 200:  # noqa: PLR2004
            msg = f"iSolarCloud answered {path} with HTTP {status}"
            raise ISolarCloudResponseError(msg, code=f"HTTP {status}")
        if aes_key is not None:
            try:
                text = decrypt_reply(text, aes_key)
            except UndecryptableReplyError as err:
                msg = f"iSolarCloud answered {path} with {err}"
                raise ISolarCloudResponseError(msg) from None
        envelope = _envelope(path, text)
        code = str(envelope.get("result_code"))
        if code != SUCCESS:
            raise _error(path, code, envelope)
        return envelope

    async def _send(
        self, method: str, path: str, *, data: str | None = None, headers: dict[str, str]
    ) -> tuple[int, str]:
        self.calls.add(time.time())
        try:
            async with asyncio.timeout(self.request_timeout):
                response = await self.session.request(
                    method, self.url + path, data=data, headers=headers
                )
                return response.status, await response.text()
        except TimeoutError as err:
            msg = f"iSolarCloud did not answer {path} within {self.request_timeout:.0f} s"
            raise ISolarCloudTimeoutError(msg) from err
        except (ClientError, socket.gaierror, UnicodeDecodeError) as err:
            msg = f"Cannot reach iSolarCloud at {self.host} ({str(err) or type(err).__name__})"
            raise ISolarCloudConnectionError(msg) from err

    async def _sync_clock(self) -> None:
        status, text = await self._send("GET", "/timestamp", headers={})
        server_ms = _timestamp_ms(text) if status == 200 else None  # noqa: PLR2004
        if server_ms is None:
            msg = (
                "iSolarCloud refused the call's time (E913) and its /timestamp could not be "
                "read: check the system clock of the Home Assistant host"
            )
            raise ISolarCloudResponseError(msg, code=CLOCK_SKEW_CODE)
        self._clock_offset_ms = server_ms - int(time.time() * 1000)

    def _now_ms(self) -> int:
        return int(time.time() * 1000) + self._clock_offset_ms


def _transient(err: ISolarCloudError) -> bool:
    """Return True for failures a retry can cure: network, 5xx, garbled or internal errors."""
    if isinstance(err, ISolarCloudConnectionError):
        return True
    if isinstance(err, ISolarCloudAuthenticationError | ISolarCloudRateLimitError):
        return False
    code = getattr(err, "code", None)
    return code is None or code in _TRANSIENT_CODES or code.startswith("HTTP 5")


def _envelope(path: str, text: str) -> dict[str, Any]:
    try:
        envelope = json.loads(text)
    except ValueError:
        msg = f"iSolarCloud answered {path} with something that is not JSON"
        raise ISolarCloudResponseError(msg) from None
    if not isinstance(envelope, dict):
        msg = f"iSolarCloud answered {path} with JSON that is not an envelope"
        raise ISolarCloudResponseError(msg)
    return envelope


def _timestamp_ms(text: str) -> int | None:
    """Read the gateway's time from /timestamp (format undocumented: a number or an envelope)."""
    try:
        value: Any = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict):
        value = value.get("result_data")
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _error(path: str, code: str, envelope: dict[str, Any]) -> ISolarCloudError:
    message = str(envelope.get("result_msg") or "")
    if code == TOKEN_INVALID_CODE or message == TOKEN_INVALID_MESSAGE:
        return TokenRejectedError("iSolarCloud rejected the token", code=code)
    if envelope.get("error") == "invalid_grant":
        detail = envelope.get("error_description") or message or "invalid_grant"
        return GrantRejectedError(str(detail), code=code)
    if code in _CREDENTIAL_ERRORS:
        return ISolarCloudAuthenticationError(_CREDENTIAL_ERRORS[code].format(path=path), code=code)
    if code in _RATE_LIMITS:
        return ISolarCloudRateLimitError(f"iSolarCloud: {_RATE_LIMITS[code]}", code=code)
    detail = f" {message}" if message else ""
    return ISolarCloudResponseError(f"iSolarCloud answered {path} with {code}{detail}", code=code)
