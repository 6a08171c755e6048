"""History as the portal documents it: a plant's or device's points, in the past.

Minute data: `getDevicePointMinuteDataList` (V1; OAuth2's twin under /platform/) answers, per
ps_key, one frame per `minute_interval` from `start_time_stamp` to `end_time_stamp`
(plant-local yyyyMMddHHmmss); OAuth2's `getPowerStationPointMinuteDataList` does the same per
ps_id for the plant. Each frame holds the values the real-time data showed at that moment, so
history and live data agree. The portal's limits: at most 3 hours per call, 50 ps_keys and 50
points, and no data of the current day (a quirk serves it: one client back-filled today).

Day data: `getDevicePointsDayMonthYearDataList` (V1, per ps_key) and OAuth2's
`getPowerStationPointDayMonthYearDataList` (per ps_id) answer, for each day from `start_time`
to `end_time` (yyyyMMdd, at most 100 days, the current day excluded), the mean (`data_type`
1), peak (2), trough (3) or total (4) of the day's 5-minute values, keyed by the data type:
`{"p83022": [{"2": "1323.0", "time_stamp": "20260701"}]}`. Only days are served (`query_type`
1 or "day"); months and years are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .envelope import SimError
from .household import STEPS_PER_DAY
from .monitoring import View, integer, point_values

if TYPE_CHECKING:
    from collections.abc import Callable

    from .plants import SimDevice, SimPlant

MAX_WINDOW = timedelta(hours=3)
MAX_KEYS = 50
MAX_POINTS = 50
MAX_DAYS = 100
_FORMAT = "%Y%m%d%H%M%S"
_DAY_FORMAT = "%Y%m%d"
_STEP = timedelta(minutes=5)
# data_type: how a day's 5-minute values make the day's one value.
_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "1": lambda values: sum(values) / len(values),
    "2": max,
    "3": min,
    "4": sum,
}


def device_minutes(view: View, body: dict[str, Any], *, today: bool = False) -> dict[str, Any]:
    """Answer getDevicePointMinuteDataList: frames keyed by ps_key (known keys only)."""
    keys = [str(key) for key in _list(body, "ps_key_list", MAX_KEYS)]
    found = {
        device.ps_key: (plant, device)
        for plant in view.plants
        for device in plant.devices
        if device.ps_key in keys
    }
    window = _window(body)
    ids = _points(body)
    return {
        ps_key: _frames(plant, device, ids, window, _until(plant, view, today=today))
        for ps_key, (plant, device) in sorted(found.items())
    }


def plant_minutes(view: View, body: dict[str, Any], *, today: bool = False) -> dict[str, Any]:
    """Answer OAuth2's getPowerStationPointMinuteDataList: frames keyed by ps_id."""
    wanted = {str(ps_id) for ps_id in _list(body, "ps_id_list", MAX_KEYS)}
    window = _window(body)
    ids = _points(body)
    return {
        str(plant.ps_id): _frames(
            plant, plant.devices[0], ids, window, _until(plant, view, today=today)
        )
        for plant in sorted(view.plants, key=lambda plant: plant.ps_id)
        if str(plant.ps_id) in wanted
    }


def device_days(view: View, body: dict[str, Any]) -> dict[str, Any]:
    """Answer getDevicePointsDayMonthYearDataList: each day's value, keyed by ps_key."""
    keys = [str(key) for key in _list(body, "ps_key_list", MAX_KEYS)]
    query, ids = _day_query(body), _points(body, "data_point")
    return {
        device.ps_key: _days(plant, device, ids, query, view)
        for plant in view.plants
        for device in plant.devices
        if device.ps_key in keys
    }


def plant_days(view: View, body: dict[str, Any]) -> dict[str, Any]:
    """Answer OAuth2's getPowerStationPointDayMonthYearDataList: each day's value, by ps_id."""
    wanted = {str(ps_id) for ps_id in _list(body, "ps_id_list", MAX_KEYS)}
    query, ids = _day_query(body), _points(body, "data_point")
    return {
        str(plant.ps_id): _days(plant, plant.devices[0], ids, query, view)
        for plant in view.plants
        if str(plant.ps_id) in wanted
    }


@dataclass(frozen=True)
class _DayQuery:
    days: list[date]
    data_type: str  # a key of _AGGREGATES


