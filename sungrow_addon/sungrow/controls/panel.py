"""The control panel: Home Assistant's commands, checked, sent one at a time, confirmed, undone.

A command is checked against its range before any call; a device takes one command at a time
and none is ever repeated by itself. An entity shows a new value only once the device
confirmed it; after a refusal or a timeout it shows what the device really holds (read back).
A forced mode (forced charge or discharge, compulsory or external dispatch) always carries
its end: kept in the data folder, so that the inverter returns to self-consumption on time
even when the add-on was restarted meanwhile. The current values are read back at start,
after each command, and every 30 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sungrow.cloud.control import ControlError, ControlNotPermittedError
from sungrow.cloud.models import PLANT_DEVICE_TYPE
from sungrow.controls.specs import (
    BATTERY,
    BATTERY_COMMAND,
    BATTERY_POWER,
    CHARGE,
    DEFAULT_DURATION_MIN,
    DISCHARGE,
    EMS_MODE,
    ENABLE,
    ENERGY_MANAGEMENT_MODE,
    EXPIRING_MODES,
    FEED_IN_LIMIT,
    FEED_IN_SWITCH,
    FORCED,
    FORCED_COMMAND,
    FORCED_DURATION,
    SELF_CONSUMPTION,
    STOP,
    ControlSpec,
    controls_for,
)
from sungrow.exceptions import HomeAssistantError, ISolarCloudError
from sungrow.states.builder import device_info

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sungrow.cloud.control import DeviceSettings
    from sungrow.cloud.discovery import Discovery
    from sungrow.storage import JsonFile

_LOGGER = logging.getLogger(__name__)
REFRESH_EVERY = 1800.0
MAINTAIN_EVERY = 30.0
# Stop, self-consumption: what ends any forced mode.
_BACK_TO_SELF_CONSUMPTION = {BATTERY_COMMAND: STOP, EMS_MODE: SELF_CONSUMPTION}


@dataclass
class ControlledDevice:
    """A device with settings, and the values its entities show."""

    identifier: str
    label: str
    uuid: str
    specs: tuple[ControlSpec, ...]
    values: dict[str, str | None] = field(default_factory=dict)
    # code -> (unit, step) as the device's read-back gave them: how its raw values count
    formats: dict[str, tuple[str, str]] = field(default_factory=dict)
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)

    def spec(self, key: str) -> ControlSpec | None:
        """Return the control with this key."""
        return next((spec for spec in self.specs if spec.key == key), None)

    def steps(self, spec: ControlSpec) -> float | None:
        """Return the raw steps per unit of a number control (None: not known yet)."""
        unit, precision = self.formats.get(spec.code or "", ("", ""))
        return spec.steps(unit, precision)

    def raw(self, spec: ControlSpec, value: str) -> str | None:
        """Return the raw value of a value as the control shows it (None: not known)."""
        if spec.platform != "number":
            with contextlib.suppress(ValueError):
                return spec.raw(value)
            return None
        steps = self.steps(spec)
        return None if steps is None else str(round(float(value) * steps))

    def shown(self, spec: ControlSpec, raw: str) -> str | None:
        """Return a raw value as the control shows it."""
        return spec.shown(raw, self.steps(spec))

    @property
    def codes(self) -> list[str]:
        """Return the parameter codes its controls read and write."""
        return [spec.code for spec in self.specs if spec.code is not None]


@dataclass(kw_only=True)
class ControlPanel:
    """Every controllable device, the commands in flight and the forced modes' ends."""

    settings: DeviceSettings
    file: JsonFile | None = None
    clock: Callable[[], float] = time.time
    on_change: Callable[[], Awaitable[None]] | None = None
    devices: dict[str, ControlledDevice] = field(default_factory=dict)
    permitted: bool = True
    # uuid -> epoch seconds at which its forced mode ends; uuid -> minutes a forced mode lasts
    ends: dict[str, float] = field(default_factory=dict)
    durations: dict[str, int] = field(default_factory=dict)
    _refreshed_at: float | None = field(default=None, init=False)
    _reverting: set[str] = field(default_factory=set, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    # What fails again by itself (a revert, a read-back), by device: logged once.
    _failing: dict[str, str] = field(default_factory=dict, init=False)

    @classmethod
    def from_dict(
        cls, settings: DeviceSettings, file: JsonFile | None, data: dict[str, Any], **kwargs: Any
    ) -> ControlPanel:
        """Return a panel with the forced modes' ends saved by `_save` (bad entries dropped)."""
        ends = data.get("ends") if isinstance(data.get("ends"), dict) else {}
        durations = data.get("durations") if isinstance(data.get("durations"), dict) else {}
        return cls(
            settings=settings,
            file=file,
            ends={
                str(uuid): float(end)
                for uuid, end in (ends or {}).items()
                if isinstance(end, int | float) and not isinstance(end, bool)
            },
            durations={
                str(uuid): minutes
                for uuid, minutes in (durations or {}).items()
                if isinstance(minutes, int)
                and FORCED_DURATION.minimum <= minutes <= FORCED_DURATION.maximum
            },
            **kwargs,
        )

    def describe(self, discovery: Discovery) -> None:
        """Learn the controllable devices of the plants found."""
        devices: dict[str, ControlledDevice] = {}
        for entry in discovery.plants:
            has_battery = any(device.device_type == BATTERY for device in entry.devices)
            for device in entry.devices:
                specs = controls_for(
                    device.device_type, plant_has_battery=has_battery, model=device.model
                )
                if not specs or device.uuid is None or device.device_type == PLANT_DEVICE_TYPE:
                    continue
                identifier = device_info(entry.plant, device).identifier
                known = self.devices.get(identifier)
                devices[identifier] = ControlledDevice(
                    identifier=identifier,
                    label=f"{entry.plant.name} {device.label}",
                    uuid=device.uuid,
                    specs=specs,
                    values=known.values if known else {},
                    formats=known.formats if known else {},
                )
                if any(spec.key == FORCED_DURATION.key for spec in specs):
                    devices[identifier].values[FORCED_DURATION.key] = str(
                        self.durations.get(device.uuid, DEFAULT_DURATION_MIN)
                    )
        if devices.keys() != self.devices.keys():
            self._refreshed_at = None  # new devices: read their values at once
            self._wake.set()
        self.devices = devices

    def state(self, identifier: str) -> dict[str, str | None]:
        """Return the values a device's control entities show (None: unknown)."""
        device = self.devices[identifier]
        return {spec.key: device.values.get(spec.key) for spec in device.specs}

    async def maintain(self) -> None:
        """End the forced modes that are due; read the values back when due."""
        now = self.clock()
        for device in list(self.devices.values()):
            end = self.ends.get(device.uuid)
            if end is not None and now >= end and device.uuid not in self._reverting:
                await self._revert(device)
        if (
            self.permitted
            and self.devices
            and (self._refreshed_at is None or now - self._refreshed_at >= REFRESH_EVERY)
        ):
            self._refreshed_at = now
            for device in list(self.devices.values()):
                if not device.busy.locked():  # a setting under way reads back itself
                    async with device.busy:
                        await self._read_back(device)
            await self._changed()

    async def run(self) -> None:
        """Maintain every 30 seconds, and at once when new devices are found, until cancelled."""
        while True:
            self._wake.clear()
            await self.maintain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), MAINTAIN_EVERY)

    async def command(self, identifier: str, key: str, payload: str) -> None:
        """Carry out one command from Home Assistant; log why when it is not carried out."""
        device = self.devices.get(identifier)
        spec = device.spec(key) if device else None
        if device is None or spec is None:
            _LOGGER.warning("No setting %s on %s: command ignored", key, identifier)
            return
        name = f"{device.label} {spec.name}"
        try:
            value = spec.raw(payload)
        except ValueError as err:
            _LOGGER.warning("Not setting %s: %s", name, err)
            return
        numeric = spec.platform == "number" and spec.code is not None
        raw = device.raw(spec, value) if numeric else value
        if raw is None:
            _LOGGER.warning(
                "Not setting %s: its unit on the device is not known yet (its settings could "
                "not be read back); try again later",
                name,
            )
            return
        if not self.permitted:
            _LOGGER.warning(
                "Not setting %s: this application may not change settings (see the log above)",
                name,
            )
            return
        if device.busy.locked():
            _LOGGER.warning("Not setting %s: a setting of this device is still under way", name)
            return
        async with device.busy:
            await self._carry_out(device, spec, raw, name)
        await self._changed()

    async def _carry_out(
        self, device: ControlledDevice, spec: ControlSpec, raw: str, name: str
    ) -> None:
        if spec.key == FORCED_DURATION.key:
            minutes = round(float(raw))
            device.values[spec.key] = str(minutes)
            self.durations[device.uuid] = minutes
            self._save()
            return
        values = self._parameters(device, spec, raw)
        if values is None:
            return
        old, new = device.values.get(spec.key), device.shown(spec, raw)
        _LOGGER.info("Setting %s from %s to %s", name, old, new)
        try:
            confirmed = await self.settings.write(
                device.uuid, values, task_name=f"Home Assistant {spec.key}"
            )
        except (ControlError, ISolarCloudError) as err:
            self._refused(f"{name} not set", err)
            await self._read_back(device)
            return
        self._show(device, confirmed)
        _LOGGER.info("%s is now %s (confirmed by the device)", name, new)
        self._arm(device, values)

    def _parameters(
        self, device: ControlledDevice, spec: ControlSpec, raw: str
    ) -> dict[str, str] | None:
        """Return the parameters one command sets (a forced command also sets the mode)."""
        assert spec.code is not None  # noqa: S101 - only the duration has none
        if spec.key == FORCED_COMMAND.key:
            if raw == STOP:
                return dict(_BACK_TO_SELF_CONSUMPTION)
            power = _raw_of(device, BATTERY_POWER)
            if power is None:
                _LOGGER.warning(
                    "Not setting %s %s: the forced power is not known yet; set it first",
                    device.label,
                    spec.name,
                )
                return None
            return {BATTERY_COMMAND: raw, EMS_MODE: FORCED, BATTERY_POWER: power}
        if spec.key == ENERGY_MANAGEMENT_MODE.key and raw == SELF_CONSUMPTION:
            return dict(_BACK_TO_SELF_CONSUMPTION)
        if spec.code == FEED_IN_LIMIT and _raw_of(device, FEED_IN_SWITCH) != ENABLE:
            _LOGGER.warning(
                "Not setting %s %s: turn the feed-in limitation on first",
                device.label,
                spec.name,
            )
            return None
        return {spec.code: raw}

    def _arm(self, device: ControlledDevice, values: dict[str, str]) -> None:
        """Start or end a forced mode's countdown after a confirmed setting."""
        mode = values.get(EMS_MODE)
        if mode in EXPIRING_MODES or values.get(BATTERY_COMMAND) in (CHARGE, DISCHARGE):
            minutes = self.durations.get(device.uuid, DEFAULT_DURATION_MIN)
            self.ends[device.uuid] = self.clock() + minutes * 60
            end = datetime.fromtimestamp(self.ends[device.uuid], UTC).isoformat(timespec="minutes")
            _LOGGER.info(
                "%s goes back to self-consumption at %s (%d minutes)", device.label, end, minutes
            )
        elif mode == SELF_CONSUMPTION:
            self.ends.pop(device.uuid, None)
        self._save()

    async def _revert(self, device: ControlledDevice) -> None:
        """Return a device to self-consumption at its forced mode's end (until it confirms)."""
        self._reverting.add(device.uuid)
        try:
            async with device.busy:
                _LOGGER.info("%s: the forced mode ends; back to self-consumption", device.label)
                confirmed = await self.settings.write(
                    device.uuid,
                    dict(_BACK_TO_SELF_CONSUMPTION),
                    task_name="Home Assistant end of forced mode",
                )
        except (ControlError, ISolarCloudError) as err:
            self._refused(f"{device.label} not back in self-consumption", err, again=device.uuid)
            return
        finally:
            self._reverting.discard(device.uuid)
        if self._failing.pop(device.uuid, None) is not None:
            _LOGGER.info("%s is back in self-consumption", device.label)
        self.ends.pop(device.uuid, None)
        self._save()
        self._show(device, confirmed)
        await self._changed()

    async def _read_back(self, device: ControlledDevice) -> None:
        """Show what the device holds; keep the values shown when it cannot be read."""
        if not self.permitted:
            return
        try:
            rows = await self.settings.read(
                device.uuid, device.codes, task_name="Home Assistant read-back"
            )
        except (ControlError, ISolarCloudError) as err:
            self._refused(
                f"Cannot read the settings of {device.label}", err, again=device.identifier
            )
            return
        if self._failing.pop(device.identifier, None) is not None:
            _LOGGER.info("The settings of %s can be read again", device.label)
        for code, row in rows.items():
            device.formats[code] = (row.unit, row.precision)
        self._show(device, {code: row.raw_value or "" for code, row in rows.items()})

    def _show(self, device: ControlledDevice, raw_values: dict[str, str]) -> None:
        for spec in device.specs:
            if spec.code in raw_values:
                device.values[spec.key] = device.shown(spec, raw_values[spec.code])

    def _refused(self, what: str, err: Exception, *, again: str | None = None) -> None:
        """Log why a setting failed; a failure that repeats by itself (`again`) only once."""
        if isinstance(err, ControlNotPermittedError):
            if self.permitted:
                _LOGGER.error("%s; the control entities are unavailable", err)
            self.permitted = False
            return
        level = logging.DEBUG if again is not None and again in self._failing else logging.WARNING
        if again is not None:
            self._failing[again] = str(err)
        then = " (trying again every 30 s)" if again is not None else ""
        _LOGGER.log(level, "%s: %s%s", what, err, then)

    def _save(self) -> None:
        if self.file is not None:
            self.file.save({"ends": self.ends, "durations": self.durations})

    async def _changed(self) -> None:
        if self.on_change is not None:
            with contextlib.suppress(HomeAssistantError):  # sent when the broker is back
                await self.on_change()


def _raw_of(device: ControlledDevice, code: str) -> str | None:
    """Return the raw value a device's control of `code` shows, None when unknown."""
    spec = next((spec for spec in device.specs if spec.code == code), None)
    shown = device.values.get(spec.key) if spec is not None else None
    return None if spec is None or shown is None else device.raw(spec, shown)
