"""What the account holds: its plants and their devices, found without the user's help."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sungrow.cloud.models import PLANT_DEVICE_TYPE, Device, Plant
from sungrow.exceptions import ISolarCloudResponseError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sungrow.cloud.client import ISolarCloud

# Codes meaning "this application may not list devices": the plant's own data still works.
_DEVICE_LIST_REFUSED = frozenset({"E900", "E996"})


@dataclass(frozen=True, kw_only=True)
class PlantDevices:
    """A plant and its devices."""

    plant: Plant
    devices: tuple[Device, ...]


@dataclass(frozen=True, kw_only=True)
class Discovery:
    """Every plant served, with its devices, and when they were found (epoch seconds).

    `unlisted` names the plants whose devices the cloud would not list, with its reason (not
    stored: the next discovery finds out again).
    """

    plants: tuple[PlantDevices, ...]
    found_at: float
    unlisted: dict[str, str] = field(default_factory=dict, compare=False)

    def by_device_type(self) -> dict[int, list[tuple[Plant, Device | None]]]:
        """Group what is read per device type: the plants themselves (type 11) first."""
        groups: dict[int, list[tuple[Plant, Device | None]]] = {
            PLANT_DEVICE_TYPE: [(entry.plant, None) for entry in self.plants]
        }
        for entry in self.plants:
            for device in entry.devices:
                groups.setdefault(device.device_type, []).append((entry.plant, device))
        return groups

    def devices(self) -> Iterator[Device]:
        """Return every device of every plant."""
        for entry in self.plants:
            yield from entry.devices

    def to_dict(self) -> dict[str, Any]:
        """Return the discovery for the cache file in the data folder."""
        return {
            "found_at": self.found_at,
            "plants": [
                {
                    "plant": entry.plant.to_dict(),
                    "devices": [device.to_dict() for device in entry.devices],
                }
                for entry in self.plants
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Discovery | None:
        """Read the cache file's content; None when it does not have the expected shape."""
        try:
            plants = []
            for entry in data["plants"]:
                plant = Plant.from_wire(entry["plant"])
                if plant is None:
                    return None
                devices = (Device.from_wire(item) for item in entry["devices"])
                listed = tuple(device for device in devices if device is not None)
                plants.append(PlantDevices(plant=plant, devices=listed))
            return cls(plants=tuple(plants), found_at=float(data["found_at"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


async def discover(cloud: ISolarCloud, *, wanted: tuple[str, ...], now: float) -> Discovery:
    """List the plants (only the `wanted` ps_ids when given) and the devices of each."""
    plants = await cloud.plants()
    if not plants:
        msg = (
            "The iSolarCloud account sees no plant: log in to the iSolarCloud app with this "
            "account and check that the plant is listed or shared with it"
        )
        raise ISolarCloudResponseError(msg)
    if wanted:
        unknown = sorted(set(wanted) - {plant.ps_id for plant in plants})
        if unknown:
            seen = ", ".join(f"{plant.ps_id} ({plant.name})" for plant in plants)
            msg = (
                f"Plant {', '.join(unknown)} from the 'plants' option is not on this account: "
                f"the account sees {seen}"
            )
            raise ISolarCloudResponseError(msg)
        plants = [plant for plant in plants if plant.ps_id in wanted]
    entries, unlisted = [], {}
    for plant in plants:
        try:
            devices = await cloud.devices(plant.ps_id)
        except ISolarCloudResponseError as err:
            if err.code not in _DEVICE_LIST_REFUSED:
                raise
            unlisted[plant.ps_id] = str(err)
            devices = []
        # The plant pseudo-device is read as the plant itself.
        listed = tuple(device for device in devices if device.device_type != PLANT_DEVICE_TYPE)
        entries.append(PlantDevices(plant=plant, devices=listed))
    return Discovery(plants=tuple(entries), found_at=now, unlisted=unlisted)


def describe(discovery: Discovery) -> str:
    """Return one log line naming every plant (with the ps_id) and device found."""
    parts = []
    for entry in discovery.plants:
        devices = ", ".join(device.label for device in entry.devices) or "no devices listed"
        parts.append(f"{entry.plant.name} (ps_id {entry.plant.ps_id}: {devices})")
    return f"Found {len(discovery.plants)} plant(s): " + "; ".join(parts)
