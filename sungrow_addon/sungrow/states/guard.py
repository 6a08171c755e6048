"""The counter guard: energy counters reach Home Assistant only as the meter really moves.

Home Assistant's long-term statistics keep every mistake: a lifetime total that dips and comes
back is counted twice, a daily counter that drops to 0 at noon is a new meter cycle, and one
absurd reading accepted as a rise would hold every true value below it for good. The cloud
does all of these (recomputed totals, glitches, late midnight resets, overflow values), so:

- a lifetime total never goes down, and a first-ever 0 is not published (it would make the
  next real reading count as energy of that hour);
- a daily counter may go down only on a new plant-local day, or in the first hour after the
  plant's midnight when it falls to less than half (the cloud's reset can arrive late);
- a rise larger than the plant can physically make in the time since the last accepted value
  (its largest power seen, doubled, times the elapsed time) is a suspect: held, and accepted
  only when the next readings go on rising from it; a reading back at the plausible level
  drops the suspect, so one glitch never freezes a counter;
- a negative reading is impossible for a counter (a live plant once reported a total load
  consumption of -478739.743 Wh): it is neither published nor remembered.

The memory (accepted values, and each plant's largest plausible power) lives in the data
folder; the counters are keyed by what identifies the data (plant, device, point), not by the
entity id, so that a renamed entity cannot inherit another device's memory.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sungrow.cloud.models import device_type_of
from sungrow.storage import SaveResult

if TYPE_CHECKING:
    from sungrow.storage import JsonFile

_LOGGER = logging.getLogger(__name__)
# In the first hour after midnight a daily counter may restart: a drop to below this share.
RESET_SHARE = 0.5
# A home plant with a wallbox moves less than this; larger plants prove more by their readings.
POWER_FLOOR_W = 25_000.0
# The bound is this many times the largest power seen (inverters are rated above their output).
POWER_MARGIN = 2.0
# One reading may raise the plant's largest power by at most this factor (a power glitch must
# not open the door to energy glitches).
POWER_GROWTH = 4.0
# The cloud rounds values: rises this small are never suspect.
SLACK_WH = 100.0
# Readings at a suspect's level that make it true.
CONFIRMATIONS = 2


class Moment(NamedTuple):
    """When a reading is judged: epoch seconds, plant-local time (aware), the reading's day."""

    epoch: float
    local: datetime
    day: date


class _Seen(NamedTuple):  # a named tuple: a poll makes hundreds, a tuple is made fastest
    value: float
    day: date
    since: float  # epoch seconds when this value was first accepted


@dataclass
class _Suspect:
    value: float
    at: float
    confirmations: int = 0


