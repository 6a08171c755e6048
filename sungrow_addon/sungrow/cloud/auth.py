"""The two ways to be let in: an iSolarCloud account (V1 login) or an OAuth2 authorization."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from sungrow.cloud.errors import NOT_IN_PLAN_CODE, is_transient
from sungrow.exceptions import (
    GrantRejectedError,
    ISolarCloudAuthenticationError,
    ISolarCloudRateLimitError,
    ISolarCloudResponseError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from sungrow.cloud.regions import Server
    from sungrow.cloud.transport import Gateway

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
# Refresh an OAuth2 access token this long before it expires.
REFRESH_MARGIN = 600.0
_UNKNOWN_LIFETIME = 3600.0


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    """The paths of one flavour of the Open API, and its paging parameter."""

    plants: str
    devices: str
    device_realtime: str
    plant_realtime: str | None
    page_key: str
    # Parameter setting: check a device, set or read back parameters, follow the task.
    param_check: str
    param_setting: str
    param_task: str
    minute_data: str  # a device's (or the plant's own ps_key's) points, 5-minute frames


V1_ENDPOINTS = Endpoints(
    plants="/openapi/getPowerStationList",
    devices="/openapi/getDeviceList",
    device_realtime="/openapi/getDeviceRealTimeData",
    plant_realtime=None,
    page_key="curPage",
    param_check="/openapi/paramSettingCheck",
    param_setting="/openapi/paramSetting",
    param_task="/openapi/getParamSettingTask",
    minute_data="/openapi/getDevicePointMinuteDataList",
)
OAUTH_ENDPOINTS = Endpoints(
    plants="/openapi/platform/queryPowerStationList",
    devices="/openapi/platform/getDeviceListByPsId",
    device_realtime="/openapi/platform/getDeviceRealTimeData",
    plant_realtime="/openapi/platform/getPowerStationRealTimeData",
    page_key="page",
    param_check="/openapi/platform/paramSettingCheck",
    param_setting="/openapi/platform/paramSetting",
    param_task="/openapi/platform/getParamSettingTask",
    minute_data="/openapi/platform/getDevicePointMinuteDataList",
)


@dataclass(frozen=True)
class Credentials:
    """What a call carries to be let in, the token it carries and that token's serial.

    The serial counts the tokens the authenticator obtained since the program started (0: a
    token read from the data folder), so that the client can tell a token issued during the
    current cycle from an older one.
    """

    headers: dict[str, str]
    body: dict[str, Any]
    token: str
    serial: int


@dataclass(kw_only=True)
class AccountLogin:
    """V1: appkey, secret key and an iSolarCloud account; a session token from /openapi/login."""

    endpoints: ClassVar[Endpoints] = V1_ENDPOINTS

    username: str
    password: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    on_token: Callable[[str | None], None] | None = field(default=None, repr=False)
    issued: int = field(default=0, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def credentials(self, gateway: Gateway) -> Credentials:
        """Return the token as the documented body field and as the header some clients use."""
        token = self.token or await self._login_once(gateway, stale=None)
        return Credentials(
            {"sys_code": "901", "token": token}, {"token": token}, token, self.issued
        )

    async def renew(self, gateway: Gateway, *, stale: str) -> None:
        """Drop the refused token and log in again, once for all the calls that met it."""
        async with self._lock:
            if self.token == stale:
                # A refused token is never used again, even if the new login fails.
                self._set_token(None)
        await self._login_once(gateway, stale=stale)

    async def login(self, gateway: Gateway) -> None:
        """Log in with the account; raise with advice when the cloud rejects it."""
        try:
            envelope = await gateway.post(
                "/openapi/login",
                {"user_account": self.username, "user_password": self.password},
                headers={"sys_code": "901"},
            )
        except ISolarCloudResponseError as err:
            raise _login_refused(err) from None
        data = envelope.get("result_data")
        login_state = str(data.get("login_state")) if isinstance(data, dict) else None
        token = data.get("token") if isinstance(data, dict) else None
        if login_state != "1" or not isinstance(token, str) or not token:
            self._set_token(None)
            message = _LOGIN_STATES.get(
                login_state or "",
                f"iSolarCloud refused the login (login_state {login_state}): check the "
                "'username' and 'password' options",
            )
            raise ISolarCloudAuthenticationError(
                message.format(host=gateway.host), code=f"login_state {login_state}"
            )
        self._set_token(token)

    async def _login_once(self, gateway: Gateway, *, stale: str | None) -> str:
        async with self._lock:
            if self.token is None or self.token == stale:
                await self.login(gateway)
            assert self.token is not None  # noqa: S101 - login() sets it or raises
            return self.token

    def _set_token(self, token: str | None) -> None:
        if token != self.token:
            self.token = token
            if token is not None:
                self.issued += 1
            if self.on_token is not None:
                self.on_token(token)


def _login_refused(err: ISolarCloudResponseError) -> ISolarCloudResponseError:
    """Return what a login refused by an error code means: a credential verdict, mostly.

    Repeating such a login every poll could lock the account; only a failure a retry can
    cure and a quota stay what they are.
    """
    if isinstance(err, ISolarCloudAuthenticationError | ISolarCloudRateLimitError):
        return err
    if is_transient(err):
        return err
    if err.code == NOT_IN_PLAN_CODE:
        msg = (
            "iSolarCloud does not let this application log in with an account (E900): an "
            "application created with OAuth2 = Yes needs the OAuth2 options, not 'username' "
            "and 'password'"
        )
    else:
        msg = f"iSolarCloud refused the login ({err}): check the 'username' and 'password' options"
    return ISolarCloudAuthenticationError(msg, code=err.code)


@dataclass(frozen=True, kw_only=True)
class OAuthTokens:
    """An OAuth2 access token, the refresh token that renews it, and when it expires."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float


