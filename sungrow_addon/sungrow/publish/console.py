"""The demo's publisher: the sensors printed to the terminal, then what changed."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from sungrow.publish.model import PublishReport

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sungrow.publish.model import Sensor, SensorState


@dataclass(kw_only=True)
class ConsolePublisher:
    """Prints every sensor (entity id, value, unit) once, then per cycle only the changes.

    Each cycle starts with a line that gives the time and how many sensors changed.
    """

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    now: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())
    _shown: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    async def time_zone(self) -> str | None:
        """Return None: the demo has no Home Assistant to ask."""
        return None

    async def describe(self, sensors: Sequence[Sensor]) -> None:
        """Do nothing: the lines speak for themselves."""

    async def publish(self, states: Sequence[SensorState]) -> PublishReport:
        """Print the cycle's line, then one line per sensor that is new or changed."""
        first = not self._shown
        changed = [state for state in states if self._shown.get(state.entity_id) != _value(state)]
        time = self.now().strftime("%H:%M:%S")
        if first:
            summary = f"{len(states)} sensors"
        elif changed:
            summary = f"{len(changed)} of {len(states)} sensors changed"
        else:
            summary = "no sensor changed"
        lines = [f"{time}  {summary}"]
        width = max((len(state.entity_id) for state in changed), default=0)
        for state in changed:
            before = self._shown.get(state.entity_id)
            value = _value(state)
            shown = value if before is None else f"{before} → {value}"
            lines.append(f"{state.entity_id:<{width}}  {shown}")
            self._shown[state.entity_id] = value
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        return PublishReport(sent=len(changed), restored=False)


def _value(state: SensorState) -> str:
    unit = state.attributes.get("unit_of_measurement", "")
    return f"{state.state} {unit}".rstrip()
