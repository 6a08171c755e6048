"""Turning readings into sensor states: catalog, counter guard, derived values, diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from sungrow.cloud.models import PLANT_DEVICE_TYPE
from sungrow.publish.model import SensorState
from sungrow.states.derived import derived_for
from sungrow.states.freshness import UNAVAILABLE
from sungrow.states.guard import Moment

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sungrow.cloud.models import Device, Plant, Reading
    from sungrow.states.catalog import Catalog, PointSpec
    from sungrow.states.freshness import Freshness
    from sungrow.states.guard import CounterGuard
    from sungrow.states.naming import EntityNames

_MAX_STATE_LENGTH = 255
DIAGNOSTIC_KEYS = frozenset({"api_calls_last_hour", "last_error", "last_update", "data_time"})
# How far a reading's data time may be from the plant's clock and still count.
DATA_TIME_AHEAD = timedelta(minutes=15)
DATA_TIME_BEHIND = timedelta(days=2)


@dataclass(frozen=True)
class Source:
    """A plant's or a device's reading, and the sane data time that stands for it (or None)."""

    plant: Plant
    device: Device | None
    reading: Reading
    data_time: datetime | None


@dataclass(kw_only=True)
class StateBuilder:
    """Builds what one cycle publishes, with the memory that spans cycles."""

    names: EntityNames
    guard: CounterGuard
    freshness: Freshness
    timezone: tzinfo = UTC
    _data_times: dict[str, datetime] = field(default_factory=dict, init=False)

    def data_time(self, reading: Reading, now: float) -> datetime | None:
        """Return a reading's data time in the plant's zone; None when absent or not sane.

        A time far ahead of the plant's clock (one reading was stamped 2099) or days behind
        it would decide the day of every daily counter: it does not count.
        """
        if reading.device_time is None:
            return None
        stamped = reading.device_time.replace(tzinfo=self.timezone)
        clock = datetime.fromtimestamp(now, self.timezone)
        return stamped if clock - DATA_TIME_BEHIND <= stamped <= clock + DATA_TIME_AHEAD else None

    def reading_states(
        self, source: Source, points: Sequence[PointSpec], *, now: float
    ) -> list[SensorState]:
        """Return the states of one device's reading (`unavailable` when its data is stale)."""
        plant, device, reading, data_time = (
            source.plant,
            source.device,
            source.reading,
            source.data_time,
        )
        marker = data_time if data_time is not None else tuple(sorted(reading.values.items()))
        stale = self.freshness.source_is_stale(f"{plant.ps_id}/{reading.ps_key}", marker, now)
        local_now = datetime.fromtimestamp(now, self.timezone)
        if data_time is not None:
            known = self._data_times.get(plant.ps_id)
            self._data_times[plant.ps_id] = max(data_time, known) if known else data_time
        at = Moment(epoch=now, local=local_now, day=(data_time or local_now).date())
        self._observe_power(plant, reading, points)
        prefix = f"{plant.name} {device.label}" if device else plant.name
        states = []
        for point in points:
            value = reading.values.get(point.point_id)
            entity_id = self.names.entity_id(plant, device, point.key)
            if value is not None and point.counter is not None:
                identity = f"{plant.ps_id}/{reading.ps_key}/{point.key}"
                self.guard.adopt(identity, entity_id)
                count = self.guard.lifetime if point.counter == "lifetime" else self.guard.daily
                value = count(identity, value, plant=plant.ps_id, at=at)
            if value is not None:
                states += _state(entity_id, point, value, f"{prefix} {point.name}")
        device_type = device.device_type if device else PLANT_DEVICE_TYPE
        for derived in derived_for(device_type):
            value = derived.compute(reading.values)
            if value is not None:
                entity_id = self.names.entity_id(plant, device, derived.spec.key)
                states += _state(entity_id, derived.spec, value, f"{prefix} {derived.spec.name}")
        return [replace(state, state=UNAVAILABLE) for state in states] if stale else states

    def _observe_power(self, plant: Plant, reading: Reading, points: Sequence[PointSpec]) -> None:
        """Tell the counter guard how much power the plant moves (its bound for energy)."""
        watts = [
            abs(value * point.factor)
            for point in points
            if point.device_class == "power"
            and point.unit == "W"
            and (value := reading.values.get(point.point_id)) is not None
        ]
        if watts:
            self.guard.observe_power(plant.ps_id, max(watts))

    def diagnostic_states(
        self,
        plant: Plant,
        *,
        last_success: datetime | None,
        calls_last_hour: int,
        error: str,
    ) -> list[SensorState]:
        """Return a plant's diagnostics: last update, cloud data time, calls, last error."""
        entity = self.names.entity_id
        states = [
            SensorState(
                entity_id=entity(plant, None, "api_calls_last_hour"),
                state=str(calls_last_hour),
                attributes={
                    "friendly_name": f"{plant.name} API calls in the last hour",
                    "unit_of_measurement": "calls",
                    "state_class": "measurement",
                    "icon": "mdi:api",
                },
            ),
            SensorState(
                entity_id=entity(plant, None, "last_error"),
                state=error[:_MAX_STATE_LENGTH],
                attributes={"friendly_name": f"{plant.name} Last error", "icon": "mdi:alert"},
            ),
        ]
        for key, name, moment in (
            ("last_update", "Last successful update", last_success),
            ("data_time", "Cloud data time", self._data_times.get(plant.ps_id)),
        ):
            if moment is not None:
                states.append(
                    SensorState(
                        entity_id=entity(plant, None, key),
                        state=moment.isoformat(timespec="seconds"),
                        attributes={
                            "friendly_name": f"{plant.name} {name}",
                            "device_class": "timestamp",
                            "icon": "mdi:clock-check-outline",
                        },
                    )
                )
        return states


def _state(entity_id: str, point: PointSpec, value: float, friendly_name: str) -> list[SensorState]:
    """Return the sensor's state, or nothing when its text would not fit Home Assistant."""
    text = point.state(value)
    if len(text) > _MAX_STATE_LENGTH:
        return []
    return [
        SensorState(entity_id=entity_id, state=text, attributes=point.attributes(friendly_name))
    ]


def sensor_keys(catalog: Catalog, device_type: int) -> frozenset[str]:
    """Return every key a sensor of a device type can have: its points, derived, diagnostics."""
    keys = {point.key for point in catalog.get(device_type).points}
    keys |= {derived.spec.key for derived in derived_for(device_type)}
    return frozenset(keys | (DIAGNOSTIC_KEYS if device_type == PLANT_DEVICE_TYPE else set()))