def code_digest(code: str) -> str:
    """Return a digest that recognises an authorization code without storing it."""
    return hashlib.sha256(code.strip().encode()).hexdigest()[:16]


@dataclass(kw_only=True)
class OAuth2:
    """OAuth2: a pasted authorization code, exchanged once for tokens that refresh themselves.

    `on_change` receives the client after every change of the tokens or of the used codes,
    so that the rotated refresh token is stored each time.
    """

    endpoints: ClassVar[Endpoints] = OAUTH_ENDPOINTS

    server: Server
    authorization_code: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None
    application_id: str | None = None
    tokens: OAuthTokens | None = field(default=None, repr=False)
    used_codes: set[str] = field(default_factory=set, repr=False)
    on_change: Callable[[OAuth2], None] | None = field(default=None, repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    issued: int = field(default=0, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def credentials(self, gateway: Gateway) -> Credentials:
        """Return the bearer header, exchanging the code or refreshing the token first."""
        async with self._lock:
            if self.tokens is None:
                await self._exchange(gateway)
            elif self.tokens.expires_at - REFRESH_MARGIN <= self.clock():
                await self._refresh(gateway)
            assert self.tokens is not None  # noqa: S101 - both set it or raise
            access = self.tokens.access_token
        return Credentials({"Authorization": f"Bearer {access}"}, {}, access, self.issued)

    async def renew(self, gateway: Gateway, *, stale: str) -> None:
        """Refresh the access token the cloud rejected, once for all calls that met it."""
        async with self._lock:
            if self.tokens is None:
                await self._exchange(gateway)
            elif self.tokens.access_token == stale:
                # A refused access token is never used again, even if the refresh fails.
                self.tokens = replace(self.tokens, expires_at=0.0)
                self._changed()
                await self._refresh(gateway)

    def how_to_authorize(self) -> str:
        """Return where the user gets a new authorization code and where to paste it."""
        if self.application_id and self.redirect_uri:
            page = "open " + self.server.authorize_url(
                application_id=self.application_id, redirect_uri=self.redirect_uri
            )
        else:
            page = (
                "open your application's authorization page (set 'application_id' and "
                "'redirect_uri' and the add-on writes its address here)"
            )
        return (
            f"{page}, log in as the plant owner and approve the application; the browser then "
            "goes to your redirect URL ending in ?code=...: paste that code into the "
            "'authorization_code' option and restart the add-on within a few minutes (a code "
            "works once, and not for long)"
        )

    async def _exchange(self, gateway: Gateway) -> None:
        code = (self.authorization_code or "").strip()
        if not code:
            msg = f"iSolarCloud needs your OAuth2 authorization: {self.how_to_authorize()}"
            raise ISolarCloudAuthenticationError(msg, code="oauth")
        digest = code_digest(code)
        if digest in self.used_codes:
            msg = (
                "The code in 'authorization_code' was used already and the authorization it "
                f"gave has ended; authorize the add-on again: {self.how_to_authorize()}"
            )
            raise ISolarCloudAuthenticationError(msg, code="oauth")
        if not self.redirect_uri:
            msg = (
                "Option 'redirect_uri' is missing: set it to the Redirect URL of your "
                "application in the developer portal (the code is exchanged with it)"
            )
            raise ISolarCloudAuthenticationError(msg, code="oauth")
        try:
            envelope = await gateway.post(
                "/openapi/apiManage/token",
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                },
            )
            tokens = _tokens(envelope, now=self.clock(), previous=None)
        except ISolarCloudResponseError as err:
            if not _grant_refused(err):
                raise
            self.used_codes.add(digest)
            self._changed()
            msg = (
                f"iSolarCloud refused the code in 'authorization_code' ({_detail(err)}); a code "
                f"works once and only for minutes: {self.how_to_authorize()}"
            )
            raise ISolarCloudAuthenticationError(msg, code=err.code) from None
        self.used_codes.add(digest)
        self._set_tokens(tokens)

    async def _refresh(self, gateway: Gateway) -> None:
        assert self.tokens is not None  # noqa: S101 - callers check
        try:
            envelope = await gateway.post(
                "/openapi/apiManage/refreshToken", {"refresh_token": self.tokens.refresh_token}
            )
            tokens = _tokens(envelope, now=self.clock(), previous=self.tokens)
        except ISolarCloudResponseError as err:
            if not _grant_refused(err):
                raise
            # The refresh token is dead: forget it, so that it is never sent again.
            self.tokens = None
            self._changed()
            msg = (
                f"The iSolarCloud authorization has ended (the refresh token was refused: "
                f"{_detail(err)}); authorize the add-on again: {self.how_to_authorize()}"
            )
            raise ISolarCloudAuthenticationError(msg, code=err.code) from None
        self._set_tokens(tokens)

    def _set_tokens(self, tokens: OAuthTokens) -> None:
        self.tokens = tokens
        self.issued += 1
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)