def _day_query(body: dict[str, Any]) -> _DayQuery:
    if str(body.get("query_type")) not in {"1", "day"}:
        raise SimError("010", "er_parameter_value_invalid: query_type")
    data_type = str(body.get("data_type"))
    if data_type not in _AGGREGATES:
        raise SimError("010", "er_parameter_value_invalid: data_type")
    try:
        first = datetime.strptime(str(body["start_time"]), _DAY_FORMAT).date()  # noqa: DTZ007
        last = datetime.strptime(str(body["end_time"]), _DAY_FORMAT).date()  # noqa: DTZ007
    except KeyError:
        raise SimError("009") from None
    except ValueError:
        raise SimError("010", "er_parameter_value_invalid: start_time") from None
    if last < first:
        raise SimError("010")
    if (last - first).days + 1 > MAX_DAYS:
        raise SimError("010", f"the time range cannot exceed {MAX_DAYS} days")
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return _DayQuery(days, data_type)


def _days(
    plant: SimPlant, device: SimDevice, ids: list[int], query: _DayQuery, view: View
) -> dict[str, list[dict[str, str]]]:
    today = plant.local_time(view.now).date()
    aggregate = _AGGREGATES[query.data_type]
    answer: dict[str, list[dict[str, str]]] = {f"p{point_id}": [] for point_id in ids}
    for day in (day for day in query.days if day < today):
        start = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - plant-local
        frames = [
            point_values(plant, device, ids, View((plant,), moment.replace(tzinfo=plant.timezone)))
            for moment in (start + _STEP * step for step in range(STEPS_PER_DAY))
        ]
        for point_id in ids:
            values = [float(text) for frame in frames if (text := frame[f"p{point_id}"])]
            if values:
                answer[f"p{point_id}"].append(
                    {
                        query.data_type: f"{aggregate(values):.1f}",
                        "time_stamp": day.strftime(_DAY_FORMAT),
                    }
                )
    return {key: rows for key, rows in answer.items() if rows}


def _until(plant: SimPlant, view: View, *, today: bool) -> datetime:
    """Return the plant-local moment the history reaches: now, or the end of yesterday."""
    now = plant.local_time(view.now)
    return now if today else now.replace(hour=0, minute=0) - timedelta(seconds=1)


def _frames(
    plant: SimPlant,
    device: SimDevice,
    ids: list[int],
    window: tuple[datetime, datetime, timedelta],
    until: datetime,
) -> list[dict[str, Any]]:
    start, end, step = window
    frames = []
    moment = start
    while moment <= min(end, until):
        at = View((plant,), moment.replace(tzinfo=plant.timezone))
        frames.append(
            {"time_stamp": moment.strftime(_FORMAT), **point_values(plant, device, ids, at)}
        )
        moment += step
    return frames


def _window(body: dict[str, Any]) -> tuple[datetime, datetime, timedelta]:
    try:
        start = datetime.strptime(str(body["start_time_stamp"]), _FORMAT)  # noqa: DTZ007 - plant-local
        end = datetime.strptime(str(body["end_time_stamp"]), _FORMAT)  # noqa: DTZ007
    except KeyError:
        raise SimError("009") from None
    except ValueError:
        raise SimError("010", "er_parameter_value_invalid: time_stamp") from None
    minutes = integer(body.get("minute_interval", 5))
    if minutes is None or minutes < 1 or end < start:
        raise SimError("010")
    if end - start > MAX_WINDOW:
        raise SimError("010", "the time range cannot exceed 3 hours")
    return start, end, timedelta(minutes=minutes)


def _points(body: dict[str, Any], key: str = "points") -> list[int]:
    text = body.get(key)
    if not isinstance(text, str) or not text:
        raise SimError("009")
    names = [name.strip() for name in text.split(",")]
    if len(names) > MAX_POINTS:
        raise SimError("010", "points cannot exceed 50")
    ids = [integer(name[1:]) if name.startswith("p") else None for name in names]
    if any(point_id is None for point_id in ids):
        raise SimError("010")
    return [point_id for point_id in ids if point_id is not None]


def _list(body: dict[str, Any], key: str, limit: int) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list) or not value:
        raise SimError("009")
    if len(value) > limit:
        raise SimError("010", f"{key} cannot exceed {limit}")
    return value
