"""Freshness: numbers the cloud stopped updating turn `unavailable` instead of looking live.

A source of readings (a device, or a plant) is stale when what marks its data as new has not
changed for `stale_after`: its data time, or, for rows the cloud sends without one, the data
time of the plant's devices or else the values themselves. A sensor is stale when it got no
value for `stale_after`. The sensors' last values survive a restart (kept in the data folder,
written when the set of sensors changes and at most hourly otherwise), so a value the cloud
stopped sending while the add-on was down still turns `unavailable` on time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sungrow.publish.model import UNAVAILABLE, Sensor, SensorState
from sungrow.storage import SaveResult

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable

    from sungrow.storage import JsonFile

# The cloud refreshes its data about every 5 minutes: whatever the poll interval, a device is
# stale only after three of those refreshes went by without a new timestamp.
MIN_REFRESH = 300.0
STALE_POLLS = 3
SAVE_INTERVAL = 3600.0


@dataclass
class Freshness:
    """Watches each source's data marker and each sensor's last value."""

    scan_interval: float
    file: JsonFile | None = None
    _markers: dict[str, tuple[Hashable, float]] = field(default_factory=dict)
    _last_value: dict[str, tuple[float, Sensor]] = field(default_factory=dict)
    _saved: tuple[frozenset[str], float] = (frozenset(), 0.0)

    @classmethod
    def from_dict(
        cls, file: JsonFile | None, data: dict[str, Any], *, scan_interval: float
    ) -> Freshness:
        """Restore the sensors' last values saved by `save`; bad entries are dropped."""
        entries = data.get("sensors")
        last_value: dict[str, tuple[float, Sensor]] = {}
        for entity_id, entry in entries.items() if isinstance(entries, dict) else ():
            if not isinstance(entry, list) or len(entry) != 2:  # noqa: PLR2004
                continue
            at, attributes = entry
            if (
                isinstance(at, int | float)
                and not isinstance(at, bool)
                and isinstance(attributes, dict)
            ):
                # Known from before the restart only: enough to be marked unavailable over REST.
                sensor = Sensor(entity_id=str(entity_id), attributes=attributes)
                last_value[str(entity_id)] = (float(at), sensor)
        freshness = cls(scan_interval, file, _last_value=last_value)
        freshness._saved = (frozenset(last_value), 0.0)
        return freshness

    @property
    def stale_after(self) -> float:
        """Return the seconds after which a silent source or sensor is stale."""
        return STALE_POLLS * max(self.scan_interval, MIN_REFRESH)

    def source_is_stale(self, source: str, marker: Hashable, now: float) -> bool:
        """Record what marks a source's data as new; True when it has not changed for long."""
        known = self._markers.get(source)
        if known is None or marker != known[0]:
            self._markers[source] = (marker, now)
            return False
        return now - known[1] > self.stale_after

    def published(self, states: Iterable[SensorState], now: float) -> None:
        """Record the sensors that got a value in this cycle."""
        last_value = self._last_value
        for sensor, text in states:
            if text != UNAVAILABLE:
                last_value[sensor.entity_id] = (now, sensor)

    def lapsed(self, fresh: set[str], now: float) -> list[SensorState]:
        """Return `unavailable` for every sensor without a value for too long."""
        missing = self._last_value.keys() - fresh
        if not missing:  # the usual poll: every sensor got its value
            return []
        return [
            SensorState(sensor, UNAVAILABLE)
            for entity_id, (at, sensor) in self._last_value.items()
            if entity_id in missing and now - at > self.stale_after
        ]

    def save(self, now: float) -> None:
        """Keep the sensors' last values when the set changed, or an hour after the last time."""
        entities, saved_at = self._saved
        if self.file is None:
            return
        if entities == self._last_value.keys() and now - saved_at < SAVE_INTERVAL:
            return
        sensors = {
            key: [at, dict(sensor.attributes)] for key, (at, sensor) in self._last_value.items()
        }
        if self.file.save({"sensors": sensors}) is not SaveResult.FAILED:
            self._saved = (frozenset(self._last_value), now)
