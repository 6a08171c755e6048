"""The counter guard: energy counters reach Home Assistant only as the meter really moves.

Home Assistant's long-term statistics keep every mistake: a lifetime total that dips and comes
back is counted twice, a daily counter that drops to 0 at noon is a new meter cycle. The cloud
does both (recomputed totals, glitches, late midnight resets), so:

- a lifetime total never goes down, and a first-ever 0 is not published (it would make the
  next real reading count as energy of that hour);
- a daily counter may go down only on a new plant-local day, or in the first hour after the
  plant's midnight when it falls to less than half (the cloud's reset can arrive late);
- a negative reading is impossible for a counter (a live plant once reported a total load
  consumption of -478739.743 Wh): it is neither published nor remembered.

Anything else is held at the last value. The memory lives in the data folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from .storage import JsonFile

_LOGGER = logging.getLogger(__name__)
# In the first hour after midnight a daily counter may restart: a drop to below this share.
RESET_SHARE = 0.5


@dataclass(frozen=True)
class _Seen:
    value: float
    day: date


@dataclass
class CounterGuard:
    """Remembers the last accepted value (and its plant-local day) of every energy counter."""

    file: JsonFile | None = None
    memory: dict[str, _Seen] = field(default_factory=dict)
    _changed: bool = field(default=False, init=False)
    _impossible: set[str] = field(default_factory=set, init=False)

    @classmethod
    def from_dict(cls, file: JsonFile | None, data: dict[str, Any]) -> CounterGuard:
        """Restore the memory saved by `save`; entries that do not parse are dropped."""
        memory = {}
        for entity_id, entry in data.get("counters", {}).items():
            try:
                value, day = entry
                memory[entity_id] = _Seen(float(value), date.fromisoformat(day))
            except (TypeError, ValueError):
                continue
        return cls(file, memory)

    def lifetime(self, entity_id: str, value: float, *, day: date) -> float | None:
        """Return what to publish for a lifetime total; None when nothing should be."""
        if self._is_impossible(entity_id, value):
            return None
        seen = self.memory.get(entity_id)
        if seen is None:
            if value == 0:
                _LOGGER.debug("Not publishing %s: a lifetime total of 0 first", entity_id)
                return None
            return self._accept(entity_id, value, day)
        if value < seen.value:
            return self._hold(entity_id, seen, value)
        return self._accept(entity_id, value, day)

    def daily(
        self, entity_id: str, value: float, *, day: date, local_time: datetime
    ) -> float | None:
        """Return what to publish for a counter that restarts every plant-local day."""
        if self._is_impossible(entity_id, value):
            return None
        seen = self.memory.get(entity_id)
        if seen is None or value >= seen.value or day > seen.day:
            return self._accept(entity_id, value, day)
        if local_time.hour == 0 and value < seen.value * RESET_SHARE:
            return self._accept(entity_id, value, day)
        return self._hold(entity_id, seen, value)

    def save(self) -> None:
        """Write the memory to the data folder if it changed."""
        if self.file is not None and self._changed:
            counters = {k: [seen.value, seen.day.isoformat()] for k, seen in self.memory.items()}
            self.file.save({"counters": counters})
            self._changed = False

    def _is_impossible(self, entity_id: str, value: float) -> bool:
        """Return True for a negative reading; warn about it once per counter."""
        if value >= 0:
            return False
        if entity_id not in self._impossible:
            self._impossible.add(entity_id)
            _LOGGER.warning(
                "iSolarCloud reported %s for %s, an energy counter cannot be negative: not "
                "publishing it (the last good value stays)",
                value,
                entity_id,
            )
        return True

    def _accept(self, entity_id: str, value: float, day: date) -> float:
        if self.memory.get(entity_id) != (seen := _Seen(value, day)):
            self.memory[entity_id] = seen
            self._changed = True
        return value

    def _hold(self, entity_id: str, seen: _Seen, value: float) -> float:
        _LOGGER.debug("Holding %s at %s: the cloud sent %s", entity_id, seen.value, value)
        return seen.value
