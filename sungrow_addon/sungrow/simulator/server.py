"""An iSolarCloud Open API gateway on loopback, answering as Sungrow documents it.

It checks what a client sends in the order the gateway does (access key, appkey, sys_code,
lang, quota, token, then the endpoint's own parameters) and answers with the documented
envelope and error codes, so that a client mistake shows up as the cloud's own error.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from .plants import SimDevice, SimPlant

PLANT = 11
MAX_POINT_IDS = 100
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
    "E911": "Missing parameter in request header: x-access-key",
    "E912": "Illegal x-access-key",
    "E914": "Mismatched appkey and x-access-key",
    "E916": "Login too frequently",
    "E996": "api not found",
    "E998": "er_month_call_api_times_upper_limit",
    "E999": "er_hour_call_api_times_upper_limit",
}


class SimError(Exception):
    """A documented error answer."""

    def __init__(self, code: str, message: str | None = None) -> None:
        """Use the gateway's own message for the code unless a specific one is given."""
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES.get(code, "error")


@dataclass(frozen=True, kw_only=True)
class SimApp:
    """A developer-portal application: its appkey and its Secret Key (`x-access-key`)."""

    appkey: str
    access_key: str


@dataclass(kw_only=True)
class SimAccount:
    """An iSolarCloud account and the plants it sees."""

    username: str
    password: str
    user_id: int
    ps_ids: tuple[int, ...]
    login_state: str = "1"  # "2" locked after wrong passwords, "5" locked by an administrator
    failed_logins: int = 0


@dataclass(frozen=True)
class Call:
    """One request as the gateway received it, and the code it answered."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    result_code: str


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A scripted answer for the next matching call (any path when `path` is None).

    An error `code` answers with that envelope; `http_status`/`text` with a raw HTTP answer;
    a `delay` alone only slows the normal answer down.
    """

    path: str | None
    code: str | None = None
    http_status: int = 200
    text: str | None = None
    delay: float = 0.0


@dataclass
class _Token:
    account: SimAccount
    expires: datetime


