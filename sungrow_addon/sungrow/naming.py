"""Entity ids that stay the same: a plant keeps the name it had when the add-on first saw it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Plant
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
    """The entity-id part of every plant, remembered in the data folder.

    Renaming a plant in the iSolarCloud app must not rename its sensors, or Home Assistant
    would start new statistics and the Energy dashboard would lose them.
    """

    file: JsonFile
    plants: dict[str, str] = field(default_factory=dict)

    def plant_slug(self, plant: Plant) -> str:
        """Return the plant's slug, choosing and storing one the first time."""
        known = self.plants.get(plant.ps_id)
        if known is not None:
            return known
        slug = slugify(plant.name) or f"plant_{plant.ps_id}"
        if slug in self.plants.values():
            slug = f"{slug}_{plant.ps_id}"
        self.plants[plant.ps_id] = slug
        self.file.save({"plants": self.plants})
        return slug

    def entity_id(self, plant: Plant, key: str) -> str:
        """Return the entity id of one of a plant's sensors."""
        return f"sensor.{ENTITY_PREFIX}_{self.plant_slug(plant)}_{key}"
