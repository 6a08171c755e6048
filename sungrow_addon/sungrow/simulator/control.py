"""Parameter setting as the portal documents it: check a device, set or read back, follow a task.

`paramSettingCheck` says whether a device (by `uuid`) can take settings; `paramSetting` with
`set_type` 0 dispatches new values (raw steps of Appendix 10: 1000 is 100 % for a SOC limit)
and with `set_type` 2 a read-back; `getParamSettingTask` reports the task: in progress (2)
for `confirm_after` polls, then completed (8), each parameter succeeded (4) or failed (5).
Read-back rows carry the value in display units with its `set_precision`, as recorded from a
live SH10RT (CONTROL_AND_HISTORY.md A1). A hybrid inverter in forced mode charges or
discharges its battery at the set power, which the real-time data shows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .envelope import SimError
from .plants import HYBRID_INVERTER, INVERTER

if TYPE_CHECKING:
    from .monitoring import View
    from .plants import SimDevice, SimPlant

SET, READ_BACK = 0, 2
IN_PROGRESS, COMPLETED = "2", "8"
PARAM_PENDING, PARAM_SUCCESS, PARAM_FAILED = "2", "4", "5"
MAX_PARAMS = 10
MAX_EXPIRE_SECONDS = 1800
CHARGE, DISCHARGE, STOP = "170", "187", "204"
FORCED_MODE = "2"


@dataclass(frozen=True, kw_only=True)
class Param:
    """One settable parameter: its name, raw range (or raw values), display unit and step."""

    name: str
    low: int = 0
    high: int = 0
    values: dict[str, str] | None = None  # raw value -> name, for enumerations
    unit: str = ""
    precision: str = ""  # display = raw x precision

    def accepts(self, raw: str) -> bool:
        """Return True when the device takes this raw value."""
        if self.values is not None:
            return raw in self.values
        try:
            return self.low <= int(raw) <= self.high
        except ValueError:
            return False

    def display(self, raw: str) -> str:
        """Return the value as a read-back shows it."""
        if not self.precision:
            return raw
        value = round(int(raw) * float(self.precision), 6)
        return f"{value:g}"


_SWITCH = {"170": "Enable", "85": "Disable"}
# A string inverter counts power in W (Appendix 10); a live SH10RT read back its powers in
# steps of 0.01 kW (CONTROL_AND_HISTORY.md A2): the hybrid here does the same.
FEED_IN = {
    "10012": Param(name="Feed-in Limitation", values=_SWITCH),
    "10013": Param(name="Feed-in Limitation Value", high=5000, unit="W", precision="1"),
}
HYBRID_FEED_IN = {
    **FEED_IN,
    "10013": Param(name="Feed-in Limitation Value", high=1000, unit="kW", precision="0.01"),
}
HYBRID = {
    "10001": Param(name="SOC Upper Limit", low=700, high=1000, unit="%", precision="0.1"),
    "10002": Param(name="SOC Lower Limit", high=500, unit="%", precision="0.1"),
    "10003": Param(
        name="Energy Management Mode",
        values={"0": "Self-consumption", "2": "Compulsory", "3": "External EMS", "4": "VPP"},
    ),
    "10004": Param(
        name="Charging/Discharging Command",
        values={CHARGE: "Charge", DISCHARGE: "Discharge", STOP: "Stop"},
    ),
    "10005": Param(name="Charging/Discharging Power", high=500, unit="kW", precision="0.01"),
    **HYBRID_FEED_IN,
}
DEFAULTS = {
    "10001": "1000",
    "10002": "100",
    "10003": "0",
    "10004": STOP,
    "10005": "100",
    "10012": "85",
    "10013": "0",
}
PARAMS_BY_TYPE = {HYBRID_INVERTER: HYBRID, INVERTER: FEED_IN}


@dataclass
class _Task:
    uuid: int
    set_type: int
    params: list[tuple[str, str]]
    polls: int = 0
    results: dict[str, str] = field(default_factory=dict)  # code -> parameter status


@dataclass(kw_only=True)
class ControlDesk:
    """The devices' parameters and the tasks that change or read them.

    `confirm_after`: task polls answered "in progress" before the device confirms (a device
    that never answers: a large number). `failing`: codes the device refuses at execution.
    `offline`: uuids of devices that are offline.
    """

    confirm_after: int = 1
    failing: set[str] = field(default_factory=set)
    offline: set[int] = field(default_factory=set)
    values: dict[int, dict[str, str]] = field(default_factory=dict)
    tasks: dict[str, _Task] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(81001))

    def value(self, device: SimDevice, code: str) -> str:
        """Return a parameter's raw value on a device."""
        return self.values.get(device.uuid, {}).get(code, DEFAULTS[code])

    def forced(self, plant: SimPlant) -> tuple[str, float] | None:
        """Return (CHARGE or DISCHARGE, watts) while the plant's hybrid inverter is forced."""
        for device in plant.devices:
            if device.device_type != HYBRID_INVERTER:
                continue
            command = self.value(device, "10004")
            if self.value(device, "10003") == FORCED_MODE and command in (CHARGE, DISCHARGE):
                return command, int(self.value(device, "10005")) * 10.0  # 0.01 kW steps
        return None

    def check(self, view: View, body: dict[str, Any]) -> dict[str, Any]:
        """Answer paramSettingCheck."""
        uuid = _uuid(body)
        _set_type(body)  # validated; both kinds are checked alike
        device = _device(view, uuid)
        if device is None:
            verdict, message = "5", "device does not exist"
        elif uuid in self.offline:
            verdict, message = "6", "device offline"
        elif device.device_type not in PARAMS_BY_TYPE:
            verdict, message = "0", "device does not support parameter setting"
        else:
            verdict, message = "1", "success"
        return {
            "check_result": verdict,
            "dev_result_list": [{"uuid": uuid, "check_result": verdict, "check_msg": message}],
        }

    def setting(self, view: View, body: dict[str, Any]) -> dict[str, Any]:
        """Answer paramSetting: dispatch a task, or say why not."""
        uuid, set_type = _uuid(body), _set_type(body)
        params = _param_list(body)
        device = _device(view, uuid)
        verdict = self._refusal(device, uuid, set_type, params, body.get("expire_second", 120))
        if verdict is not None or device is None:
            return {"check_result": verdict or "5", "dev_result_list": []}
        supported = PARAMS_BY_TYPE.get(device.device_type, {})
        if any(code not in supported for code, _ in params):
            return {
                "check_result": "1",
                "dev_result_list": [
                    {
                        "uuid": uuid,
                        "code": "6-1",
                        "msg": "the model does not support this parameter",
                    }
                ],
            }
        task_id = str(next(self._ids))
        self.tasks[task_id] = _Task(uuid, set_type, params)
        name = body.get("task_name", "")
        return {
            "check_result": "1",
            "dev_result_list": [
                {"uuid": uuid, "code": "1", "msg": "success", "task_id": task_id, "task_name": name}
            ],
        }

    def _refusal(
        self,
        device: SimDevice | None,
        uuid: int,
        set_type: int,
        params: list[tuple[str, str]],
        expire: object,
    ) -> str | None:
        """Return the overall check_result that refuses a setting, None to go on."""
        codes = [code for code, _ in params]
        refusals = (
            (not isinstance(expire, int) or not 0 <= expire <= MAX_EXPIRE_SECONDS, "8"),
            (len(set(codes)) != len(codes), "2"),
            (any(not code or (set_type == SET and not value) for code, value in params), "4"),
            (any(value.startswith("-") for _, value in params), "12"),
            (device is None, "5"),
            (uuid in self.offline, "7"),
        )
        return next((verdict for refused, verdict in refusals if refused), None)

    def task(self, view: View, body: dict[str, Any]) -> dict[str, Any]:
        """Answer getParamSettingTask: in progress, then the device's verdict per parameter."""
        task = self.tasks.get(str(body.get("task_id", "")))
        if task is None or task.uuid != _uuid(body):
            raise SimError("010", "er_parameter_value_invalid: task_id")
        device = _device(view, task.uuid)
        if device is None:
            raise SimError("010", "er_parameter_value_invalid: uuid")
        task.polls += 1
        if task.polls > self.confirm_after and not task.results:
            self._execute(device, task)
        supported = PARAMS_BY_TYPE[device.device_type]
        rows = []
        for code, set_value in task.params:
            spec = supported[code]
            row = {
                "param_code": code,
                "point_name": spec.name,
                "set_value": set_value,
                "return_value": spec.display(self.value(device, code)) if task.results else "",
                "set_precision": spec.precision,
                "unit": spec.unit,
                "command_status": task.results.get(code, PARAM_PENDING),
            }
            if spec.values is not None:
                row["set_val_name"] = "|".join(spec.values.values())
                row["set_val_name_val"] = "|".join(spec.values)
            rows.append(row)
        return {
            "task_id": body["task_id"],
            "command_status": COMPLETED if task.results else IN_PROGRESS,
            "param_list": rows,
        }

    def _execute(self, device: SimDevice, task: _Task) -> None:
        supported = PARAMS_BY_TYPE[device.device_type]
        for code, raw in task.params:
            if task.set_type == READ_BACK:
                task.results[code] = PARAM_SUCCESS
            elif code in self.failing or not supported[code].accepts(raw):
                task.results[code] = PARAM_FAILED
            else:
                self.values.setdefault(device.uuid, {})[code] = raw
                task.results[code] = PARAM_SUCCESS


def _device(view: View, uuid: int) -> SimDevice | None:
    for plant in view.plants:
        for device in plant.devices:
            if device.uuid == uuid:
                return device
    return None


def _uuid(body: dict[str, Any]) -> int:
    raw = body.get("uuid")
    if raw is None or raw == "":
        raise SimError("009", "er_missing_parameter:uuid")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise SimError("010", "er_parameter_value_invalid: uuid") from None


def _set_type(body: dict[str, Any]) -> int:
    set_type = body.get("set_type", SET)
    if set_type not in (SET, READ_BACK, str(SET), str(READ_BACK)):
        raise SimError("010", "er_parameter_value_invalid: set_type")
    return int(set_type)


def _param_list(body: dict[str, Any]) -> list[tuple[str, str]]:
    raw = body.get("param_list")
    if not isinstance(raw, list) or not raw:
        raise SimError("009", "er_missing_parameter:param_list")
    if len(raw) > MAX_PARAMS:
        raise SimError("010", "Parameter:param_list is over 10")
    params = []
    for item in raw:
        code = str(item.get("param_code", "")) if isinstance(item, dict) else ""
        value = str(item.get("set_value", "")) if isinstance(item, dict) else ""
        params.append((code, value))
    return params
