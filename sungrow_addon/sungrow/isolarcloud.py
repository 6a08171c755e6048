"""Asynchronous client for the Sungrow iSolarCloud Open API (account flavour, `/openapi/*`)."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientSession

from .exceptions import (
    ISolarCloudAuthenticationError,
    ISolarCloudConnectionError,
    ISolarCloudError,
    ISolarCloudRateLimitError,
    ISolarCloudResponseError,
    ISolarCloudTimeoutError,
)
from .models import Plant, Reading

if TYPE_CHECKING:
    from collections.abc import Callable

SUCCESS = "1"
TOKEN_INVALID_CODE = "E00003"  # noqa: S105 - an error code, not a secret
TOKEN_INVALID_MESSAGE = "er_token_login_invalid"  # noqa: S105 - idem
MAX_POINTS_PER_CALL = 100
PAGE_SIZE = 100
MAX_PAGES = 50

# The cloud answers a rejected login with result_code "1"; the verdict is in login_state.
_LOGIN_STATES = {
    "0": "iSolarCloud rejected the password (login_state 0): check the 'password' option; "
    "the add-on will not try again soon, so that the account does not get locked",
    "-1": "iSolarCloud has no such account on {host} (login_state -1): check the 'username' "
    "option and the 'server' region (an account exists on one regional server only)",
    "2": "The iSolarCloud account is locked after too many wrong passwords (login_state 2): "
    "wait until it unlocks or reset the password in the iSolarCloud app, then restart the add-on",
    "5": "The iSolarCloud account is locked by its administrator (login_state 5): ask your "
    "installer or Sungrow to unlock it, then restart the add-on",
}

_CREDENTIAL_ERRORS = {
    "E00000": "iSolarCloud rejected the appkey (E00000 er_invalid_appkey): check the 'appkey' "
    "option against the AppKey of your application in the developer portal, and that the "
    "application is approved",
    "E00001": "The Open API service of this application has expired (E00001): renew it in the "
    "iSolarCloud developer portal",
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

_RATE_LIMITS = {
    "E999": "the hourly call quota of the application is used up (E999)",
    "E998": "the monthly call quota of the application is used up (E998)",
    "E901": "calls are too frequent (E901)",
    "E916": "logins are too frequent (E916)",
    "E903": "the IP address changes too often (E903)",
}


class _TokenRejectedError(ISolarCloudAuthenticationError):
    """The session token is invalid or expired."""


@dataclass(kw_only=True)
class ISolarCloud:
    """Client of the Open API with an appkey, a secret key and an iSolarCloud account.

    The session token is kept between calls (and handed to `on_token` to be stored); when a
    call is answered "token invalid", the client logs in once and repeats that call once.
    """

    session: ClientSession
    gateway: str
    appkey: str
    secret_key: str = field(repr=False)
    username: str
    password: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    on_token: Callable[[str | None], None] | None = field(default=None, repr=False)
    request_timeout: float = 20.0
    lang: str = "_en_US"

    _login_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    calls: int = field(default=0, init=False)

    async def __aenter__(self) -> Self:
        """Use the client as an async context manager."""
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        """Nothing to close: the session belongs to the caller."""

    async def login(self) -> None:
        """Log in with the account and keep the token; raise when the cloud rejects it."""
        data = await self._post(
            "/openapi/login",
            {"user_account": self.username, "user_password": self.password},
            token=None,
        )
        login_state = str(data.get("login_state")) if isinstance(data, dict) else None
        token = data.get("token") if isinstance(data, dict) else None
        if login_state != "1" or not isinstance(token, str) or not token:
            self._set_token(None)
            host = urlsplit(self.gateway).netloc
            message = _LOGIN_STATES.get(
                login_state or "",
                f"iSolarCloud refused the login (login_state {login_state}): check the "
                "'username' and 'password' options",
            )
            raise ISolarCloudAuthenticationError(
                message.format(host=host), code=f"login_state {login_state}"
            )
        self._set_token(token)

    async def plants(self) -> list[Plant]:
        """Return every plant of the account (all pages of getPowerStationList)."""
        items = await self._pages("/openapi/getPowerStationList", {})
        return [Plant.from_wire(item) for item in items]

    async def realtime(
        self, *, device_type: int, ps_keys: list[str], point_ids: list[str]
    ) -> dict[str, Reading]:
        """Return the latest values of devices of one type, keyed by ps_key.

        One call for all the devices, split only when more than 100 point ids are asked for.
        Devices the cloud could not answer for are absent from the result.
        """
        readings: dict[str, Reading] = {}
        for start in range(0, len(point_ids), MAX_POINTS_PER_CALL):
            chunk = point_ids[start : start + MAX_POINTS_PER_CALL]
            data = await self._call(
                "/openapi/getDeviceRealTimeData",
                {"device_type": device_type, "ps_key_list": ps_keys, "point_id_list": chunk},
            )
            for entry in _list(data, "device_point_list"):
                point = entry.get("device_point") if isinstance(entry, dict) else None
                if not isinstance(point, dict) or "ps_key" not in point:
                    continue
                # The list is sorted by ps_key, not in request order: match by ps_key.
                reading = Reading.from_wire(point, chunk)
                known = readings.get(reading.ps_key)
                if known is not None:
                    reading = Reading(
                        ps_key=reading.ps_key,
                        device_time=reading.device_time or known.device_time,
                        values={**known.values, **reading.values},
                    )
                readings[reading.ps_key] = reading
        return readings

    async def _pages(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            data = await self._call(path, {**body, "curPage": page, "size": PAGE_SIZE})
            page_items = [item for item in _list(data, "pageList") if isinstance(item, dict)]
            items.extend(page_items)
            row_count = data.get("rowCount") if isinstance(data, dict) else None
            if not page_items or not isinstance(row_count, int) or len(items) >= row_count:
                break
        return items

    async def _call(self, path: str, body: dict[str, Any]) -> Any:
        """POST an authenticated call; on "token invalid" log in once and repeat it once."""
        token = self.token
        if token is None:
            token = await self._fresh_token(stale=None)
        try:
            return await self._post(path, body, token=token)
        except _TokenRejectedError:
            token = await self._fresh_token(stale=token)
        try:
            return await self._post(path, body, token=token)
        except _TokenRejectedError as err:
            msg = (
                "iSolarCloud rejected a token it had just issued (E00003): check that the "
                "'server' region matches the account"
            )
            raise ISolarCloudAuthenticationError(msg, code=TOKEN_INVALID_CODE) from err

    async def _fresh_token(self, *, stale: str | None) -> str:
        """Log in unless a concurrent call already replaced the stale token."""
        async with self._login_lock:
            if self.token is None or self.token == stale:
                await self.login()
            assert self.token is not None  # noqa: S101 - login() sets it or raises
            return self.token

    def _set_token(self, token: str | None) -> None:
        if token != self.token:
            self.token = token
            if self.on_token is not None:
                self.on_token(token)

    async def _post(self, path: str, body: dict[str, Any], *, token: str | None) -> Any:
        """Send one call and return `result_data` of a successful envelope."""
        headers = {
            "Content-Type": "application/json;charset=UTF-8",
            "x-access-key": self.secret_key,
            "sys_code": "901",
        }
        payload = {"appkey": self.appkey, "lang": self.lang, **body}
        if token is not None:
            # The documentation asks for a body field; several working clients send only the
            # header. Sending both satisfies either reading.
            headers["token"] = token
            payload["token"] = token
        self.calls += 1
        try:
            async with asyncio.timeout(self.request_timeout):
                response = await self.session.post(
                    self.gateway + path, data=json.dumps(payload), headers=headers
                )
                text = await response.text()
        except TimeoutError as err:
            msg = f"iSolarCloud did not answer {path} within {self.request_timeout:.0f} s"
            raise ISolarCloudTimeoutError(msg) from err
        except (ClientError, socket.gaierror, UnicodeDecodeError) as err:
            msg = f"Cannot reach iSolarCloud at {urlsplit(self.gateway).netloc} ({_reason(err)})"
            raise ISolarCloudConnectionError(msg) from err
        if response.status != 200:  # noqa: PLR2004
            msg = f"iSolarCloud answered {path} with HTTP {response.status}"
            raise ISolarCloudResponseError(msg, code=f"HTTP {response.status}")
        return _result_data(path, text)


def _result_data(path: str, text: str) -> Any:
    try:
        envelope = json.loads(text)
    except ValueError:
        msg = f"iSolarCloud answered {path} with something that is not JSON"
        raise ISolarCloudResponseError(msg) from None
    if not isinstance(envelope, dict):
        msg = f"iSolarCloud answered {path} with JSON that is not an envelope"
        raise ISolarCloudResponseError(msg)
    code = str(envelope.get("result_code"))
    if code == SUCCESS:
        return envelope.get("result_data")
    raise _error(path, code, str(envelope.get("result_msg") or ""))


def _error(path: str, code: str, message: str) -> ISolarCloudError:
    if code == TOKEN_INVALID_CODE or message == TOKEN_INVALID_MESSAGE:
        return _TokenRejectedError("iSolarCloud rejected the session token", code=code)
    if code in _CREDENTIAL_ERRORS:
        return ISolarCloudAuthenticationError(_CREDENTIAL_ERRORS[code], code=code)
    if code in _RATE_LIMITS:
        return ISolarCloudRateLimitError(f"iSolarCloud: {_RATE_LIMITS[code]}", code=code)
    detail = f" {message}" if message else ""
    return ISolarCloudResponseError(f"iSolarCloud answered {path} with {code}{detail}", code=code)


def _list(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


def _reason(err: BaseException) -> str:
    return str(err) or type(err).__name__