@dataclass
class CounterGuard:
    """Remembers the last accepted value of every energy counter and each plant's power."""

    file: JsonFile | None = None
    memory: dict[str, _Seen] = field(default_factory=dict)
    largest_power: dict[str, float] = field(default_factory=dict)
    _suspects: dict[str, _Suspect] = field(default_factory=dict, init=False)
    _changed: bool = field(default=False, init=False)
    _warned: set[str] = field(default_factory=set, init=False)

    @classmethod
    def from_dict(
        cls, file: JsonFile | None, data: dict[str, Any], *, now: float | None = None
    ) -> CounterGuard:
        """Restore the memory saved by `save`; entries that do not parse are dropped.

        Entries saved before the acceptance time was kept count as accepted `now`.
        """
        loaded_at = time.time() if now is None else now
        counters = data.get("counters")
        memory = {}
        for key, entry in counters.items() if isinstance(counters, dict) else ():
            seen = _seen(entry, loaded_at)
            if seen is not None:
                memory[str(key)] = seen
        powers = data.get("largest_power")
        largest = {
            str(plant): float(watts)
            for plant, watts in (powers.items() if isinstance(powers, dict) else ())
            if isinstance(watts, int | float) and 0 < watts < float("inf")
        }
        return cls(file, memory, largest)

    def adopt(self, key: str, legacy: str) -> None:
        """Move memory saved under an older key (the entity id) to the counter's key."""
        if key not in self.memory and legacy in self.memory:
            self.memory[key] = self.memory.pop(legacy)
            self._changed = True

    def counters_of(self, device_type: int) -> set[str]:
        """Return the keys of the counters remembered for devices of a type."""
        keys = set()
        for identity in self.memory:  # <ps_id>/<ps_key>/<key>
            _plant, _, rest = identity.partition("/")
            ps_key, _, key = rest.rpartition("/")
            if device_type_of(ps_key) == device_type:
                keys.add(key)
        return keys

    def observe_power(self, plant: str, watts: float) -> None:
        """Learn how much power a plant can move from a reading of one of its power points."""
        watts = abs(watts)
        known = self.largest_power.get(plant, 0.0)
        if known < watts <= POWER_GROWTH * max(known, POWER_FLOOR_W):
            self.largest_power[plant] = watts
            self._changed = True

    def lifetime(self, key: str, value: float, *, plant: str, at: Moment) -> float | None:
        """Return what to publish for a lifetime total; None when nothing should be."""
        if self._is_impossible(key, value):
            return None
        seen = self.memory.get(key)
        if seen is None:
            if value == 0:
                _LOGGER.debug("Not publishing %s: a lifetime total of 0 first", key)
                return None
            return self._accept(key, value, at)
        if value < seen.value:
            return self._hold(key, seen, value)
        return self._rise(key, seen, value, plant=plant, at=at)

    def daily(self, key: str, value: float, *, plant: str, at: Moment) -> float | None:
        """Return what to publish for a counter that restarts every plant-local day."""
        if self._is_impossible(key, value):
            return None
        seen = self.memory.get(key)
        if seen is not None and at.day < seen.day:
            return self._hold(key, seen, value)  # a late reading of an earlier day
        if seen is None or at.day > seen.day:
            return self._first_of_day(key, seen, value, plant=plant, at=at)
        if value >= seen.value:
            return self._rise(key, seen, value, plant=plant, at=at)
        if at.local.hour == 0 and value < seen.value * RESET_SHARE:
            return self._accept(key, value, at)
        return self._hold(key, seen, value)

    def save(self) -> None:
        """Write the memory to the data folder if it changed."""
        if self.file is not None and self._changed:
            counters = {
                key: [seen.value, seen.day.isoformat(), seen.since]
                for key, seen in self.memory.items()
            }
            saved = self.file.save({"counters": counters, "largest_power": self.largest_power})
            self._changed = saved is SaveResult.FAILED

    def _bound(self, plant: str, seconds: float) -> float:
        """Return the most energy (Wh) the plant can count in `seconds`."""
        watts = POWER_MARGIN * max(self.largest_power.get(plant, 0.0), POWER_FLOOR_W)
        return watts * seconds / 3600 + SLACK_WH

    def _first_of_day(
        self, key: str, seen: _Seen | None, value: float, *, plant: str, at: Moment
    ) -> float | None:
        """Accept a day's first value if the plant can have made it since midnight."""
        midnight = at.local.replace(hour=0, minute=0, second=0, microsecond=0)
        since_midnight = max((at.local - midnight).total_seconds(), 300.0)
        if value <= self._bound(plant, since_midnight):
            return self._accept(key, value, at)
        return self._suspect(key, seen, value, plant=plant, at=at)

    def _rise(self, key: str, seen: _Seen, value: float, *, plant: str, at: Moment) -> float | None:
        if value - seen.value <= self._bound(plant, max(at.epoch - seen.since, 0.0)):
            return self._accept(key, value, at)
        return self._suspect(key, seen, value, plant=plant, at=at)

    def _suspect(
        self, key: str, seen: _Seen | None, value: float, *, plant: str, at: Moment
    ) -> float | None:
        """Hold an implausible reading until the next readings continue from it."""
        suspect = self._suspects.get(key)
        # Only a suspect that goes on rising is a counter: a value stuck at a glitch is not.
        continues = suspect is not None and (
            suspect.value < value <= suspect.value + self._bound(plant, at.epoch - suspect.at)
        )
        if suspect is not None and continues:
            suspect.confirmations += 1
            suspect.value, suspect.at = value, at.epoch
            if suspect.confirmations >= CONFIRMATIONS:
                _LOGGER.info("%s: the readings confirm the jump to %s; taking it", key, value)
                return self._accept(key, value, at)
        else:
            self._suspects[key] = _Suspect(value, at.epoch)
            self._warn_once(
                key,
                f"iSolarCloud reported {value} for {key}, more than the plant can have made "
                "since the last reading: holding it until the next readings confirm it",
            )
        return None if seen is None else seen.value

    def _is_impossible(self, key: str, value: float) -> bool:
        """Return True for a negative reading; warn about it once per counter."""
        if value >= 0:
            return False
        self._warn_once(
            key,
            f"iSolarCloud reported {value} for {key}, an energy counter cannot be negative: "
            "not publishing it (the last good value stays)",
        )
        return True

    def _warn_once(self, key: str, message: str) -> None:
        """Log the first doubt about a counter; later ones at debug."""
        _LOGGER.log(logging.DEBUG if key in self._warned else logging.WARNING, "%s", message)
        self._warned.add(key)

    def _accept(self, key: str, value: float, at: Moment) -> float:
        self._suspects.pop(key, None)
        seen = self.memory.get(key)
        if seen is None or seen.value != value or seen.day != at.day:
            self.memory[key] = _Seen(value, at.day, at.epoch)
            self._changed = True
        return value

    def _hold(self, key: str, seen: _Seen, value: float) -> float:
        _LOGGER.debug("Holding %s at %s: the cloud sent %s", key, seen.value, value)
        return seen.value


def _seen(entry: object, loaded_at: float) -> _Seen | None:
    """Read one saved entry: [value, day] or [value, day, accepted at]."""
    if not isinstance(entry, list) or len(entry) not in (2, 3):
        return None
    value, day, *since = entry
    if isinstance(value, bool) or not isinstance(value, int | float) or not isinstance(day, str):
        return None
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return None
    accepted = since[0] if since else loaded_at
    if isinstance(accepted, bool) or not isinstance(accepted, int | float):
        return None
    # Nothing remembered may lie in the future: it would hold the counter until then.
    tomorrow = datetime.fromtimestamp(loaded_at).date() + timedelta(days=1)  # noqa: DTZ006
    if not 0 <= value < float("inf") or not 0 <= accepted <= loaded_at or parsed > tomorrow:
        return None
    return _Seen(float(value), parsed, float(accepted))
