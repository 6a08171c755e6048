"""The demo's publisher: the sensors printed to the terminal."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from sungrow.publish.model import PublishReport

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sungrow.publish.model import Sensor, SensorState


@dataclass(kw_only=True)
class ConsolePublisher:
    """Prints each sensor (entity_id, value, unit) instead of posting it: the demo's output."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)

    async def time_zone(self) -> str | None:
        """Return None: the demo has no Home Assistant to ask."""
        return None

    async def describe(self, sensors: Sequence[Sensor]) -> None:
        """Do nothing: the lines speak for themselves."""

    async def publish(self, states: Sequence[SensorState]) -> PublishReport:
        """Print one line per sensor."""
        width = max((len(state.entity_id) for state in states), default=0)
        for state in states:
            unit = state.attributes.get("unit_of_measurement", "")
            self.stream.write(f"{state.entity_id:<{width}}  {state.state} {unit}".rstrip() + "\n")
        self.stream.flush()
        return PublishReport(sent=len(states), restored=False)
