"""Turning readings into sensor states: catalog, counter guard, derived values, diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from .derived import derived_for
from .freshness import UNAVAILABLE
from .homeassistant import SensorState
from .models import PLANT_DEVICE_TYPE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .catalog import PointSpec
    from .freshness import Freshness
    from .guard import CounterGuard
    from .models import Device, Plant, Reading
    from .naming import EntityNames

_MAX_STATE_LENGTH = 255


@dataclass(kw_only=True)
class StateBuilder:
    """Builds what one cycle publishes, with the memory that spans cycles."""

    names: EntityNames
    guard: CounterGuard
    freshness: Freshness
    timezone: tzinfo = UTC
    _data_times: dict[str, datetime] = field(default_factory=dict, init=False)

    def reading_states(
        self,
        plant: Plant,
        device: Device | None,
        reading: Reading,
        points: Sequence[PointSpec],
        *,
        now: float,
    ) -> list[SensorState]:
        """Return the states of one device's reading (`unavailable` when its data is stale)."""
        stale = self.freshness.device_is_stale(reading.ps_key, reading.device_time, now)
        local_now = datetime.fromtimestamp(now, self.timezone)
        data_time = (
            reading.device_time.replace(tzinfo=self.timezone) if reading.device_time else None
        )
        if data_time is not None:
            known = self._data_times.get(plant.ps_id)
            self._data_times[plant.ps_id] = max(data_time, known) if known else data_time
        day = (data_time or local_now).date()
        prefix = f"{plant.name} {device.label}" if device else plant.name
        states = []
        for point in points:
            value = reading.values.get(point.point_id)
            entity_id = self.names.entity_id(plant, device, point.key)
            if value is not None and point.counter == "lifetime":
                value = self.guard.lifetime(entity_id, value, day=day)
            elif value is not None and point.counter == "daily":
                value = self.guard.daily(entity_id, value, day=day, local_time=local_now)
            if value is not None:
                states.append(_state(entity_id, point, value, f"{prefix} {point.name}"))
        device_type = device.device_type if device else PLANT_DEVICE_TYPE
        for derived in derived_for(device_type):
            value = derived.compute(reading.values)
            if value is not None:
                entity_id = self.names.entity_id(plant, device, derived.spec.key)
                states.append(
                    _state(entity_id, derived.spec, value, f"{prefix} {derived.spec.name}")
                )
        return [replace(state, state=UNAVAILABLE) for state in states] if stale else states

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


def _state(entity_id: str, point: PointSpec, value: float, friendly_name: str) -> SensorState:
    return SensorState(
        entity_id=entity_id, state=point.state(value), attributes=point.attributes(friendly_name)
    )
