"""The monitoring endpoints of both flavours: plant list, device list and real-time data.

Each takes the request body as the gateway gets it and a `View`: the plants the caller may
see (a V1 account's, or those an OAuth user authorised) at one moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .catalog import point_dict
from .control import CHARGE as FORCED_CHARGE
from .envelope import SimError
from .plants import PLANT

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from .household import Snapshot
    from .plants import SimDevice, SimPlant

MAX_POINT_IDS = 100
V1_PAGING = ("curPage", "size")
OAUTH_PAGING = ("page", "size")
# Levels, ratios and kW travel with three decimals, everything else with one.
_THREE_DECIMALS = frozenset(
    {83252, 83129, 13141, 13142, 13144, 13172, 58604, 58605, 8014, 26, 51307}
    | {33708, 33722, 33723}
)


@dataclass(frozen=True)
class View:
    """The plants a caller may see, at one moment, and values that replace the household's."""

    plants: tuple[SimPlant, ...]
    now: datetime
    point_values: Mapping[tuple[int, int], float | None] = field(default_factory=dict)
    # ps_id -> (command, watts) of a hybrid inverter in forced mode: "170" charge, "187" discharge.
    forced: Mapping[int, tuple[str, float]] = field(default_factory=dict)


def plant_list(
    view: View, body: dict[str, Any], *, paging: tuple[str, str] = V1_PAGING
) -> dict[str, Any]:
    """Answer the plant list: `{pageList, rowCount}`."""
    page, size = _paging(body, paging)
    rows = view.plants[(page - 1) * size : page * size]
    return {"pageList": [_plant_entry(plant, view) for plant in rows], "rowCount": len(view.plants)}


def device_list(
    view: View, body: dict[str, Any], *, paging: tuple[str, str] = V1_PAGING
) -> dict[str, Any]:
    """Answer a plant's device list (without the plant pseudo-device): `{pageList, rowCount}`."""
    if "ps_id" not in body:
        raise SimError("009")
    page, size = _paging(body, paging)
    plant = next((p for p in view.plants if str(p.ps_id) == str(body["ps_id"])), None)
    if plant is None:
        raise SimError("010")
    wanted = body.get("device_type_list") or []
    if not isinstance(wanted, list):
        raise SimError("010")
    types = {integer(device_type) for device_type in wanted}
    if None in types:
        raise SimError("010")
    devices = [
        device
        for device in plant.devices
        if device.device_type != PLANT and (not types or device.device_type in types)
    ]
    english = body.get("lang") not in (None, "_zh_CN")
    rows = devices[(page - 1) * size : page * size]
    return {
        "pageList": [_device_entry(device, english=english) for device in rows],
        "rowCount": len(devices),
    }


def device_realtime(
    view: View, body: dict[str, Any], *, failed: str = "fail_ps_key_list"
) -> dict[str, Any]:
    """Answer devices' real-time data, sorted by ps_key; unknown keys are listed in `failed`."""
    device_type = integer(body.get("device_type"))
    if device_type is None:
        raise SimError("009")
    ids = _point_ids(body)
    if body.get("ps_key_list"):
        keys, attribute = _required_list(body, "ps_key_list"), "ps_key"
    else:
        keys, attribute = _required_list(body, "sn_list"), "sn"
    found: dict[str, tuple[SimPlant, SimDevice]] = {}
    missing: list[str] = []
    for key in sorted({str(key) for key in keys}):
        match = next(
            (
                (plant, device)
                for plant in view.plants
                for device in plant.devices
                if getattr(device, attribute) == key and device.device_type == device_type
            ),
            None,
        )
        if match is None:
            missing.append(key)
        else:
            found[match[1].ps_key] = match
    points = [
        {"device_point": _device_point(plant, device, ids, view)}
        for plant, device in (found[ps_key] for ps_key in sorted(found))
    ]
    answer: dict[str, Any] = {failed: missing, "device_point_list": points}
    if _wants_point_dict(body):
        answer["point_dict"] = point_dict(ids)
    return answer


def plant_realtime(view: View, body: dict[str, Any]) -> dict[str, Any]:
    """Answer plants' real-time data: flat `{ps_id, p<id>…}` rows, sorted by ps_id."""
    wanted = {str(ps_id) for ps_id in _required_list(body, "ps_id_list")}
    ids = _point_ids(body)
    rows = [
        {"ps_id": plant.ps_id, **point_values(plant, plant.devices[0], ids, view)}
        for plant in sorted(view.plants, key=lambda plant: plant.ps_id)
        if str(plant.ps_id) in wanted
    ]
    answer: dict[str, Any] = {"device_point_list": rows}
    if _wants_point_dict(body):
        answer["point_dict"] = point_dict(ids)
    return answer


