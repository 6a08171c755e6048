"""Simulated plants and their devices, as the device list shows them, valued by one household.

Device types and their names follow Appendix 1; the measuring points of each type are in
`points`. Factories build the residential set-ups: hybrid (optionally with an EV charger),
PV-only with a string inverter, and PV-only with microinverters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .household import Household
from .points import (
    PointTable,
    battery_points,
    charger_points,
    communication_module_points,
    hybrid_inverter_points,
    meter_points,
    microinverter_points,
    plant_points,
    string_inverter_points,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime, tzinfo

PLANT = 11
INVERTER = 1
METER = 7
HYBRID_INVERTER = 14
COMMUNICATION_MODULE = 22
BATTERY = 43
CHARGER = 51
MICROINVERTER = 55
DEFAULT_EV_CHARGE_W = 11000.0
BEHIND_THE_DONGLE = frozenset({INVERTER, METER, HYBRID_INVERTER, BATTERY})
MICROINVERTER_PEAK_W = 420.0
PV_PLANT_PEAK_W = 4800.0

# device type -> (type_name in English, in Chinese: what the cloud sends without `lang`)
TYPE_NAMES = {
    PLANT: ("Plant", "电站"),
    INVERTER: ("Inverter", "逆变器"),
    HYBRID_INVERTER: ("Energy Storage System", "储能逆变器"),
    BATTERY: ("Battery", "电池"),
    METER: ("Meter", "电表"),
    COMMUNICATION_MODULE: ("Communication Module", "通讯模块"),
    CHARGER: ("Charger", "充电桩"),
    MICROINVERTER: ("Microinverter", "微型逆变器"),
}


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


def _device(
    ps_id: int, device_type: int, model: str, points: PointTable, index: int = 1
) -> SimDevice:
    dongle = f"B{ps_id:09d}"
    is_plant = device_type == PLANT
    serial = f"A{ps_id:09d}{device_type:02d}" + (f"{index:02d}" if index > 1 else "")
    return SimDevice(
        ps_id=ps_id,
        device_type=device_type,
        device_code=0 if is_plant else index,
        chnnl_id=0 if is_plant else 1,
        uuid=ps_id * 100 + device_type + 10**12 * (index - 1),
        name=model,
        model=model,
        sn=dongle if device_type == COMMUNICATION_MODULE else serial,
        type_name_en=TYPE_NAMES[device_type][0],
        type_name_zh=TYPE_NAMES[device_type][1],
        points=points,
        communication_sn=dongle if device_type in BEHIND_THE_DONGLE else None,
    )


def _plant_device(ps_id: int, name: str, points: PointTable) -> SimDevice:
    return replace(_device(ps_id, PLANT, "", points), name=name)


def _plant(
    ps_id: int,
    name: str,
    timezone: tzinfo | None,
    household: Household,
    devices: Iterable[SimDevice],
) -> SimPlant:
    return SimPlant(
        ps_id=ps_id,
        name=name,
        timezone=timezone or ZoneInfo("Europe/Berlin"),
        household=household,
        devices=tuple(devices),
    )


def hybrid_plant(
    ps_id: int = 5694969,
    name: str = "Demo Home",
    *,
    timezone: tzinfo | None = None,
    household: Household | None = None,
    charger: bool = False,
) -> SimPlant:
    """Return a residential hybrid plant: SH10RT inverter, battery, meter and WiNet-S.

    With `charger`, an AC011E-01 EV charger too; unless a household is given, the car then
    charges at 11 kW every evening (a given household's `ev_charge_w` decides).
    """
    if household is None:
        household = Household(ev_charge_w=DEFAULT_EV_CHARGE_W if charger else 0.0)
    devices = [
        _plant_device(ps_id, name, plant_points(installed_w=household.pv_peak_w)),
        _device(ps_id, HYBRID_INVERTER, "SH10RT", hybrid_inverter_points()),
        _device(ps_id, BATTERY, "SBR064", battery_points()),
        _device(ps_id, METER, "DTSU666", meter_points()),
        _device(ps_id, COMMUNICATION_MODULE, "WiNet-S", communication_module_points()),
    ]
    if charger:
        devices.append(_device(ps_id, CHARGER, "AC011E-01", charger_points()))
    return _plant(ps_id, name, timezone, household, devices)


def pv_plant(
    ps_id: int = 5694970,
    name: str = "Demo PV",
    *,
    timezone: tzinfo | None = None,
    household: Household | None = None,
    meter: bool = False,
) -> SimPlant:
    """Return a PV-only plant: SG5.0RS string inverter and WiNet-S, no battery.

    Without a `meter` the cloud cannot know load or grid flows: those plant points are None,
    like the battery points. Give a battery-less household (the default one peaks at 4.8 kW).
    """
    household = household or Household(battery_wh=0.0, pv_peak_w=PV_PLANT_PEAK_W)
    points = plant_points(battery=False, meter=meter, installed_w=household.pv_peak_w)
    devices = [
        _plant_device(ps_id, name, points),
        _device(ps_id, INVERTER, "SG5.0RS", string_inverter_points()),
    ]
    if meter:
        devices.append(_device(ps_id, METER, "DTSU666", meter_points()))
    devices.append(_device(ps_id, COMMUNICATION_MODULE, "WiNet-S", communication_module_points()))
    return _plant(ps_id, name, timezone, household, devices)


def micro_plant(
    ps_id: int = 5694971,
    name: str = "Demo Micro",
    *,
    count: int = 12,
    timezone: tzinfo | None = None,
    household: Household | None = None,
) -> SimPlant:
    """Return a PV-only plant of `count` S450S microinverters sharing the PV equally.

    No meter and no battery: load, grid and battery plant points are None. Unless a
    household is given, the PV peak is 420 W per microinverter.
    """
    household = household or Household(battery_wh=0.0, pv_peak_w=MICROINVERTER_PEAK_W * count)
    points = plant_points(battery=False, meter=False, installed_w=household.pv_peak_w)
    micros = [
        replace(
            _device(ps_id, MICROINVERTER, "S450S", microinverter_points(1 / count), index),
            name=f"S450S {index}",
        )
        for index in range(1, count + 1)
    ]
    return _plant(ps_id, name, timezone, household, (_plant_device(ps_id, name, points), *micros))
