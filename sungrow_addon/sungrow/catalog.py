"""The point catalog (catalog.yaml): measuring point id -> sensor name, unit, classes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True, kw_only=True)
class PointSpec:
    """How one measuring point becomes one sensor."""

    point_id: str
    key: str
    name: str
    unit: str | None
    factor: float
    precision: int
    device_class: str | None
    state_class: str | None
    icon: str | None
    enabled: bool

    def state(self, value: float) -> str:
        """Return the value converted to the published unit, rounded, as the state text."""
        text = f"{value * self.factor:.{self.precision}f}"
        return text.removeprefix("-") if float(text) == 0 else text

    def attributes(self, friendly_name: str) -> dict[str, str]:
        """Return the state attributes Home Assistant needs for display and statistics."""
        optional = {
            "unit_of_measurement": self.unit,
            "device_class": self.device_class,
            "state_class": self.state_class,
            "icon": self.icon,
        }
        return {"friendly_name": friendly_name} | {k: v for k, v in optional.items() if v}


@dataclass(frozen=True, kw_only=True)
class DeviceTypeSpec:
    """The points of one device type (11 plant, 14 hybrid inverter, ...)."""

    device_type: int
    name: str
    points: tuple[PointSpec, ...]

    def enabled_points(self) -> tuple[PointSpec, ...]:
        """Return the points published by default."""
        return tuple(point for point in self.points if point.enabled)


@dataclass(frozen=True)
class Catalog:
    """Every device type the add-on knows."""

    device_types: dict[int, DeviceTypeSpec]

    def __getitem__(self, device_type: int) -> DeviceTypeSpec:
        """Return the spec of a device type."""
        return self.device_types[device_type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalog:
        """Build from the parsed YAML, resolving each point's kind."""
        kinds: dict[str, dict[str, Any]] = data["kinds"]
        device_types = {}
        for device_type, entry in data["device_types"].items():
            points = tuple(
                _point(str(point_id), spec, kinds[spec["kind"]])
                for point_id, spec in entry["points"].items()
            )
            keys = [point.key for point in points]
            if len(keys) != len(set(keys)):
                msg = f"catalog: device type {device_type} repeats a key"
                raise ValueError(msg)
            device_types[int(device_type)] = DeviceTypeSpec(
                device_type=int(device_type), name=entry["name"], points=points
            )
        return cls(device_types)


def _point(point_id: str, spec: dict[str, Any], kind: dict[str, Any]) -> PointSpec:
    merged = {**kind, **spec}
    return PointSpec(
        point_id=point_id,
        key=merged["key"],
        name=merged["name"],
        unit=merged.get("publish_unit"),
        factor=float(merged.get("factor", 1)),
        precision=int(merged.get("precision", 1)),
        device_class=merged.get("device_class"),
        state_class=merged.get("state_class"),
        icon=merged.get("icon"),
        enabled=bool(merged.get("enabled", True)),
    )


@cache
def load_catalog() -> Catalog:
    """Load the catalog shipped in the package (read once per process)."""
    text = resources.files(__package__).joinpath("catalog.yaml").read_text(encoding="utf-8")
    return Catalog.from_dict(yaml.safe_load(text))