@dataclass(kw_only=True)
class CloudSimulator:
    """The gateway's state: applications, accounts, plants, tokens, and every call received."""

    plants: list[SimPlant]
    apps: list[SimApp]
    accounts: list[SimAccount]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    token_ttl: timedelta = timedelta(hours=24)
    require_sys_code: bool = True
    max_failed_logins: int = 5
    hourly_quota: int | None = None

    calls: list[Call] = field(default_factory=list, init=False)
    faults: list[Fault] = field(default_factory=list, init=False)
    _tokens: dict[str, _Token] = field(default_factory=dict, init=False)
    _hour_calls: dict[str, int] = field(default_factory=dict, init=False)

    def calls_to(self, path: str) -> list[Call]:
        """Return the calls received for one path (e.g. "/openapi/login")."""
        return [call for call in self.calls if call.path == path]

    def expire_tokens(self) -> None:
        """Forget every issued token, as the cloud does 24 h after a token's last use."""
        self._tokens.clear()

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

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        headers = {key.lower(): value for key, value in request.headers.items()}
        body = _json_object(raw)
        fault = self._take_fault(request.path)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.code is not None:
                self.calls.append(Call(request.path, headers, body, fault.code))
                return web.json_response(_envelope(fault.code, MESSAGES.get(fault.code, ""), None))
            if fault.text is not None or fault.http_status != 200:  # noqa: PLR2004
                self.calls.append(Call(request.path, headers, body, f"HTTP {fault.http_status}"))
                return web.Response(status=fault.http_status, text=fault.text or "")
        try:
            data = self._dispatch(request.method, request.path, headers, body)
            code, message = "1", "success"
        except SimError as err:
            data, code, message = None, err.code, err.message
        self.calls.append(Call(request.path, headers, body, code))
        return web.json_response(_envelope(code, message, data))

    def _take_fault(self, path: str) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.path in (None, path):
                return self.faults.pop(index)
        return None

    def _dispatch(
        self, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None
    ) -> Any:
        if method != "POST":
            raise SimError("E996")
        handler = self._handlers().get(path)
        app = self._app(headers)
        if body is None:
            raise SimError("010", "request body is not a JSON object")
        self._check_appkey(app, body)
        if self.require_sys_code and "sys_code" not in headers:
            raise SimError("003")
        lang = body.get("lang")
        if lang is not None and lang not in LANGUAGES:
            raise SimError("010")
        self._count(app)
        if handler is None:
            raise SimError("E996")
        if path == "/openapi/login":
            return self._login(body)
        account = self._account_for_token(headers, body)
        return handler(account, body)

    def _handlers(self) -> dict[str, Callable[[SimAccount, dict[str, Any]], Any]]:
        return {
            "/openapi/login": lambda _account, _body: None,
            "/openapi/getPowerStationList": self._plant_list,
            "/openapi/getDeviceList": self._device_list,
            "/openapi/getDeviceRealTimeData": self._realtime,
        }

    def _app(self, headers: dict[str, str]) -> SimApp:
        access_key = headers.get("x-access-key")
        if not access_key:
            raise SimError("E911")
        app = next((app for app in self.apps if app.access_key == access_key), None)
        if app is None:
            raise SimError("E912")
        return app

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

    def _login(self, body: dict[str, Any]) -> dict[str, Any]:
        username, password = body.get("user_account"), body.get("user_password")
        if not username or not password:
            raise SimError("009")
        account = next((a for a in self.accounts if a.username == username), None)
        if account is None:
            return {"login_state": "-1", "msg": "账号不存在"}
        if account.login_state != "1":
            return {"login_state": account.login_state, "msg": "账号已锁定"}
        if password != account.password:
            account.failed_logins += 1
            if account.failed_logins >= self.max_failed_logins:
                account.login_state = "2"
            remaining = max(self.max_failed_logins - account.failed_logins, 0)
            return {"login_state": "0", "msg": "密码错误", "remain_times": str(remaining)}
        account.failed_logins = 0
        token = f"{account.user_id}_{secrets.token_hex(16)}"
        self._tokens[token] = _Token(account, self.clock() + self.token_ttl)
        return {
            "user_id": str(account.user_id),
            "token": token,
            "login_state": "1",
            "err_times": "0",
            "disable_time": None,
            "user_account": account.username,
            "user_name": account.username.split("@")[0],
            "language": "English",
            "email": account.username,
            "mobile_tel": None,
            "country_id": "49",
            "country_name": "Germany",
            "user_master_org_id": "89899046",
            "user_master_org_name": "Sungrow",
        }

    def _account_for_token(self, headers: dict[str, str], body: dict[str, Any]) -> SimAccount:
        # The documentation names a body field; working clients also send a header.
        token = body.get("token") or headers.get("token")
        if not token:
            raise SimError("002")
        issued = self._tokens.get(token)
        now = self.clock()
        if issued is None or issued.expires <= now:
            self._tokens.pop(token, None)
            raise SimError("E00003")
        issued.expires = now + self.token_ttl  # sliding: every call renews the 24 h
        return issued.account

    def _owned_plants(self, account: SimAccount) -> list[SimPlant]:
        return [plant for plant in self.plants if plant.ps_id in account.ps_ids]

    def _plant_list(self, account: SimAccount, body: dict[str, Any]) -> dict[str, Any]:
        page, size = _paging(body)
        plants = self._owned_plants(account)
        rows = plants[(page - 1) * size : page * size]
        return {"pageList": [self._plant_entry(plant) for plant in rows], "rowCount": len(plants)}

    def _plant_entry(self, plant: SimPlant) -> dict[str, Any]:
        snapshot = plant.household.snapshot(plant.local_time(self.clock()))
        return {
            "ps_id": plant.ps_id,
            "ps_name": plant.name,
            "ps_type": 5,
            "valid_flag": 1,
            "online_status": 1,
            "ps_fault_status": 3,
            "grid_connection_status": 1,
            "connect_type": 1,
            "build_status": 2,
            "ps_location": plant.location,
            "latitude": 47.99,
            "longitude": 7.84,
            "description": None,
            "install_date": "2023-06-01 10:00:00",
            "ps_current_time_zone": "GMT+1",
            "curr_power": {"unit": "W", "value": f"{snapshot.step.pv:.1f}"},
            "today_energy": {"unit": "kWh", "value": f"{snapshot.today['pv'] / 1000:.1f}"},
            "total_energy": {"unit": "MWh", "value": f"{snapshot.lifetime['pv'] / 1e6:.2f}"},
        }

    def _device_list(self, account: SimAccount, body: dict[str, Any]) -> dict[str, Any]:
        if "ps_id" not in body:
            raise SimError("009")
        page, size = _paging(body)
        owned = self._owned_plants(account)
        plant = next((p for p in owned if str(p.ps_id) == str(body["ps_id"])), None)
        if plant is None:
            raise SimError("010")
        wanted = body.get("device_type_list")
        devices = [
            device
            for device in plant.devices
            if device.device_type != PLANT
            and (not wanted or device.device_type in {int(t) for t in wanted})
        ]
        english = body.get("lang") not in (None, "_zh_CN")
        rows = devices[(page - 1) * size : page * size]
        return {
            "pageList": [_device_entry(device, english=english) for device in rows],
            "rowCount": len(devices),
        }

    def _realtime(self, account: SimAccount, body: dict[str, Any]) -> dict[str, Any]:
        device_type = _integer(body.get("device_type"))
        point_ids = body.get("point_id_list")
        ps_keys = body.get("ps_key_list")
        if device_type is None or not isinstance(point_ids, list) or not point_ids:
            raise SimError("009")
        if len(point_ids) > MAX_POINT_IDS:
            raise SimError("010", "Parameters point_id_list size is over 100")
        ids = [_integer(point_id) for point_id in point_ids]
        if not all(isinstance(point_id, int) for point_id in ids):
            raise SimError("010")
        if not isinstance(ps_keys, list) or not ps_keys:
            raise SimError("009")
        points, failed = [], []
        for ps_key in sorted({str(key) for key in ps_keys}):
            found = self._device(account, ps_key)
            if found is None or found[1].device_type != device_type:
                failed.append(ps_key)
                continue
            plant, device = found
            points.append({"device_point": self._device_point(plant, device, ids)})
        return {"fail_ps_key_list": failed, "device_point_list": points}

    def _device(self, account: SimAccount, ps_key: str) -> tuple[SimPlant, SimDevice] | None:
        for plant in self._owned_plants(account):
            device = plant.device(ps_key)
            if device is not None:
                return plant, device
        return None

    def _device_point(
        self, plant: SimPlant, device: SimDevice, ids: list[int | None]
    ) -> dict[str, Any]:
        local = plant.local_time(self.clock())
        snapshot = plant.household.snapshot(local)
        point: dict[str, Any] = {
            "ps_key": device.ps_key,
            "ps_id": plant.ps_id,
            "uuid": device.uuid,
            "device_name": device.name,
            "device_sn": device.sn or None,
            "communication_dev_sn": device.communication_sn,
            "dev_status": 1,
            "dev_fault_status": 4,
            "device_time": local.strftime("%Y%m%d%H%M%S"),
        }
        for point_id in ids:
            assert point_id is not None  # noqa: S101 - checked by _realtime
            read = device.points.get(point_id)
            value = read(snapshot) if read is not None else None
            point[f"p{point_id}"] = None if value is None else _wire_value(point_id, value)
        return point


