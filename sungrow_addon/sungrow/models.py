"""What the iSolarCloud Open API returns, as frozen models built from the wire."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PLANT_DEVICE_TYPE = 11


def parse_number(raw: object) -> float | None:
    """Return the number a point value carries, None when it carries none.

    Point values arrive as strings ("108500.0"); null, "--", "" and other text mean
    "no value", never 0.
    """
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        number = float(raw)
    elif isinstance(raw, str):
        try:
            number = float(raw.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def parse_device_time(raw: object) -> datetime | None:
    """Parse a `device_time` (yyyyMMddHHmmss, the plant's local time, no zone)."""
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw, "%Y%m%d%H%M%S")  # noqa: DTZ007 - plant-local wall time
    except ValueError:
        return None


def _integer(raw: object) -> int | None:
    """Read an int sent as a number or as a numeric string ("14" or 14)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    return None


def _text(raw: object) -> str:
    return raw.strip() if isinstance(raw, str) else ""


def plant_ps_key(ps_id: str) -> str:
    """Return the ps_key of a plant's own pseudo-device (the only one safe to build)."""
    return f"{ps_id}_{PLANT_DEVICE_TYPE}_0_0"


@dataclass(frozen=True, kw_only=True)
class Plant:
    """A power station visible to the account."""

    ps_id: str
    name: str

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> Plant:
        """Build from an item of getPowerStationList's pageList."""
        ps_id = str(item["ps_id"])
        name = item.get("ps_name")
        return cls(ps_id=ps_id, name=name if isinstance(name, str) and name else ps_id)

    @property
    def ps_key(self) -> str:
        """Return the ps_key of the plant itself."""
        return plant_ps_key(self.ps_id)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields, for the discovery cache in the data folder."""
        return {"ps_id": self.ps_id, "ps_name": self.name}


@dataclass(frozen=True, kw_only=True)
class Device:
    """A device of a plant (inverter, battery, meter, ...), as the device list shows it."""

    ps_id: str
    ps_key: str
    device_type: int
    name: str
    model: str
    serial_number: str | None = None

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> Device | None:
        """Build from an item of the device list; None when it lacks a ps_key or a type."""
        ps_key, device_type = item.get("ps_key"), _integer(item.get("device_type"))
        if not isinstance(ps_key, str) or not ps_key or device_type is None:
            return None
        model = _text(item.get("device_model_code"))
        name = _text(item.get("device_name")) or model or _text(item.get("type_name")) or ps_key
        return cls(
            ps_id=str(item.get("ps_id") or ps_key.split("_", 1)[0]),
            ps_key=ps_key,
            device_type=device_type,
            name=name,
            model=model,
            serial_number=_text(item.get("device_sn")) or None,
        )

    @property
    def label(self) -> str:
        """Return a readable name: the device name, with the model when it adds something."""
        if not self.model or self.model in self.name:
            return self.name
        return f"{self.name} {self.model}"

    def to_dict(self) -> dict[str, Any]:
        """Return the fields, for the discovery cache in the data folder."""
        return {
            "ps_id": self.ps_id,
            "ps_key": self.ps_key,
            "device_type": self.device_type,
            "device_name": self.name,
            "device_model_code": self.model,
            "device_sn": self.serial_number,
        }


@dataclass(frozen=True, kw_only=True)
class Reading:
    """The values one device reported, keyed by point id ("83022"), None where missing."""

    ps_key: str
    device_time: datetime | None
    values: dict[str, float | None]

    def merged(self, later: Reading) -> Reading:
        """Return this reading completed with the values of a later chunk of the same call."""
        return Reading(
            ps_key=self.ps_key,
            device_time=later.device_time or self.device_time,
            values={**self.values, **later.values},
        )

    @classmethod
    def from_wire(cls, point: dict[str, Any], point_ids: list[str]) -> Reading:
        """Build from a `device_point` object of getDeviceRealTimeData."""
        return cls(
            ps_key=str(point["ps_key"]),
            device_time=parse_device_time(point.get("device_time")),
            values={point_id: parse_number(point.get(f"p{point_id}")) for point_id in point_ids},
        )