# The portal's refresh reply carries `code` in result_data: "1" done, "-2" expired, "5" invalid.
_GRANT_CODES = {"-2": "expired", "5": "invalid"}


def _tokens(envelope: dict[str, Any], *, now: float, previous: OAuthTokens | None) -> OAuthTokens:
    """Read a token reply: the fields sit at the top level, inside result_data, or both."""
    inner = envelope.get("result_data")
    fields = {**(inner if isinstance(inner, dict) else {}), **envelope}
    grant_code = str(inner.get("code", "1")) if isinstance(inner, dict) else "1"
    if grant_code != "1":
        state = _GRANT_CODES.get(grant_code, "refused")
        raise GrantRejectedError(f"{state}, code {grant_code}", code=grant_code)
    access, refresh = fields.get("access_token"), fields.get("refresh_token")
    if not isinstance(access, str) or not access:
        raise GrantRejectedError("the reply holds no access token", code=None)
    if not isinstance(refresh, str) or not refresh:
        # Some refresh replies carry no new refresh token; the old one then stays valid.
        if previous is None:
            raise GrantRejectedError("the reply holds no refresh token", code=None)
        refresh = previous.refresh_token
    try:
        lifetime = float(fields.get("expires_in", 0))
    except (TypeError, ValueError):
        lifetime = 0.0
    # expires_in has been seen negative or tiny right after a login; do not trust it then.
    if not lifetime > REFRESH_MARGIN:
        lifetime = _UNKNOWN_LIFETIME + REFRESH_MARGIN
    return OAuthTokens(access_token=access, refresh_token=refresh, expires_at=now + lifetime)


def _grant_refused(err: ISolarCloudResponseError) -> bool:
    """Return True when the token endpoint's answer means the code or refresh token is dead.

    Every recorded shape counts: `error: invalid_grant`, a `result_code` other than "1", a
    `result_data.code` of -2 or 5, a reply without an access token, an HTTP 4xx with a JSON
    body. Only what a retry can cure, a quota, and a refusal of the application itself
    (appkey, secret key, encryption: authorizing again would not help) do not count.
    """
    if isinstance(err, GrantRejectedError):
        return True
    if isinstance(err, ISolarCloudAuthenticationError | ISolarCloudRateLimitError):
        return False
    return not is_transient(err)


def _detail(err: ISolarCloudResponseError) -> str:
    return err.detail if isinstance(err, GrantRejectedError) else str(err)
