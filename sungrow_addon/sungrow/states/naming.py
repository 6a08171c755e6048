"""Entity ids that stay the same and belong to one device only.

A plant keeps the slug it had when the add-on first saw it, a device the slug it got then,
remembered in the data folder by the plant's id and the device's ps_key. The slugs are chosen
from what identifies the data, the same whatever order the cloud lists the devices in, so a
lost names.json gives back the same entity ids; and no two sensors can ever share an id.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sungrow.cloud.models import PLANT_DEVICE_TYPE, device_type_of
from sungrow.storage import SaveResult

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

    from sungrow.cloud.models import Device, Plant
    from sungrow.storage import JsonFile

ENTITY_PREFIX = "sungrow"
_MAX_SLUG_LENGTH = 40
_DIGITS = re.compile(r"[0-9]+")


def slugify(text: str) -> str:
    """Return `text` as lowercase ASCII words joined by single underscores."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return slug[:_MAX_SLUG_LENGTH].rstrip("_")


@dataclass
class EntityNames:
    """The entity-id part of every plant and device, remembered in the data folder.

    Renaming a plant in the iSolarCloud app must not rename its sensors, or Home Assistant
    would start new statistics and the Energy dashboard would lose them. `keys` returns the
    keys a device type's sensors may have (the plant's under device type 11), so that a slug
    is never chosen that would give two sensors the same entity id.
    """

    file: JsonFile | None
    plants: dict[str, str] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    keys: Callable[[int], Collection[str]] = field(default=lambda _device_type: (), repr=False)
    _changed: bool = field(default=False, init=False)

    @classmethod
    def from_dict(
        cls,
        file: JsonFile | None,
        data: dict[str, Any],
        *,
        keys: Callable[[int], Collection[str]] = lambda _device_type: (),
    ) -> EntityNames:
        """Restore the names stored in `file` (its parsed content is `data`)."""
        return cls(file, _slugs(data.get("plants")), _slugs(data.get("devices")), keys)

    def assign(self, plant: Plant, devices: Iterable[Device]) -> None:
        """Give the plant and every device without one a slug, in an order of their own."""
        self._plant_slug(plant)
        # Every known name is adopted before a new device takes one.
        new = [
            device
            for device in sorted(devices, key=_identity_order)
            if self._known_slug(plant, device) is None
        ]
        if new:
            # Worked out once and kept up to date: per device it made naming quadratic.
            taken, used = self._issued(), self._device_slugs(plant.ps_id)
            for device in new:
                self._new_device_slug(plant, device, taken, used)

    def entity_id(self, plant: Plant, device: Device | None, key: str) -> str:
        """Return the entity id of a sensor of a plant, or of one of its devices."""
        parts = [ENTITY_PREFIX, self._plant_slug(plant)]
        if device is not None:
            parts.append(self._device_slug(plant, device))
        return "sensor." + "_".join([*parts, key])

    def save(self) -> None:
        """Write the names to the data folder if they changed."""
        if self.file is not None and self._changed:
            saved = self.file.save({"plants": self.plants, "devices": self.devices})
            self._changed = saved is SaveResult.FAILED

    def _plant_slug(self, plant: Plant) -> str:
        known = self.plants.get(plant.ps_id)
        if known is not None:
            return known
        # ps_ids are ASCII digits (models.py): the fallback is as safe as a slug.
        base = slugify(plant.name) or f"plant_{plant.ps_id}"
        taken = self._issued(but=plant.ps_id)
        others = {slug for ps_id, slug in self.plants.items() if ps_id != plant.ps_id}
        slug, number = base, 1
        while slug in others or taken & self._plant_ids(plant.ps_id, slug):
            slug = f"{base}_{plant.ps_id}" + (f"_{number}" if number > 1 else "")
            number += 1
        self.plants[plant.ps_id] = slug
        self._changed = True
        return slug

    def _known_slug(self, plant: Plant, device: Device) -> str | None:
        key = f"{plant.ps_id}/{device.ps_key}"
        known = self.devices.get(key)
        if known is None and device.ps_key in self.devices:
            # names.json before 0.6 kept devices by ps_key alone.
            known = self.devices[key] = self.devices.pop(device.ps_key)
            self._changed = True
        return known

    def _device_slug(self, plant: Plant, device: Device) -> str:
        known = self._known_slug(plant, device)
        if known is not None:
            return known
        return self._new_device_slug(plant, device, self._issued(), self._device_slugs(plant.ps_id))

    def _new_device_slug(
        self, plant: Plant, device: Device, taken: set[str], used: set[str]
    ) -> str:
        """Name a device; `taken` (entity ids issued) and `used` (its plant's slugs) grow."""
        plant_slug = self._plant_slug(plant)
        base = slugify(device.model) or slugify(device.name) or f"device_{device.device_type}"
        keys = self.keys(device.device_type)
        slug, number = base, 2
        while slug in used or taken & _ids(f"{plant_slug}_{slug}", keys):
            slug, number = f"{base}_{number}", number + 1
        self.devices[f"{plant.ps_id}/{device.ps_key}"] = slug
        self._changed = True
        used.add(slug)
        taken |= _ids(f"{plant_slug}_{slug}", keys)
        return slug

    def _device_slugs(self, ps_id: str) -> set[str]:
        return {slug for _, slug in self._devices_of(ps_id)}

    def _devices_of(self, ps_id: str) -> list[tuple[int | None, str]]:
        """Return the device type and slug of every named device of a plant."""
        prefix, legacy = f"{ps_id}/", f"{ps_id}_"
        return [
            (device_type_of(key.removeprefix(prefix)), slug)
            for key, slug in self.devices.items()
            if key.startswith((prefix, legacy))
        ]

    def _plant_ids(self, ps_id: str, slug: str) -> set[str]:
        """Return the entity ids (after the prefix) of a plant and its named devices."""
        ids = _ids(slug, self.keys(PLANT_DEVICE_TYPE))
        for device_type, device_slug in self._devices_of(ps_id):
            ids |= _ids(f"{slug}_{device_slug}", self.keys(device_type) if device_type else ())
        return ids

    def _issued(self, *, but: str | None = None) -> set[str]:
        """Return every entity id (after the prefix) the named plants and devices use."""
        ids: set[str] = set()
        for ps_id, slug in self.plants.items():
            if ps_id != but:
                ids |= self._plant_ids(ps_id, slug)
        return ids


def _ids(prefix: str, keys: Collection[str]) -> set[str]:
    return {f"{prefix}_{key}" for key in keys}


def _identity_order(device: Device) -> tuple[int, list[tuple[int, str]]]:
    """Sort devices by type, then by their ps_key with its numbers as numbers (2 < 10)."""
    parts = device.ps_key.split("_")
    return device.device_type, [
        (int(part), "") if _DIGITS.fullmatch(part) else (-1, part) for part in parts
    ]


def _slugs(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {
        str(key): slug
        for key, slug in value.items()
        if isinstance(slug, str) and slug and slugify(slug) == slug
    }
