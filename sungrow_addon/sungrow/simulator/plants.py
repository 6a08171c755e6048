"""Simulated plants and devices, with the measuring points Sungrow documents for each type.

Point ids and units follow the developer portal's "common measuring points" tables; values are
sent the way the cloud sends them: strings with one decimal, fractions for levels and ratios.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .household import Household, Snapshot

if TYPE_CHECKING:
    from datetime import datetime, tzinfo

PointTable = dict[int, Callable[[Snapshot], float | None]]
PLANT = 11
COMMUNICATION_MODULE = 22


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def _plant_points() -> PointTable:
    return {
        83022: lambda s: s.today["pv"],
        83024: lambda s: s.lifetime["pv"],
        83033: lambda s: s.step.pv,
        83067: lambda s: s.step.pv,
        83002: lambda s: s.step.pv + s.step.discharge - s.step.charge,
        83106: lambda s: s.step.load,
        83052: lambda s: s.step.load,
        83118: lambda s: s.today["load"],
        83124: lambda s: s.lifetime["load"],
        83102: lambda s: s.today["grid_import"],
        83105: lambda s: s.lifetime["grid_import"],
        83072: lambda s: s.today["grid_export"],
        83075: lambda s: s.lifetime["grid_export"],
        83119: lambda s: s.today["grid_export"],
        83097: lambda s: s.today["direct"],
        83100: lambda s: s.lifetime["direct"],
        83252: lambda s: s.step.soc,
        83129: lambda s: s.step.soc,
        # Meter convention of the cloud: positive while exporting.
        83032: lambda s: s.step.grid_export - s.step.grid_import,
        83549: lambda s: s.step.grid_export - s.step.grid_import,
        83238: lambda s: s.step.discharge - s.step.charge,
        83243: lambda s: s.today["charge"],
        83244: lambda s: s.today["discharge"],
        83241: lambda s: s.lifetime["charge"],
        83242: lambda s: s.lifetime["discharge"],
        83025: lambda s: s.today["pv"] / 5600.0,
    }


def _hybrid_inverter_points() -> PointTable:
    return {
        13011: lambda s: s.step.pv + s.step.discharge - s.step.charge,
        13003: lambda s: s.step.pv,
        13001: lambda s: 355.0 + 40.0 * (s.step.pv > 0),
        13002: lambda s: s.step.pv * 0.55 / 380.0,
        13105: lambda s: 340.0 + 38.0 * (s.step.pv > 0),
        13106: lambda s: s.step.pv * 0.45 / 370.0,
        13157: lambda _: 231.2,
        13158: lambda _: 230.4,
        13159: lambda _: 232.0,
        13008: lambda s: abs(s.step.pv + s.step.discharge - s.step.charge) / 3 / 231.0,
        13009: lambda s: abs(s.step.pv + s.step.discharge - s.step.charge) / 3 / 230.0,
        13010: lambda s: abs(s.step.pv + s.step.discharge - s.step.charge) / 3 / 232.0,
        13007: lambda _: 50.01,
        13019: lambda s: 24.0 + s.step.pv / 400.0,
        13112: lambda s: s.today["pv"],
        13134: lambda s: s.lifetime["pv"],
        13122: lambda s: s.today["grid_export"],
        13125: lambda s: s.lifetime["grid_export"],
        13147: lambda s: s.today["grid_import"],
        13148: lambda s: s.lifetime["grid_import"],
        13149: lambda s: s.step.grid_import,
        13121: lambda s: s.step.grid_export,
        13141: lambda s: s.step.soc,
        13142: lambda _: 0.98,
        13126: lambda s: s.step.charge,
        13150: lambda s: s.step.discharge,
        13028: lambda s: s.today["charge"],
        13029: lambda s: s.today["discharge"],
        13034: lambda s: s.lifetime["charge"],
        13035: lambda s: s.lifetime["discharge"],
        13174: lambda s: s.today["charge_from_pv"],
        13176: lambda s: s.lifetime["charge_from_pv"],
        13138: lambda s: 192.0 + 24.0 * s.step.soc,
        13139: lambda s: (s.step.charge - s.step.discharge) / (192.0 + 24.0 * s.step.soc),
        13143: lambda s: 18.0 + (s.step.charge + s.step.discharge) / 600.0,
        13140: lambda _: 6400.0,
        13119: lambda s: s.step.load,
        13199: lambda s: s.today["load"],
        13130: lambda s: s.lifetime["load"],
        13116: lambda s: s.today["direct"],
        13137: lambda s: s.lifetime["direct"],
        13144: lambda s: _ratio(s.today["pv"] - s.today["grid_export"], s.today["pv"]),
        13172: lambda s: _ratio(s.today["load"] - s.today["grid_import"], s.today["load"]),
        13146: lambda _: 0.0,
        18068: lambda _: 0.0,
    }


def _battery_points() -> PointTable:
    return {
        58601: lambda s: 192.0 + 24.0 * s.step.soc,
        58602: lambda s: (s.step.charge - s.step.discharge) / (192.0 + 24.0 * s.step.soc),
        58603: lambda s: 18.0 + (s.step.charge + s.step.discharge) / 600.0,
        58604: lambda s: s.step.soc,
        58605: lambda _: 0.98,
        58606: lambda s: s.lifetime["charge"],
        58607: lambda s: s.lifetime["discharge"],
        58608: lambda s: 1.0 if s.step.charge else (2.0 if s.step.discharge else 0.0),
        58610: lambda s: 3310.0 + 80.0 * s.step.soc,
        58612: lambda s: 3290.0 + 80.0 * s.step.soc,
        58614: lambda s: 19.0 + (s.step.charge + s.step.discharge) / 600.0,
        58616: lambda s: 17.5 + (s.step.charge + s.step.discharge) / 700.0,
    }


def _meter_points() -> PointTable:
    def grid(s: Snapshot) -> float:
        return s.step.grid_export - s.step.grid_import

    return {
        8018: grid,
        8076: lambda s: grid(s) / 3,
        8077: lambda s: grid(s) / 3,
        8078: lambda s: grid(s) / 3,
        8030: lambda s: s.lifetime["grid_import"],
        8031: lambda s: s.lifetime["grid_export"],
        8062: lambda s: s.today["grid_import"],
        8063: lambda s: s.today["grid_export"],
        8000: lambda _: 231.4,
        8001: lambda _: 230.6,
        8002: lambda _: 232.1,
        8006: lambda s: abs(grid(s)) / 3 / 231.4,
        8007: lambda s: abs(grid(s)) / 3 / 230.6,
        8008: lambda s: abs(grid(s)) / 3 / 232.1,
        8064: lambda _: 50.0,
        8014: lambda _: 0.99,
    }


def _communication_module_points() -> PointTable:
    return {23001: lambda _: 78.0, 23014: lambda _: -61.0}


@dataclass(frozen=True, kw_only=True)
class SimDevice:
    """One device of a plant as the device list shows it."""

    ps_id: int
    device_type: int
    device_code: int
    chnnl_id: int
    uuid: int
    name: str
    model: str
    sn: str
    type_name_en: str
    type_name_zh: str
    points: PointTable = field(repr=False)
    communication_sn: str | None = None

    @property
    def ps_key(self) -> str:
        """Return `<ps_id>_<device_type>_<device_code>_<chnnl_id>`."""
        return f"{self.ps_id}_{self.device_type}_{self.device_code}_{self.chnnl_id}"


@dataclass(frozen=True, kw_only=True)
class SimPlant:
    """A plant: its list entry, its devices (the plant pseudo-device first) and its household."""

    ps_id: int
    name: str
    timezone: tzinfo
    devices: tuple[SimDevice, ...]
    household: Household = field(default_factory=Household)
    location: str = "Freiburg"

    def local_time(self, now: datetime) -> datetime:
        """Return the plant-local wall time (no zone) at the 5-minute step `now` falls in."""
        local = now.astimezone(self.timezone).replace(tzinfo=None, second=0, microsecond=0)
        return local.replace(minute=local.minute - local.minute % 5)

    def device(self, ps_key: str) -> SimDevice | None:
        """Return the device with this ps_key."""
        return next((device for device in self.devices if device.ps_key == ps_key), None)


# device type -> (type_name in English, in Chinese: what the cloud sends without `lang`)
TYPE_NAMES = {
    PLANT: ("Plant", "电站"),
    14: ("Energy Storage System", "储能逆变器"),
    43: ("Battery", "电池"),
    7: ("Meter", "电表"),
    COMMUNICATION_MODULE: ("Communication Module", "通讯模块"),
}
POINT_TABLES: dict[int, Callable[[], PointTable]] = {
    PLANT: _plant_points,
    14: _hybrid_inverter_points,
    43: _battery_points,
    7: _meter_points,
    COMMUNICATION_MODULE: _communication_module_points,
}


def _device(ps_id: int, device_type: int, model: str, *, name: str | None = None) -> SimDevice:
    dongle = f"B{ps_id:09d}"
    is_plant = device_type == PLANT
    return SimDevice(
        ps_id=ps_id,
        device_type=device_type,
        device_code=0 if is_plant else 1,
        chnnl_id=0 if is_plant else 1,
        uuid=ps_id * 100 + device_type,
        name=name or model,
        model=model,
        sn=dongle if device_type == COMMUNICATION_MODULE else f"A{ps_id:09d}{device_type:02d}",
        type_name_en=TYPE_NAMES[device_type][0],
        type_name_zh=TYPE_NAMES[device_type][1],
        points=POINT_TABLES[device_type](),
        communication_sn=None if device_type in (PLANT, COMMUNICATION_MODULE) else dongle,
    )


def hybrid_plant(
    ps_id: int = 5694969,
    name: str = "Demo Home",
    *,
    timezone: tzinfo | None = None,
    household: Household | None = None,
) -> SimPlant:
    """Return a residential hybrid plant: SH10RT inverter, battery, meter and WiNet-S."""
    return SimPlant(
        ps_id=ps_id,
        name=name,
        timezone=timezone or ZoneInfo("Europe/Berlin"),
        household=household or Household(),
        devices=(
            _device(ps_id, PLANT, "", name=name),
            _device(ps_id, 14, "SH10RT"),
            _device(ps_id, 43, "SBR064"),
            _device(ps_id, 7, "DTSU666"),
            _device(ps_id, COMMUNICATION_MODULE, "WiNet-S"),
        ),
    )
