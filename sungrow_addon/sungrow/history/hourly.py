"""Hourly energy rows from lifetime counters, as Home Assistant's statistics hold them.

A row labelled with hour H carries the counter at the end of H (Home Assistant compiles the
hour starting at H from its values at H+1:00, CONTROL_AND_HISTORY.md B2), and its `sum` is
that counter minus an anchor: the counter where the series starts. Each row depends on one
reading only, so any hour can be imported again alone, and the sums never disagree with each
other. Rows start on UTC hours: in a zone like India's (+5:30) the plant's own hours are not
Home Assistant's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import tzinfo

    from sungrow.cloud.models import Frame

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Flow:
    """One energy flow of a plant: the lifetime counter (Wh) it is read from, and its name."""

    key: str
    point_id: str
    name: str


FLOWS = (
    Flow("solar_production", "83024", "Solar production"),
    Flow("grid_import", "83105", "Energy from the grid"),
    Flow("grid_export", "83075", "Energy to the grid"),
    Flow("battery_charge", "83241", "Battery charge"),
    Flow("battery_discharge", "83242", "Battery discharge"),
)


@dataclass(frozen=True)
class HourRow:
    """One row of a statistic: the hour's start (UTC), the counter at its end, the sum (kWh)."""

    start: datetime
    state: float
    sum: float


def counters_on_the_hour(
    frames: Iterable[Frame], point_id: str, zone: tzinfo
) -> dict[datetime, float]:
    """Return a counter's values (Wh) at each full UTC hour the frames hold."""
    found = {}
    for frame in frames:
        value = frame.values.get(point_id)
        at = frame.at.replace(tzinfo=zone).astimezone(UTC)
        if value is not None and at.minute == 0 and at.second == 0:
            found[at] = value
    return found


def hour_rows(counters: dict[datetime, float], anchor_wh: float) -> list[HourRow]:
    """Return a row for each hour whose end the counters know.

    A counter below the anchor or below an earlier hour's (a glitch, a recomputation) gives no
    row: Home Assistant would book a negative hour.
    """
    rows = []
    highest = anchor_wh
    for end in sorted(counters):
        value = counters[end]
        if value < highest:
            continue
        highest = value
        rows.append(HourRow(start=end - HOUR, state=value / 1000, sum=(value - anchor_wh) / 1000))
    return rows
