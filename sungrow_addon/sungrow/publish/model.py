"""What the publishers are given: sensors as Home Assistant will store them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


@dataclass(frozen=True)
class PublishReport:
    """How many states were sent, and whether Home Assistant had lost the others."""

    sent: int
    restored: bool


@dataclass(frozen=True, kw_only=True)
class SensorState:
    """One sensor as Home Assistant will store it."""

    entity_id: str
    state: str
    attributes: Mapping[str, Any]


class Publisher(Protocol):
    """Where sensor states go: Home Assistant, or the terminal in the demo."""

    async def publish(self, states: Sequence[SensorState]) -> PublishReport:
        """Publish the states; raise HomeAssistantError when one could not be published."""

    async def time_zone(self) -> str | None:
        """Return Home Assistant's time zone name, None when it cannot be asked."""
