"""Changing a device's parameters: check the device, set, then follow the task to its verdict.

The Open API changes parameters in three steps (CONTROL_AND_HISTORY.md A1): `paramSettingCheck`
says whether the device (by its `uuid`) can take settings now; `paramSetting` dispatches a
task (`set_type` 0 with new values, 2 to read the current ones back); `getParamSettingTask`
reports the task until the device answers. A value counts as set only when the task completed
and the device reported that parameter a success: the three public clients read the task's
status only, and so took refused values for set.

Values travel as raw steps of the device's unit (a SOC limit of 95 % is "950"); read-backs
come in that unit with the step, `set_precision` (a live SH10RT answered "100", "%", "0.1" for
1000, and "kW", "0.01" for its battery power, where Appendix 10 says W): `read()` returns both.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sungrow.cloud.errors import NOT_IN_PLAN_CODE
from sungrow.exceptions import ISolarCloudError, ISolarCloudResponseError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sungrow.cloud.client import ISolarCloud, ParameterStep

SET, READ_BACK = 0, 2
ACCEPTED = "1"
TASK_DONE = "8"
PARAMETER_SUCCEEDED = "4"
# How long the cloud keeps trying to reach the device, and so how long a task is followed.
TASK_SECONDS = 120
FIRST_LOOK, LOOK_EVERY = 2.0, 5.0
# paramSettingCheck's and paramSetting's check_result (developer portal).
CHECK_VERDICTS = {
    "0": "the device cannot take settings",
    "2": "a parameter was given twice",
    "3": "too many parameters",
    "4": "a parameter code or value is empty",
    "5": "iSolarCloud does not know the device",
    "6": "the device is offline",
    "7": "the device is offline",
    "8": "the task's expiry is out of range",
    "9": "the same setting is already under way",
    "11": "a read-back works for one device at a time",
    "12": "negative values are not supported",
}
# The per-device code of paramSetting.
DEVICE_VERDICTS = {
    "6": "the model does not support this setting, or the account may not change it",
    "6-1": "the model does not support this setting, or the account may not change it",
}


class ControlError(ISolarCloudError):
    """A setting was not made; the message says why in one line."""


class ControlRefusedError(ControlError):
    """The cloud or the device refused the setting."""


class ControlTimeoutError(ControlError):
    """The device did not confirm the setting in time."""


class ControlNotPermittedError(ControlError):
    """The application may not change settings (E900 on the parameter-setting endpoints)."""


@dataclass(frozen=True)
class TaskRow:
    """One parameter of a finished task: what was asked, what the device holds, its status."""

    code: str
    set_value: str
    return_value: str
    precision: str
    status: str
    unit: str = ""

    @classmethod
    def from_wire(cls, row: dict[str, Any]) -> TaskRow:
        """Build from an item of getParamSettingTask's param_list."""
        return cls(
            code=str(row.get("param_code", "")),
            set_value=str(row.get("set_value") or ""),
            return_value=str(row.get("return_value") or ""),
            precision=str(row.get("set_precision") or ""),
            status=str(row.get("command_status", "")),
            unit=str(row.get("unit") or ""),
        )

    @property
    def raw_value(self) -> str | None:
        """Return the read-back value in raw steps, None when the device sent none."""
        if not self.return_value:
            return None
        try:
            value = Decimal(self.return_value)
            if self.precision:
                value /= Decimal(self.precision)
        except (InvalidOperation, ArithmeticError):
            return None
        return f"{value.to_integral_value():f}" if value.is_finite() else None


