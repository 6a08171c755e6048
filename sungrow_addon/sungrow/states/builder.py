"""Turning readings into sensor states: catalog, counter guard, derived values, diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, NamedTuple

from sungrow.cloud.models import PLANT_DEVICE_TYPE
from sungrow.publish.model import UNAVAILABLE, DeviceInfo, Sensor, SensorState
from sungrow.states.catalog import PointSpec
from sungrow.states.derived import DerivedSpec, derived_for
from sungrow.states.guard import Moment

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sungrow.cloud.discovery import Discovery
    from sungrow.cloud.models import Device, Plant, Reading
    from sungrow.states.catalog import Catalog
    from sungrow.states.freshness import Freshness
    from sungrow.states.guard import CounterGuard
    from sungrow.states.naming import EntityNames

_MAX_STATE_LENGTH = 255
# The last error's state after a poll that went well: a word, not an empty state.
NO_ERROR = "none"
MANUFACTURER = "Sungrow"
# Each plant's diagnostics: how the add-on itself is doing.
API_CALLS = PointSpec(
    point_id="diagnostic:api_calls_last_hour",
    key="api_calls_last_hour",
    name="API calls in the last hour",
    unit="calls",
    precision=0,
    state_class="measurement",
    icon="mdi:api",
    diagnostic=True,
)
LAST_ERROR = PointSpec(
    point_id="diagnostic:last_error",
    key="last_error",
    name="Last error",
    icon="mdi:alert",
    diagnostic=True,
)
LAST_UPDATE = PointSpec(
    point_id="diagnostic:last_update",
    key="last_update",
    name="Last successful update",
    device_class="timestamp",
    icon="mdi:clock-check-outline",
    diagnostic=True,
)
DATA_TIME = PointSpec(
    point_id="diagnostic:data_time",
    key="data_time",
    name="Cloud data time",
    device_class="timestamp",
    icon="mdi:clock-check-outline",
    diagnostic=True,
)
DIAGNOSTICS = (API_CALLS, LAST_ERROR, LAST_UPDATE, DATA_TIME)
DIAGNOSTIC_KEYS = frozenset(spec.key for spec in DIAGNOSTICS)
# How far a reading's data time may be from the plant's clock and still count.
DATA_TIME_AHEAD = timedelta(minutes=15)
DATA_TIME_BEHIND = timedelta(days=2)


class Source(NamedTuple):
    """A plant's or a device's reading, and the sane data time that stands for it (or None)."""

    plant: Plant
    device: Device | None
    reading: Reading
    data_time: datetime | None


# A point as a device's readings use it: point id, spec, sensor, counter identity (or None).
_Planned = tuple[str, PointSpec, Sensor, str | None]


@dataclass(frozen=True)
class _Plan:
    """What one device's readings become: built at its first reading after a discovery."""

    specs: Sequence[PointSpec]
    source: str  # <ps_id>/<ps_key>: how freshness knows the device
    points: tuple[_Planned, ...]
    derived: tuple[tuple[DerivedSpec, _Planned], ...]
    power: tuple[PointSpec, ...]  # the points in W: the counter guard's bound


