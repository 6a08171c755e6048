"""The plants' lifetime counters at each full UTC hour, from the live polls.

The cloud keeps no minute history of the current day (the portal says so), so today's hours
come from the polls: the counter at an hour's end is interpolated between the readings just
before and just after it, or, when the add-on has just started, taken from the first reading
shortly after it. Hours no reading comes near (the add-on, the network or the cloud was away)
have no value here; the keeper fills them from the minute history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sungrow.history.hourly import FLOWS

# Two readings further apart than this are not interpolated (a poll or more went missing).
MAX_SPAN = timedelta(minutes=20)
# A first reading this soon after an hour's end stands for the counter at the end.
MAX_LATE = timedelta(minutes=10)


@dataclass(frozen=True)
class Boundary:
    """A plant's lifetime counters (Wh, by point id) at the full UTC hour `at`."""

    at: datetime
    counters: dict[str, float]


@dataclass
class LiveCounters:
    """Turns each plant's polled counters into their values at the full hours."""

    _last: dict[str, tuple[datetime, dict[str, float]]] = field(default_factory=dict)

    def observe(self, ps_id: str, at: datetime, values: dict[str, float | None]) -> Boundary | None:
        """Note a reading taken at `at` (aware); return the hour it closes, if it closes one."""
        at = at.astimezone(UTC)
        counters = {
            flow.point_id: value
            for flow in FLOWS
            if (value := values.get(flow.point_id)) is not None
        }
        if not counters:
            return None
        hour = at.replace(minute=0, second=0, microsecond=0)
        last = self._last.get(ps_id)
        if last is not None and at <= last[0]:
            return None  # the same data again (the cloud had nothing newer), or older
        self._last[ps_id] = (at, counters)
        if last is not None and last[0] >= hour:
            return None  # no full hour since the last reading
        if last is not None and at - last[0] <= MAX_SPAN:
            before, earlier = last
            share = (hour - before) / (at - before)
            return Boundary(
                hour,
                {
                    point: earlier[point] + (value - earlier[point]) * share
                    for point, value in counters.items()
                    if point in earlier
                },
            )
        return Boundary(hour, counters) if at - hour <= MAX_LATE else None