@dataclass(kw_only=True)
class DeviceSettings:
    """Reads and changes the parameters of devices through one ISolarCloud client."""

    cloud: ISolarCloud
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    task_seconds: float = TASK_SECONDS

    async def write(self, uuid: str, values: dict[str, str], *, task_name: str) -> dict[str, str]:
        """Set raw `values` (code -> raw step); return them once the device confirmed each."""
        await self._check(uuid, SET)
        params = [{"param_code": code, "set_value": value} for code, value in values.items()]
        rows = await self._run(uuid, SET, params, task_name)
        refused = sorted(row.code for row in rows if row.status != PARAMETER_SUCCEEDED)
        if refused or {row.code for row in rows} != set(values):
            msg = f"the device refused {', '.join(refused) or 'the setting'}"
            raise ControlRefusedError(msg)
        return dict(values)

    async def read(self, uuid: str, codes: list[str], *, task_name: str) -> dict[str, TaskRow]:
        """Return the device's rows of `codes` that carry a value (raw_value, unit, step)."""
        params = [{"param_code": code, "set_value": ""} for code in codes]
        rows = await self._run(uuid, READ_BACK, params, task_name)
        return {
            row.code: row
            for row in rows
            if row.status == PARAMETER_SUCCEEDED and row.raw_value is not None
        }

    async def _check(self, uuid: str, set_type: int) -> None:
        data = await self._call("check", {"uuid": uuid, "set_type": set_type})
        verdict = _text(data, "check_result")
        devices = _rows(data, "dev_result_list")
        device = str(devices[0].get("check_result", "")) if devices else verdict
        if verdict != ACCEPTED or device != ACCEPTED:
            reason = CHECK_VERDICTS.get(device, f"check_result {device or verdict}")
            msg = f"iSolarCloud will not change the device's settings now: {reason}"
            raise ControlRefusedError(msg)

    async def _run(
        self, uuid: str, set_type: int, params: list[dict[str, str]], task_name: str
    ) -> list[TaskRow]:
        body = {
            "uuid": uuid,
            "set_type": set_type,
            "task_name": task_name,
            "expire_second": round(self.task_seconds),
            "param_list": params,
        }
        data = await self._call("setting", body)
        verdict = _text(data, "check_result")
        devices = _rows(data, "dev_result_list")
        device = devices[0] if devices else {}
        code = str(device.get("code", ""))
        task_id = device.get("task_id")
        if verdict != ACCEPTED or code != ACCEPTED or not task_id:
            reason = (
                CHECK_VERDICTS.get(verdict, f"check_result {verdict}")
                if verdict != ACCEPTED
                else DEVICE_VERDICTS.get(code, f"code {code}: {device.get('msg', '')}".strip())
            )
            msg = f"iSolarCloud refused the setting: {reason}"
            raise ControlRefusedError(msg)
        return await self._follow(uuid, str(task_id))

    async def _follow(self, uuid: str, task_id: str) -> list[TaskRow]:
        """Ask for the task's state until the device answered, or the task's time ran out."""
        deadline = self.clock() + self.task_seconds
        await self.sleep(FIRST_LOOK)
        while True:
            data = await self._call("task", {"task_id": task_id, "uuid": uuid})
            if _text(data, "command_status") == TASK_DONE:
                return [TaskRow.from_wire(row) for row in _rows(data, "param_list")]
            if self.clock() + LOOK_EVERY > deadline:
                msg = f"the device did not confirm the setting within {self.task_seconds:.0f} s"
                raise ControlTimeoutError(msg)
            await self.sleep(LOOK_EVERY)

    async def _call(self, step: ParameterStep, body: dict[str, Any]) -> Any:
        try:
            return await self.cloud.parameters(step, body)
        except ISolarCloudResponseError as err:
            if err.code == NOT_IN_PLAN_CODE:
                msg = (
                    "iSolarCloud does not let this application change settings (E900): allow "
                    "parameter setting (control) for the application in the developer portal"
                )
                raise ControlNotPermittedError(msg) from None
            raise


def _text(data: Any, key: str) -> str:
    return str(data.get(key, "")) if isinstance(data, dict) else ""


def _rows(data: Any, key: str) -> list[dict[str, Any]]:
    rows = data.get(key) if isinstance(data, dict) else None
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []
