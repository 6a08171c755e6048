"""An iSolarCloud Open API gateway on loopback, answering as Sungrow documents it.

It checks what a client sends in the order the gateway does (access key, encryption, appkey,
sys_code, lang, quota, token, then the endpoint's own parameters) and answers with the
documented envelope and error codes, so that a client mistake shows up as the cloud's own
error. Both flavours are served, plaintext or encrypted: V1 (`/openapi/login` and a token)
and OAuth2 (`/openapi/apiManage/*` and a bearer token for `/openapi/platform/*`).
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import history, monitoring
from .control import ControlDesk
from .crypto import GatewayKey, ReplayGuard, aes_decrypt, aes_encrypt
from .envelope import MESSAGES, Answer, SimError, envelope
from .monitoring import OAUTH_PAGING, View
from .oauth import Grant, Lifetimes, OAuthServer
from .quirks import Quirks, RefreshRefusal
from .v1 import V1Sessions

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

    from .plants import SimPlant
    from .v1 import SimAccount

    Handler = Callable[["SimApp", dict[str, str], dict[str, Any]], Any]
    DataCall = Callable[[View, dict[str, Any]], Any]

LANGUAGES = frozenset(
    {
        "_zh_CN",
        "_en_US",
        "_ja_JP",
        "_es_ES",
        "_de_DE",
        "_pt_BR",
        "_fr_FR",
        "_it_IT",
        "_ko_KR",
        "_nl_NL",
        "_pl_PL",
        "_vi_VN",
        "_zh_TW",
    }
)
OAUTH_PREFIXES = ("/openapi/apiManage/", "/openapi/platform/")
LOGIN_PATH = "/openapi/login"
CODE_GRANT_PATH = "/openapi/apiManage/token"
REFRESH_PATH = "/openapi/apiManage/refreshToken"
TIMESTAMP_PATH = "/timestamp"
TOKEN_INVALID = "E00003"  # noqa: S105 - an error code
CONTROL_PATHS = ("paramSettingCheck", "paramSetting", "getParamSettingTask")
V1_DATA: dict[str, DataCall] = {
    "/openapi/getPowerStationList": monitoring.plant_list,
    "/openapi/getDeviceList": monitoring.device_list,
    "/openapi/getDeviceRealTimeData": monitoring.device_realtime,
    "/openapi/getDevicePointMinuteDataList": history.device_minutes,
    "/openapi/getDevicePointsDayMonthYearDataList": history.device_days,
}
PLATFORM_DATA: dict[str, DataCall] = {
    "/openapi/platform/queryPowerStationList": partial(monitoring.plant_list, paging=OAUTH_PAGING),
    "/openapi/platform/getDeviceListByPsId": partial(monitoring.device_list, paging=OAUTH_PAGING),
    "/openapi/platform/getDeviceRealTimeData": partial(
        monitoring.device_realtime, failed="illegal_ps_key_list"
    ),
    "/openapi/platform/getPowerStationRealTimeData": monitoring.plant_realtime,
    "/openapi/platform/getDevicePointMinuteDataList": history.device_minutes,
    "/openapi/platform/getPowerStationPointMinuteDataList": history.plant_minutes,
    "/openapi/platform/getPowerStationPointDayMonthYearDataList": history.plant_days,
}


@dataclass(frozen=True, kw_only=True)
class SimApp:
    """A developer-portal application: its appkey, its Secret Key (`x-access-key`), settings.

    An `oauth` application uses the OAuth2 paths and needs the `redirect_uri` registered in
    the portal; one with `require_encryption` gets E902 for every plaintext call.
    """

    appkey: str
    access_key: str
    require_encryption: bool = False
    oauth: bool = False
    redirect_uri: str | None = None

    def __post_init__(self) -> None:
        """Refuse an OAuth application without a redirect URL, as the portal does."""
        if self.oauth and not self.redirect_uri:
            raise ValueError("an OAuth application needs its redirect_uri")


@dataclass(frozen=True)
class Call:
    """One request as the gateway received it (decrypted if it was encrypted), and its code."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    result_code: str
    encrypted: bool = False


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A scripted answer for the next matching call (any path when `path` is None).

    An error `code` answers with that envelope (plaintext, as from the gateway's edge);
    `http_status`/`text` with a raw HTTP answer; `disconnect` drops the connection without an
    answer; a `delay` alone only slows the normal answer. With a `device_type`, only a call
    for that device type matches.
    """

    path: str | None
    device_type: int | None = None
    code: str | None = None
    http_status: int = 200
    text: str | None = None
    delay: float = 0.0
    disconnect: bool = False


@dataclass
class _Exchange:
    """A request's body as far as it could be read, and the AES key of an encrypted one."""

    body: dict[str, Any] | None
    encrypted: bool
    key: bytes | None = None


@dataclass(kw_only=True)
class CloudSimulator:
    """The gateway's state: applications, accounts, plants, keys, tokens, every call received."""

    plants: list[SimPlant]
    apps: list[SimApp]
    accounts: list[SimAccount]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    token_ttl: timedelta = timedelta(hours=24)
    access_token_ttl: timedelta = timedelta(seconds=172799)
    refresh_token_ttl: timedelta = timedelta(days=30)
    timestamp_skew: timedelta = timedelta(minutes=5)
    require_sys_code: bool = True
    max_failed_logins: int = 5
    hourly_quota: int | None = None
    quirks: Quirks = field(default_factory=Quirks)
    controls: ControlDesk = field(default_factory=ControlDesk)

    calls: list[Call] = field(default_factory=list, init=False)
    faults: list[Fault] = field(default_factory=list, init=False)
    _sessions: V1Sessions = field(default_factory=V1Sessions, init=False, repr=False)
    _oauth: OAuthServer = field(default_factory=OAuthServer, init=False, repr=False)
    _replay: ReplayGuard = field(default_factory=ReplayGuard, init=False, repr=False)
    _key: GatewayKey | None = field(default=None, init=False, repr=False)
    _hour_calls: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    @property
    def rsa_public_key(self) -> str:
        """Return the RSA public key as the portal shows it (URL-safe base64 X.509, no `=`)."""
        return self._gateway_key().public_text

    def calls_to(self, path: str) -> list[Call]:
        """Return the calls received for one path (e.g. "/openapi/login")."""
        return [call for call in self.calls if call.path == path]

    def expire_tokens(self) -> None:
        """Forget every V1 token, as the cloud does 24 h after a token's last use."""
        self._sessions.clear()

    def authorize(self, username: str, appkey: str, *, ps_ids: Iterable[int] | None = None) -> str:
        """Approve an OAuth application for an account, as in the browser; return the code.

        The code is single-use and bound to the account and the application. The user may
        tick only some of their plants (`ps_ids`); by default all of them.
        """
        account = next((a for a in self.accounts if a.username == username), None)
        app = next((a for a in self.apps if a.appkey == appkey), None)
        if account is None or app is None or not app.oauth:
            raise ValueError("authorize needs a known account and a known OAuth application")
        chosen = tuple(account.ps_ids if ps_ids is None else ps_ids)
        if not set(chosen) <= set(account.ps_ids):
            raise ValueError("an account can only authorise its own plants")
        return self._oauth.authorize(Grant(account.user_id, appkey, chosen))

    def expire_access_tokens(self) -> None:
        """End every OAuth access token now; refresh tokens stay valid."""
        self._oauth.expire_access_tokens(self.clock())

    def web_app(self) -> web.Application:
        """Return the aiohttp application serving the Open API."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve on loopback; yield the base URL (use it as `server_url`)."""
        runner = web.AppRunner(self.web_app(), access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server  # noqa: SLF001 - the bound port of port 0
        sockets = getattr(server, "sockets", None) or []
        bound_port = sockets[0].getsockname()[1]
        try:
            yield f"http://{host}:{bound_port}"
        finally:
            await runner.cleanup()

    def _gateway_key(self) -> GatewayKey:
        if self._key is None:
            self._key = GatewayKey()
        return self._key

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        headers = {key.lower(): value for key, value in request.headers.items()}
        encrypted = "x-random-secret-key" in headers
        exchange = _Exchange(None if encrypted else _json_object(raw), encrypted=encrypted)
        fault = self._take_fault(request.path, exchange.body)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.disconnect and request.transport is not None:
                self._record(request.path, headers, exchange, "disconnect")
                request.transport.close()
                raise web.HTTPServiceUnavailable
            if fault.code is not None:
                self._record(request.path, headers, exchange, fault.code)
                return web.json_response(envelope(fault.code, MESSAGES.get(fault.code, ""), None))
            if fault.text is not None or fault.http_status != 200:  # noqa: PLR2004
                self._record(request.path, headers, exchange, f"HTTP {fault.http_status}")
                return web.Response(status=fault.http_status, text=fault.text or "")
        if request.method == "GET" and request.path == TIMESTAMP_PATH:
            self._record(TIMESTAMP_PATH, headers, exchange, "1")
            millis = round(self.clock().timestamp() * 1000)
            return web.json_response(envelope("1", "success", str(millis)))
        try:
            answer = self._dispatch(request.method, request.path, headers, raw, exchange)
            code, message = "1", "success"
        except SimError as err:
            answer, code, message = Answer(None, err.extra), err.code, err.message
            status = err.http_status
        else:
            status = 200
        self._record(request.path, headers, exchange, code)
        reply = envelope(code, message, answer.data, answer.extra)
        if exchange.key is None or status != 200:  # noqa: PLR2004
            return web.json_response(reply, status=status)
        return web.Response(
            text=aes_encrypt(exchange.key, json.dumps(reply)), content_type="application/json"
        )

    def _record(self, path: str, headers: dict[str, str], exchange: _Exchange, code: str) -> None:
        self.calls.append(Call(path, headers, exchange.body, code, exchange.encrypted))

    def _take_fault(self, path: str, body: dict[str, Any] | None) -> Fault | None:
        device_type = monitoring.integer((body or {}).get("device_type"))
        for index, fault in enumerate(self.faults):
            if fault.path in (None, path) and fault.device_type in (None, device_type):
                return self.faults.pop(index)
        return None

    def _dispatch(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        exchange: _Exchange,
    ) -> Answer:
        if method != "POST":
            raise SimError("E996")
        app = self._app(headers)
        body = self._open(app, headers, raw, exchange)
        self._check_appkey(app, body)
        oauth_path = path.startswith(OAUTH_PREFIXES)
        if not oauth_path and self.require_sys_code and "sys_code" not in headers:
            raise SimError("003")
        lang = body.get("lang")
        if lang is not None and lang not in LANGUAGES:
            raise SimError("010")
        self._count(app)
        handler = self._handlers().get(path)
        if handler is None:
            raise SimError("E996")
        if app.oauth != oauth_path:
            raise SimError("E900")
        result = handler(app, headers, body)
        return result if isinstance(result, Answer) else Answer(result)

    def _app(self, headers: dict[str, str]) -> SimApp:
        access_key = headers.get("x-access-key")
        if not access_key:
            raise SimError("E911")
        app = next((app for app in self.apps if app.access_key == access_key), None)
        if app is None:
            raise SimError("E912")
        return app

    def _open(
        self, app: SimApp, headers: dict[str, str], raw: bytes, exchange: _Exchange
    ) -> dict[str, Any]:
        secret = headers.get("x-random-secret-key")
        if secret is None and app.require_encryption:
            raise SimError("E902")
        if secret is not None:
            key = self._gateway_key().unwrap(secret)
            text = aes_decrypt(key, raw)
            exchange.key, exchange.body = key, _json_object(text.encode("utf-8"))
        if exchange.body is None:
            raise SimError("010", "request body is not a JSON object")
        if secret is not None:
            self._replay.check(app.appkey, exchange.body, self.clock(), self.timestamp_skew)
        return exchange.body

    def _check_appkey(self, app: SimApp, body: dict[str, Any]) -> None:
        appkey = body.get("appkey")
        if not appkey:
            raise SimError("001")
        if all(known.appkey != appkey for known in self.apps):
            raise SimError("E00000")
        if appkey != app.appkey:
            raise SimError("E914")

    def _count(self, app: SimApp) -> None:
        hour = self.clock().strftime(f"{app.appkey}-%Y%m%d%H")
        self._hour_calls[hour] = self._hour_calls.get(hour, 0) + 1
        if self.hourly_quota is not None and self._hour_calls[hour] > self.hourly_quota:
            raise SimError("E999")

    def _handlers(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {
            LOGIN_PATH: self._login,
            CODE_GRANT_PATH: self._token,
            REFRESH_PATH: self._refresh_token,
        }
        handlers.update({path: partial(self._v1_data, call) for path, call in V1_DATA.items()})
        handlers.update(
            {path: partial(self._platform_data, call) for path, call in PLATFORM_DATA.items()}
        )
        desk = self.controls
        for name, call in zip(CONTROL_PATHS, (desk.check, desk.setting, desk.task), strict=True):
            handlers[f"/openapi/{name}"] = partial(self._v1_data, call)
            handlers[f"/openapi/platform/{name}"] = partial(self._platform_data, call)
        return handlers

    def _login(self, _app: SimApp, _headers: dict[str, str], body: dict[str, Any]) -> Any:
        return self._sessions.login(
            self.accounts,
            body,
            now=self.clock(),
            ttl=self.token_ttl,
            max_failed=self.max_failed_logins,
        )

    def _token(self, app: SimApp, _headers: dict[str, str], body: dict[str, Any]) -> Answer:
        return self._oauth.exchange(
            app.appkey, app.redirect_uri, body, now=self.clock(), lifetimes=self._lifetimes()
        )

    def _refresh_token(self, app: SimApp, _headers: dict[str, str], body: dict[str, Any]) -> Answer:
        try:
            return self._oauth.refresh(
                app.appkey, body, now=self.clock(), lifetimes=self._lifetimes()
            )
        except SimError as err:
            if err.extra.get("error") != "invalid_grant":
                raise
            return _refused_refresh(self.quirks.refresh_refusal, err)

    def _lifetimes(self) -> Lifetimes:
        return Lifetimes(access=self.access_token_ttl, refresh=self.refresh_token_ttl)

    def _v1_data(
        self, call: DataCall, _app: SimApp, headers: dict[str, str], body: dict[str, Any]
    ) -> Any:
        try:
            account = self._sessions.account(headers, body, now=self.clock(), ttl=self.token_ttl)
        except SimError as err:
            raise self._token_error(err) from None
        return self._data(call, account.ps_ids, body)

    def _platform_data(
        self, call: DataCall, app: SimApp, headers: dict[str, str], body: dict[str, Any]
    ) -> Any:
        try:
            grant = self._oauth.bearer(app.appkey, headers, self.clock())
        except SimError as err:
            raise self._token_error(err) from None
        return self._data(call, grant.ps_ids, body)

    def _token_error(self, err: SimError) -> SimError:
        return self.quirks.token_refused() if err.code == TOKEN_INVALID else err

    def _data(self, call: DataCall, ps_ids: tuple[int, ...], body: dict[str, Any]) -> Any:
        realtime = getattr(call, "func", call) is monitoring.device_realtime
        if realtime and monitoring.integer(body.get("device_type")) in self.quirks.plan_excludes:
            raise SimError("E900")
        if self.quirks.control_denied and getattr(call, "__self__", None) is self.controls:
            raise SimError("E900")
        plants = tuple(p for p in self.plants if p.ps_id in ps_ids)
        view = View(
            plants,
            self.clock(),
            self.quirks.point_values,
            forced={
                plant.ps_id: forced
                for plant in plants
                if (forced := self.controls.forced(plant)) is not None
            },
        )
        if call in (history.device_minutes, history.plant_minutes):
            return call(view, body, today=self.quirks.minute_data_today)
        return call(view, body)


def _refused_refresh(shape: RefreshRefusal, refusal: SimError) -> Answer:
    """Answer a dead refresh token in the recorded `shape`."""
    if shape is RefreshRefusal.INVALID_GRANT:
        raise refusal
    if shape is RefreshRefusal.RESULT_CODE:
        raise SimError("2", refusal.message)
    if shape is RefreshRefusal.HTTP_400:
        raise SimError(refusal.code, refusal.message, extra=refusal.extra, http_status=400)
    if shape is RefreshRefusal.NO_ACCESS_TOKEN:
        return Answer({"code": "1", "token_type": "bearer"})
    return Answer({"code": "-2" if shape is RefreshRefusal.EXPIRED else "5"})


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
