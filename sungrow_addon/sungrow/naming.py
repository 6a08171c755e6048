"""Entity ids that stay the same: a plant keeps the name it had when the add-on first saw it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Device, Plant
    from .storage import JsonFile

ENTITY_PREFIX = "sungrow"
_MAX_SLUG_LENGTH = 40


def slugify(text: str) -> str:
    """Return `text` as lowercase ASCII words joined by single underscores."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return slug[:_MAX_SLUG_LENGTH].rstrip("_")


@dataclass
class EntityNames:
    """The entity-id part of every plant and device, remembered in the data folder.

    Renaming a plant in the iSolarCloud app must not rename its sensors, or Home Assistant
    would start new statistics and the Energy dashboard would lose them.
    """

    file: JsonFile
    plants: dict[str, str] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, file: JsonFile, data: dict[str, Any]) -> EntityNames:
        """Restore the names stored in `file` (its parsed content is `data`)."""
        return cls(file, _strings(data.get("plants")), _strings(data.get("devices")))

    def entity_id(self, plant: Plant, device: Device | None, key: str) -> str:
        """Return the entity id of a sensor of a plant, or of one of its devices."""
        parts = [ENTITY_PREFIX, self._plant_slug(plant)]
        if device is not None:
            parts.append(self._device_slug(plant, device))
        return "sensor." + "_".join([*parts, key])

    def _plant_slug(self, plant: Plant) -> str:
        known = self.plants.get(plant.ps_id)
        if known is not None:
            return known
        slug = slugify(plant.name) or f"plant_{plant.ps_id}"
        if slug in self.plants.values():
            slug = f"{slug}_{plant.ps_id}"
        self.plants[plant.ps_id] = slug
        self._save()
        return slug

    def _device_slug(self, plant: Plant, device: Device) -> str:
        known = self.devices.get(device.ps_key)
        if known is not None:
            return known
        base = slugify(device.model) or slugify(device.name) or f"device_{device.device_type}"
        taken = {
            slug for ps_key, slug in self.devices.items() if ps_key.startswith(f"{plant.ps_id}_")
        }
        slug, number = base, 2
        while slug in taken:
            slug, number = f"{base}_{number}", number + 1
        self.devices[device.ps_key] = slug
        self._save()
        return slug

    def _save(self) -> None:
        self.file.save({"plants": self.plants, "devices": self.devices})


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(key): slug for key, slug in value.items() if isinstance(slug, str) and slug}
