"""Turning readings into sensor states with the point catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .homeassistant import SensorState

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .catalog import PointSpec
    from .models import Reading


def sensor_states(
    reading: Reading,
    points: Sequence[PointSpec],
    *,
    entity_id: Callable[[str], str],
    name_prefix: str,
) -> list[SensorState]:
    """Return one state per point that has a value; a missing value publishes nothing."""
    states = []
    for point in points:
        value = reading.values.get(point.point_id)
        if value is None:
            continue
        states.append(
            SensorState(
                entity_id=entity_id(point.key),
                state=point.state(value),
                attributes=point.attributes(f"{name_prefix} {point.name}"),
            )
        )
    return states
