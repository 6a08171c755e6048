"""One call to an iSolarCloud gateway: the envelope, the error codes, timeouts, encryption."""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientResponse, ClientSession

from sungrow.cloud.errors import CLOCK_SKEW_CODE, SUCCESS, error_for, is_transient
from sungrow.exceptions import (
    GrantRejectedError,
    ISolarCloudConnectionError,
    ISolarCloudError,
    ISolarCloudResponseError,
    ISolarCloudTimeoutError,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

# No Open API answer comes near this; a larger body is a wrong server or an attack.
MAX_REPLY_BYTES = 4 * 1024 * 1024
# "//user:password@" in a URL that an aiohttp error message repeats.
_USER_INFO = re.compile(r"//[^/@\s]*@")


# The community's figure for the free plan; Sungrow documents none.
HOURLY_CALL_BUDGET = 2000


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
        """Return the gateway's host name and port, for messages (never the URL's user info)."""
        return urlsplit(self.url).netloc.rpartition("@")[2]

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
                if not is_transient(err):
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
            # The encryption library is loaded only by applications that need it (7 MiB).
            from sungrow.cloud import crypto  # noqa: PLC0415

            sealed = crypto.encrypt_request(self.public_key, payload, timestamp_ms=self._now_ms())
            headers["x-random-secret-key"] = sealed.secret_key_header
            data, aes_key = sealed.body, sealed.aes_key
        status, text = await self._send("POST", path, data=data, headers=headers)
        if status != 200:  # noqa: PLR2004
            raise _http_error(path, status, text)
        if aes_key is not None:
            try:
                text = crypto.decrypt_reply(text, aes_key)
            except crypto.UndecryptableReplyError as err:
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
                    method, self.url + path, data=data, headers=headers, allow_redirects=False
                )
                try:
                    _refuse_redirect(path, response.status)
                    return response.status, await _read_body(path, response)
                finally:
                    response.release()
        except TimeoutError as err:
            msg = f"iSolarCloud did not answer {path} within {self.request_timeout:.0f} s"
            raise ISolarCloudTimeoutError(msg) from err
        except (ClientError, socket.gaierror) as err:
            detail = _USER_INFO.sub("//", str(err)) or type(err).__name__
            msg = f"Cannot reach iSolarCloud at {self.host} ({detail})"
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


def _refuse_redirect(path: str, status: int) -> None:
    """Raise for a 3xx: following it would send the keys and the token to another server."""
    if 300 <= status < 400:  # noqa: PLR2004
        msg = (
            f"iSolarCloud answered {path} with a redirect (HTTP {status}), which the add-on "
            "does not follow: check the 'server_url' option, or 'server' if it is empty"
        )
        raise ISolarCloudResponseError(msg, code=f"HTTP {status}")


async def _read_body(path: str, response: ClientResponse) -> str:
    """Return the body as UTF-8 text, reading no more than one byte past MAX_REPLY_BYTES."""
    body = bytearray()
    while chunk := await response.content.read(MAX_REPLY_BYTES + 1 - len(body)):
        body += chunk
    if len(body) > MAX_REPLY_BYTES:
        msg = f"iSolarCloud answered {path} with more than {MAX_REPLY_BYTES >> 20} MiB"
        raise ISolarCloudResponseError(msg)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_json(path) from None


def _not_json(path: str) -> ISolarCloudResponseError:
    return ISolarCloudResponseError(f"iSolarCloud answered {path} with something that is not JSON")


def _json(text: str) -> Any:
    """Parse JSON; a body nested too deep for the parser is as unusable as one that is not JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        msg = "JSON nested too deeply"
        raise ValueError(msg) from None


def _envelope(path: str, text: str) -> dict[str, Any]:
    try:
        envelope = _json(text)
    except ValueError:
        raise _not_json(path) from None
    if not isinstance(envelope, dict):
        msg = f"iSolarCloud answered {path} with JSON that is not an envelope"
        raise ISolarCloudResponseError(msg)
    return envelope


def _timestamp_ms(text: str) -> int | None:
    """Read the gateway's time from /timestamp (format undocumented: a number or an envelope)."""
    try:
        value: Any = _json(text)
    except ValueError:
        return None
    if isinstance(value, dict):
        value = value.get("result_data")
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _error(path: str, code: str, envelope: dict[str, Any]) -> ISolarCloudError:
    if envelope.get("error") == "invalid_grant":
        detail = envelope.get("error_description") or envelope.get("result_msg")
        return GrantRejectedError(str(detail or "invalid_grant"), code=code)
    return error_for(path, code, str(envelope.get("result_msg") or ""))


def _http_error(path: str, status: int, text: str) -> ISolarCloudError:
    """Return the error of a non-200 answer, with what a JSON body says (OAuth's `error`)."""
    code = f"HTTP {status}"
    try:
        body = _json(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return error_for(path, code)
    if body.get("error") == "invalid_grant":
        detail = body.get("error_description") or body.get("result_msg") or "invalid_grant"
        return GrantRejectedError(f"{code}: {detail}", code=code)
    if body.get("result_code") not in (None, SUCCESS):
        return _error(path, str(body["result_code"]), body)
    detail = body.get("error_description") or body.get("error") or body.get("message") or ""
    return error_for(path, code, str(detail))
