"""What the publishers are given: sensors as Home Assistant will know them, and their states.

A `Sensor` is what stays the same from poll to poll (built once per discovery): its entity id,
a unique id derived from what identifies the data (plant, device, point), the device it
belongs to, and the attributes Home Assistant shows and keeps statistics by. A `SensorState`
is one poll's value of it. REST posts entity id, state and attributes; MQTT announces the
sensor once through discovery and then sends the states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

UNAVAILABLE = "unavailable"


@dataclass(frozen=True, kw_only=True)
class DeviceInfo:
    """A device in Home Assistant: a plant, or an inverter, battery, meter … of a plant."""

    identifier: str
    name: str
    model: str | None = None
    serial_number: str | None = None
    via: str | None = None  # the identifier of the device this one is reached through


@dataclass(frozen=True, kw_only=True)
class Sensor:
    """One sensor: what identifies it and describes it, the same from poll to poll.

    A sensor known only from the data folder (from before a restart) has no unique id and no
    device: it can still be marked unavailable over REST.
    """

    entity_id: str
    attributes: Mapping[str, Any] = field(hash=False)
    unique_id: str | None = None
    key: str = ""
    name: str = ""
    device: DeviceInfo | None = None
    diagnostic: bool = False
    precision: int | None = None


class SensorState(NamedTuple):
    """A sensor's value in one poll, as the text Home Assistant stores ("unavailable" too).

    A named tuple: a poll makes one per sensor, and a tuple is made fastest.
    """

    sensor: Sensor
    state: str

    @property
    def entity_id(self) -> str:
        """Return the sensor's entity id."""
        return self.sensor.entity_id

    @property
    def attributes(self) -> Mapping[str, Any]:
        """Return the sensor's attributes."""
        return self.sensor.attributes

    @property
    def available(self) -> bool:
        """Return False when the sensor is to show as unavailable."""
        return self.state != UNAVAILABLE


@dataclass(frozen=True)
class PublishReport:
    """How many states were sent, and whether Home Assistant had lost the others."""

    sent: int
    restored: bool


class Publisher(Protocol):
    """Where sensor states go: Home Assistant (REST or MQTT), or the terminal in the demo."""

    async def describe(self, sensors: Sequence[Sensor]) -> None:
        """Learn every sensor there is now (after each discovery of plants and devices)."""

    async def publish(self, states: Sequence[SensorState]) -> PublishReport:
        """Publish the states; raise HomeAssistantError when one could not be published."""

    async def time_zone(self) -> str | None:
        """Return Home Assistant's time zone name, None when it cannot be asked."""
