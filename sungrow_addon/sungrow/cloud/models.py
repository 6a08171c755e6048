"""What the iSolarCloud Open API returns, as frozen models built from the wire."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

PLANT_DEVICE_TYPE = 11
MAX_NAME_LENGTH = 100
# No Sungrow point reaches this (1e14 Wh is 100 TWh): larger values are garbage, not data.
MAX_MAGNITUDE = 1e14
# Devices report "no value" as the largest unsigned 16- and 32-bit and signed 32-bit integers.
NO_VALUE_SENTINELS = frozenset({65535.0, 2147483647.0, 4294967295.0})

# Ids are short; the cap also keeps int() away from its limit on very long digit strings.
_ASCII_ID = re.compile(r"[0-9]{1,18}")
_MAX_ID = 10**18
_SAFE_PS_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf"})


def parse_number(raw: object) -> float | None:
    """Return the number a point value carries, None when it carries none.

    Point values arrive as strings ("108500.0"); null, "--", "" and other text mean
    "no value", never 0, and so do absurd magnitudes and the devices' overflow sentinels.
    """
    if type(raw) is str:  # the usual case, first: a poll reads thousands of values
        # float() alone would also take "1_000" and other scripts' digits; "inf" and "nan"
        # it takes are dropped below.
        if not raw.isascii() or "_" in raw:
            return None
        try:
            number: float | None = float(raw)
        except ValueError:
            return None
    else:
        number = _number(raw)
    # `number != number` is NaN; infinities are above the magnitude cap.
    if number is None or number != number or abs(number) > MAX_MAGNITUDE:  # noqa: PLR0124
        return None
    return None if number in NO_VALUE_SENTINELS else number


def _number(raw: object) -> float | None:
    """Read a number sent as a JSON number (text is read by parse_number)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        # float() of an int beyond 1e308 raises; anything past the cap is no value anyway.
        return float(raw) if abs(raw) <= MAX_MAGNITUDE else None
    return raw if isinstance(raw, float) else None


def parse_device_time(raw: object) -> datetime | None:
    """Parse a `device_time` (yyyyMMddHHmmss, the plant's local time, no zone)."""
    return _device_time(raw) if isinstance(raw, str) else None


@lru_cache(maxsize=64)
def _device_time(raw: str) -> datetime | None:
    """Parse one time text (the devices of a plant share it: parsed once)."""
    try:
        return datetime.strptime(raw, "%Y%m%d%H%M%S")  # noqa: DTZ007 - plant-local wall time
    except ValueError:
        return None


def _integer(raw: object) -> int | None:
    """Read a non-negative int sent as a number or as ASCII digits ("14" or 14)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 <= raw < _MAX_ID else None
    if isinstance(raw, str) and _ASCII_ID.fullmatch(raw.strip()):
        return int(raw)
    return None


def _plant_id(raw: object) -> str | None:
    """Return a ps_id as text when it is one: ASCII digits, sent as a number or as text."""
    if isinstance(raw, str):
        text = raw.strip()
        return text if _ASCII_ID.fullmatch(text) else None
    number = _integer(raw)
    return None if number is None else str(number)


def _text(raw: object) -> str:
    """Return a name fit to show: no control or invisible format characters, not too long."""
    if not isinstance(raw, str):
        return ""
    visible = "".join(
        char for char in raw if unicodedata.category(char) not in _INVISIBLE_CATEGORIES
    )
    return visible.strip()[:MAX_NAME_LENGTH].rstrip()


def device_type_of(ps_key: str) -> int | None:
    """Return the device type inside a ps_key (`<ps_id>_<type>_<code>_<channel>`)."""
    parts = ps_key.split("_")
    return int(parts[1]) if len(parts) > 1 and parts[1].isascii() and parts[1].isdigit() else None


def plant_ps_key(ps_id: str) -> str:
    """Return the ps_key of a plant's own pseudo-device (the only one safe to build)."""
    return f"{ps_id}_{PLANT_DEVICE_TYPE}_0_0"


@dataclass(frozen=True, kw_only=True)
class Plant:
    """A power station visible to the account."""

    ps_id: str
    name: str

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> Plant | None:
        """Build from an item of getPowerStationList's pageList; None without a valid ps_id."""
        ps_id = _plant_id(item.get("ps_id"))
        if ps_id is None:
            return None
        return cls(ps_id=ps_id, name=_text(item.get("ps_name")) or ps_id)

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
    uuid: str | None = None  # what the control endpoints call the device

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> Device | None:
        """Build from an item of the device list; None without a safe ps_key or a type."""
        ps_key, device_type = item.get("ps_key"), _integer(item.get("device_type"))
        if not isinstance(ps_key, str) or not _SAFE_PS_KEY.fullmatch(ps_key) or device_type is None:
            return None
        model = _text(item.get("device_model_code"))
        name = _text(item.get("device_name")) or model or _text(item.get("type_name")) or ps_key
        return cls(
            ps_id=_plant_id(item.get("ps_id")) or ps_key.split("_", 1)[0],
            ps_key=ps_key,
            device_type=device_type,
            name=name,
            model=model,
            serial_number=_text(item.get("device_sn")) or None,
            uuid=_plant_id(item.get("uuid")),
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
            "uuid": self.uuid,
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
    def from_wire(cls, point: dict[str, Any], fields: Sequence[tuple[str, str]]) -> Reading:
        """Build from a `device_point` object of getDeviceRealTimeData (see `wire_fields`)."""
        return cls(
            ps_key=str(point["ps_key"]),
            device_time=parse_device_time(point.get("device_time")),
            values={point_id: parse_number(point.get(key)) for point_id, key in fields},
        )


def wire_fields(point_ids: Sequence[str]) -> list[tuple[str, str]]:
    """Return each point id with the key its value has in a reply ("83022", "p83022")."""
    return [(point_id, f"p{point_id}") for point_id in point_ids]


@dataclass(frozen=True)
class Frame:
    """One frame of minute history: plant-local time and the values (None where missing)."""

    at: datetime
    values: dict[str, float | None]

    @classmethod
    def from_wire(cls, row: dict[str, Any], fields: Sequence[tuple[str, str]]) -> Frame | None:
        """Build from a frame of getDevicePointMinuteDataList; None without a valid time."""
        at = parse_device_time(row.get("time_stamp"))
        if at is None:
            return None
        return cls(at=at, values={point_id: parse_number(row.get(key)) for point_id, key in fields})