def _wire_value(point_id: int, value: float) -> str:
    # Levels and ratios travel as fractions with three decimals, everything else with one.
    fractions = {83252, 83129, 13141, 13142, 13144, 13172, 58604, 58605, 8014}
    return f"{value:.3f}" if point_id in fractions else f"{value:.1f}"


def _device_entry(device: SimDevice, *, english: bool) -> dict[str, Any]:
    return {
        "uuid": device.uuid,
        "ps_id": device.ps_id,
        "ps_key": device.ps_key,
        "device_type": device.device_type,
        "type_name": device.type_name_en if english else device.type_name_zh,
        "device_name": device.name,
        "device_sn": device.sn,
        "device_model_code": device.model,
        "device_model_id": 300000 + device.device_type,
        "device_code": device.device_code,
        "chnnl_id": device.chnnl_id,
        "communication_dev_sn": device.communication_sn,
        "dev_status": "1",
        "dev_fault_status": 4,
        "rel_state": 1,
        "factory_name": "Sungrow",
        "grid_connection_date": "2023-06-01 10:00:00",
    }


def _paging(body: dict[str, Any]) -> tuple[int, int]:
    if "curPage" not in body or "size" not in body:
        raise SimError("009")
    page, size = _integer(body["curPage"]), _integer(body["size"])
    if page is None or size is None or page < 1 or size < 1:
        raise SimError("010")
    return page, size


def _integer(value: object) -> int | None:
    """Accept an int or a numeric string, as the gateway does; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _envelope(code: str, message: str, data: Any) -> dict[str, Any]:
    serial = datetime.now(UTC).strftime("%Y%m%d") + secrets.token_hex(12)
    return {
        "req_serial_num": serial,
        "result_code": code,
        "result_msg": message,
        "result_data": data,
    }