def _plant_entry(plant: SimPlant, view: View) -> dict[str, Any]:
    snapshot = plant.household.snapshot(plant.local_time(view.now))
    return {
        "ps_id": plant.ps_id,
        "ps_name": plant.name,
        "ps_type": 5,
        "valid_flag": 1,
        "online_status": 1,
        "ps_fault_status": 3,
        "grid_connection_status": 1,
        "connect_type": 1,
        "build_status": 2,
        "ps_location": plant.location,
        "latitude": 47.99,
        "longitude": 7.84,
        "description": None,
        "install_date": "2023-06-01 10:00:00",
        "ps_current_time_zone": "GMT+1",
        "curr_power": {"unit": "W", "value": f"{snapshot.step.pv:.1f}"},
        "today_energy": {"unit": "kWh", "value": f"{snapshot.today['pv'] / 1000:.1f}"},
        "total_energy": {"unit": "MWh", "value": f"{snapshot.lifetime['pv'] / 1e6:.2f}"},
    }


def _device_entry(device: SimDevice, *, english: bool) -> dict[str, Any]:
    return {
        "uuid": device.uuid,
        "ps_id": device.ps_id,
        "ps_key": device.ps_key,
        "device_type": device.device_type,
        "type_name": device.type_name_en if english else device.type_name_zh,
        "device_name": device.name,
        "device_sn": device.sn,
        "device_model_code": device.model,
        "device_model_id": 300000 + device.device_type,
        "device_code": device.device_code,
        "chnnl_id": device.chnnl_id,
        "communication_dev_sn": device.communication_sn,
        "dev_status": "1",
        "dev_fault_status": 4,
        "rel_state": 1,
        "factory_name": "Sungrow",
        "grid_connection_date": "2023-06-01 10:00:00",
    }


def _device_point(plant: SimPlant, device: SimDevice, ids: list[int], view: View) -> dict[str, Any]:
    return {
        "ps_key": device.ps_key,
        "ps_id": plant.ps_id,
        "uuid": device.uuid,
        "device_name": device.name,
        "device_sn": device.sn or None,
        "communication_dev_sn": device.communication_sn,
        "dev_status": 1,
        "dev_fault_status": 4,
        "device_time": plant.local_time(view.now).strftime("%Y%m%d%H%M%S"),
        **point_values(plant, device, ids, view),
    }


def point_values(plant: SimPlant, device: SimDevice, ids: list[int], view: View) -> dict[str, Any]:
    """Return a device's points at the view's moment, as `p<id>` texts (None: no value)."""
    snapshot = plant.household.snapshot(plant.local_time(view.now))
    forced = view.forced.get(plant.ps_id)
    if forced is not None:
        snapshot = _forced(snapshot, *forced)
    values: dict[str, Any] = {}
    for point_id in ids:
        read = device.points.get(point_id)
        value = read(snapshot) if read is not None else None
        value = view.point_values.get((device.device_type, point_id), value)
        values[f"p{point_id}"] = None if value is None else _wire_value(point_id, value)
    return values


def _forced(snapshot: Snapshot, command: str, watts: float) -> Snapshot:
    """Return the moment with the battery charging (from the grid) or discharging at `watts`."""
    step = snapshot.step
    charge, discharge = (watts, 0.0) if command == FORCED_CHARGE else (0.0, watts)
    balance = step.pv + discharge - charge - step.load
    return replace(
        snapshot,
        step=replace(
            step,
            charge=charge,
            discharge=discharge,
            grid_export=max(balance, 0.0),
            grid_import=max(-balance, 0.0),
        ),
    )


def _wire_value(point_id: int, value: float) -> str:
    return f"{value:.3f}" if point_id in _THREE_DECIMALS else f"{value:.1f}"


def _wants_point_dict(body: dict[str, Any]) -> bool:
    return str(body.get("is_get_point_dict")) == "1"


def _required_list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None or value in ([], ""):
        raise SimError("009")
    if not isinstance(value, list):
        raise SimError("010")
    return value


def _point_ids(body: dict[str, Any]) -> list[int]:
    point_ids = _required_list(body, "point_id_list")
    if len(point_ids) > MAX_POINT_IDS:
        raise SimError("010", "Parameters point_id_list size is over 100")
    ids = [integer(point_id) for point_id in point_ids]
    valid = [point_id for point_id in ids if point_id is not None]
    if len(valid) != len(ids):
        raise SimError("010")
    return valid


def _paging(body: dict[str, Any], keys: tuple[str, str]) -> tuple[int, int]:
    if any(key not in body for key in keys):
        raise SimError("009")
    page, size = (integer(body[key]) for key in keys)
    if page is None or size is None or page < 1 or size < 1:
        raise SimError("010")
    return page, size


def integer(value: object) -> int | None:
    """Accept an int or a numeric string, as the gateway does; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None
