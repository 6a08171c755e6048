"""The point catalog (catalog.yaml): measuring point id -> sensor name, unit, classes.

The add-on loads catalog.json, which scripts/catalog.py writes from catalog.yaml.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping


# str.format of a bound format spec, per number of decimals: faster than an f-string's nested spec.
_FORMATS = [f"{{:.{decimals}f}}".format for decimals in range(10)]


@dataclass(frozen=True, kw_only=True)
class PointSpec:
    """How one measuring point becomes one sensor (the catalog's only set of defaults)."""

    point_id: str
    key: str
    name: str
    wire_unit: str | None = None
    unit: str | None = None
    factor: float = 1.0
    precision: int = 1
    device_class: str | None = None
    state_class: str | None = None
    icon: str | None = None
    enabled: bool = True
    repeats_plant: bool = False
    counter: str | None = None
    diagnostic: bool = False
    enum: Mapping[int, str] | None = field(default=None, repr=False)

    def state(self, value: float) -> str:
        """Return the value converted to the published unit, rounded, as the state text."""
        if self.enum is not None:
            code = round(value)
            return self.enum.get(code, str(code))
        text = _FORMATS[self.precision](value * self.factor)
        # -0.001 rounds to "-0.00": a sign without a number.
        return text[1:] if text[0] == "-" and float(text) == 0 else text

    @property
    def numeric(self) -> bool:
        """Return True when the state is a number (statistics, a display precision)."""
        return self.state_class is not None and self.enum is None

    def attributes(self, friendly_name: str) -> dict[str, Any]:
        """Return the state attributes Home Assistant needs for display and statistics."""
        optional = {
            "unit_of_measurement": self.unit,
            "device_class": self.device_class,
            "state_class": self.state_class,
            "icon": self.icon,
            "options": sorted(set(self.enum.values())) if self.enum is not None else None,
        }
        return {"friendly_name": friendly_name} | {k: v for k, v in optional.items() if v}


def unknown_point(point_id: str) -> PointSpec:
    """Return the spec of a point the catalog does not know: its raw number, no unit."""
    return PointSpec(
        point_id=point_id,
        key=f"point_{point_id}",
        name=f"Point {point_id}",
        precision=3,
        state_class="measurement",
    )


@dataclass(frozen=True, kw_only=True)
class DeviceTypeSpec:
    """The points of one device type (11 plant, 14 hybrid inverter, ...)."""

    device_type: int
    name: str
    points: tuple[PointSpec, ...]

    def published_points(
        self, extra: Collection[str] = (), *, published_before: Collection[str] = ()
    ) -> tuple[PointSpec, ...]:
        """Return the points on by default plus the `extra` point ids asked for.

        A counter that repeats the plant's is kept when its key was `published_before`: an
        installation that had it keeps it.
        """
        known = {point.point_id: point for point in self.points}
        chosen = [
            point
            for point in self.points
            if point.enabled
            or point.point_id in extra
            or (point.repeats_plant and point.key in published_before)
        ]
        chosen += [unknown_point(point_id) for point_id in extra if point_id not in known]
        return tuple(chosen)


@dataclass(frozen=True)
class Catalog:
    """Every device type the add-on knows."""

    device_types: dict[int, DeviceTypeSpec]

    def get(self, device_type: int) -> DeviceTypeSpec:
        """Return the spec of a device type; an unknown type has no default points."""
        return self.device_types.get(device_type) or DeviceTypeSpec(
            device_type=device_type, name=f"Device type {device_type}", points=()
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalog:
        """Build from the parsed YAML; raise ValueError for any key it does not know."""
        _check_keys("catalog", data, {"kinds", "enums", "device_types"})
        kinds: dict[str, dict[str, Any]] = data["kinds"]
        for name, kind in kinds.items():
            _check_keys(f"catalog: kind {name}", kind, _KIND_KEYS)
        device_types = {}
        for device_type, entry in data["device_types"].items():
            where = f"catalog: device type {device_type}"
            _check_keys(where, entry, {"name", "points"})
            points = tuple(
                _point(f"{where} point {point_id}", str(point_id), spec, kinds)
                for point_id, spec in entry["points"].items()
            )
            keys = [point.key for point in points]
            if len(keys) != len(set(keys)):
                msg = f"{where} repeats a key"
                raise ValueError(msg)
            device_types[int(device_type)] = DeviceTypeSpec(
                device_type=int(device_type), name=entry["name"], points=points
            )
        return cls(device_types)


# catalog.yaml's names for PointSpec's fields; a kind holds any of them but key and name.
_FIELDS = {
    "unit": "wire_unit",
    "publish_unit": "unit",
    "factor": "factor",
    "precision": "precision",
    "device_class": "device_class",
    "state_class": "state_class",
    "icon": "icon",
    "enabled": "enabled",
    "repeats_plant": "repeats_plant",
    "counter": "counter",
    "diagnostic": "diagnostic",
    "enum": "enum",
}
_KIND_KEYS = set(_FIELDS)
_POINT_KEYS = _KIND_KEYS | {"key", "name", "kind"}
_COUNTERS = {None, "lifetime", "daily"}


def _check_keys(where: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        msg = f"{where}: unknown key {', '.join(map(repr, unknown))}"
        raise ValueError(msg)


def _point(
    where: str, point_id: str, spec: dict[str, Any], kinds: dict[str, dict[str, Any]]
) -> PointSpec:
    _check_keys(where, spec, _POINT_KEYS)
    kind_name = spec.get("kind")
    if kind_name is not None and kind_name not in kinds:
        msg = f"{where}: unknown kind {kind_name!r}"
        raise ValueError(msg)
    merged = {**(kinds[kind_name] if kind_name is not None else {}), **spec}
    if merged.get("counter") not in _COUNTERS:
        msg = f"{where}: counter must be lifetime or daily"
        raise ValueError(msg)
    if merged.get("precision", 1) not in range(len(_FORMATS)):
        msg = f"{where}: precision must be 0 to {len(_FORMATS) - 1} decimals"
        raise ValueError(msg)
    fields = {_FIELDS[key]: value for key, value in merged.items() if key in _FIELDS}
    if "factor" in fields:
        fields["factor"] = float(fields["factor"])
    if fields.get("enum"):
        fields["enum"] = {int(code): str(text) for code, text in fields["enum"].items()}
    return PointSpec(point_id=point_id, key=merged["key"], name=merged["name"], **fields)


@cache
def load_catalog() -> Catalog:
    """Load the catalog shipped in the package (read once per process)."""
    text = Path(__file__).with_name("catalog.json").read_text(encoding="utf-8")
    return Catalog.from_dict(json.loads(text))