@dataclass(kw_only=True)
class StateBuilder:
    """Builds what one cycle publishes, with the memory that spans cycles."""

    names: EntityNames
    guard: CounterGuard
    freshness: Freshness
    timezone: tzinfo = UTC
    _data_times: dict[str, datetime] = field(default_factory=dict, init=False)
    _local_now: tuple[float, datetime] | None = field(default=None, init=False, repr=False)
    # Built once per discovery: a renamed plant or device starts new ones.
    _sensors: dict[tuple[str, str | None, str], Sensor] = field(default_factory=dict, init=False)
    _plans: dict[tuple[str, str], _Plan] = field(default_factory=dict, init=False, repr=False)

    def describe(
        self, discovery: Discovery, points: Callable[[int], Sequence[PointSpec]]
    ) -> list[Sensor]:
        """Return every sensor of the plants and devices found, built anew for them."""
        self._sensors.clear()
        self._plans.clear()
        sensors = []
        for entry in discovery.plants:
            for device in (None, *entry.devices):
                device_type = device.device_type if device else PLANT_DEVICE_TYPE
                specs = [*points(device_type), *(d.spec for d in derived_for(device_type))]
                if device is None:
                    specs += DIAGNOSTICS
                sensors += [self.sensor(entry.plant, device, spec) for spec in specs]
        return sensors

    def sensor(self, plant: Plant, device: Device | None, spec: PointSpec) -> Sensor:
        """Return the sensor of a point of a plant or device (kept until the next discovery)."""
        # Text keys: hashing the frozen Plant and Device costs more than building the sensor.
        identity = (plant.ps_id, device.ps_key if device else None, spec.key)
        known = self._sensors.get(identity)
        if known is None:
            holder = device_info(plant, device)
            known = self._sensors[identity] = Sensor(
                entity_id=self.names.entity_id(plant, device, spec.key),
                unique_id=f"{holder.identifier}_{spec.key}",
                key=spec.key,
                name=spec.name,
                device=holder,
                attributes=spec.attributes(f"{holder.name} {spec.name}"),
                diagnostic=spec.diagnostic,
                precision=spec.precision if spec.numeric else None,
            )
        return known

    def data_time(self, reading: Reading, now: float) -> datetime | None:
        """Return a reading's data time in the plant's zone; None when absent or not sane.

        A time far ahead of the plant's clock (one reading was stamped 2099) or days behind
        it would decide the day of every daily counter: it does not count.
        """
        if reading.device_time is None:
            return None
        stamped = reading.device_time.replace(tzinfo=self.timezone)
        clock = self._local(now)
        return stamped if clock - DATA_TIME_BEHIND <= stamped <= clock + DATA_TIME_AHEAD else None

    def reading_states(
        self, source: Source, points: Sequence[PointSpec], *, now: float
    ) -> list[SensorState]:
        """Return the states of one device's reading (`unavailable` when its data is stale)."""
        plant, reading, data_time = source.plant, source.reading, source.data_time
        plan = self._plan(source, points)
        values = reading.values
        # Without a data time, the values mark the data: always in the order the points were asked.
        marker = data_time if data_time is not None else tuple(values.items())
        stale = self.freshness.source_is_stale(plan.source, marker, now)
        local_now = self._local(now)
        if data_time is not None:
            known = self._data_times.get(plant.ps_id)
            self._data_times[plant.ps_id] = max(data_time, known) if known else data_time
        watts = [
            abs(value * point.factor)
            for point in plan.power
            if (value := values.get(point.point_id)) is not None
        ]
        if watts:
            self.guard.observe_power(plant.ps_id, max(watts))
        found = [
            (read, planned)
            for planned in plan.points
            if (read := values.get(planned[0])) is not None
        ]
        for derived, planned in plan.derived:
            computed = derived.compute(values)
            if computed is not None:
                found.append((computed, planned))
        at = Moment(epoch=now, local=local_now, day=(data_time or local_now).date())
        guard = self.guard
        states: list[SensorState] = []
        for value, (_point_id, point, sensor, counter) in found:
            if counter is not None:
                count = guard.lifetime if point.counter == "lifetime" else guard.daily
                counted = count(counter, value, plant=plant.ps_id, at=at)
                if counted is None:
                    continue
                value = counted  # noqa: PLW2901 - the value the guard lets through
            text = point.state(value)
            if len(text) <= _MAX_STATE_LENGTH:  # else Home Assistant would refuse it
                states.append(SensorState(sensor, UNAVAILABLE if stale else text))
        return states

    def _plan(self, source: Source, points: Sequence[PointSpec]) -> _Plan:
        """Return what a device's readings become (worked out once per discovery)."""
        plant, device = source.plant, source.device
        identity = (plant.ps_id, source.reading.ps_key)
        plan = self._plans.get(identity)
        if plan is not None and plan.specs is points:
            return plan

        def planned(spec: PointSpec) -> _Planned:
            sensor = self.sensor(plant, device, spec)
            counter = None
            if spec.counter is not None:
                counter = f"{plant.ps_id}/{source.reading.ps_key}/{spec.key}"
                self.guard.adopt(counter, sensor.entity_id)
            return (spec.point_id, spec, sensor, counter)

        device_type = device.device_type if device else PLANT_DEVICE_TYPE
        plan = self._plans[identity] = _Plan(
            specs=points,
            source="/".join(identity),
            points=tuple(planned(point) for point in points),
            derived=tuple((derived, planned(derived.spec)) for derived in derived_for(device_type)),
            power=tuple(p for p in points if p.device_class == "power" and p.unit == "W"),
        )
        return plan

    def _local(self, now: float) -> datetime:
        """Return `now` in the plants' zone (worked out once per cycle, not per device)."""
        if self._local_now is None or self._local_now[0] != now:
            self._local_now = (now, datetime.fromtimestamp(now, self.timezone))
        return self._local_now[1]

    def diagnostic_states(
        self,
        plant: Plant,
        *,
        last_success: datetime | None,
        calls_last_hour: int,
        error: str,
    ) -> list[SensorState]:
        """Return a plant's diagnostics: last update, cloud data time, calls, last error."""
        states = [
            SensorState(self.sensor(plant, None, API_CALLS), str(calls_last_hour)),
            SensorState(
                self.sensor(plant, None, LAST_ERROR), error[:_MAX_STATE_LENGTH] or NO_ERROR
            ),
        ]
        for spec, moment in (
            (LAST_UPDATE, last_success),
            (DATA_TIME, self._data_times.get(plant.ps_id)),
        ):
            if moment is not None:
                text = moment.isoformat(timespec="seconds")
                states.append(SensorState(self.sensor(plant, None, spec), text))
        return states


def device_info(plant: Plant, device: Device | None) -> DeviceInfo:
    """Return the Home Assistant device a plant's or a device's sensors belong to."""
    plant_id = f"sungrow_{plant.ps_id}"
    if device is None:
        return DeviceInfo(identifier=plant_id, name=plant.name, model="iSolarCloud plant")
    return DeviceInfo(
        # ps_keys hold only letters, digits, "_" and "-" (models.py): fit for MQTT topics.
        identifier=f"{plant_id}_{device.ps_key}",
        name=f"{plant.name} {device.label}",
        model=device.model or None,
        serial_number=device.serial_number,
        via=plant_id,
    )


def sensor_keys(catalog: Catalog, device_type: int) -> frozenset[str]:
    """Return every key a sensor of a device type can have: its points, derived, diagnostics."""
    keys = {point.key for point in catalog.get(device_type).points}
    keys |= {derived.spec.key for derived in derived_for(device_type)}
    return frozenset(keys | (DIAGNOSTIC_KEYS if device_type == PLANT_DEVICE_TYPE else set()))
