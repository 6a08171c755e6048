"""Freshness: numbers the cloud stopped updating turn `unavailable` instead of looking live."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .homeassistant import SensorState

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

UNAVAILABLE = "unavailable"
# The cloud refreshes its data about every 5 minutes: whatever the poll interval, a device is
# stale only after three of those refreshes went by without a new timestamp.
MIN_REFRESH = 300.0
STALE_POLLS = 3


@dataclass
class Freshness:
    """Watches each device's `device_time` and each sensor's last value."""

    scan_interval: float
    _device_times: dict[str, tuple[datetime, float]] = field(default_factory=dict)
    _last_value: dict[str, tuple[float, Mapping[str, Any]]] = field(default_factory=dict)

    @property
    def stale_after(self) -> float:
        """Return the seconds after which a silent device or sensor is stale."""
        return STALE_POLLS * max(self.scan_interval, MIN_REFRESH)

    def device_is_stale(self, ps_key: str, device_time: datetime | None, now: float) -> bool:
        """Record a device's data time; True when it has not advanced for too long."""
        if device_time is None:
            return False
        known = self._device_times.get(ps_key)
        if known is None or device_time != known[0]:
            self._device_times[ps_key] = (device_time, now)
            return False
        return now - known[1] > self.stale_after

    def published(self, states: Iterable[SensorState], now: float) -> None:
        """Record the sensors that got a value in this cycle."""
        for state in states:
            if state.state != UNAVAILABLE:
                self._last_value[state.entity_id] = (now, state.attributes)

    def lapsed(self, fresh: set[str], now: float) -> list[SensorState]:
        """Return `unavailable` for every sensor without a value for too long."""
        return [
            SensorState(entity_id=entity_id, state=UNAVAILABLE, attributes=attributes)
            for entity_id, (at, attributes) in self._last_value.items()
            if entity_id not in fresh and now - at > self.stale_after
        ]
