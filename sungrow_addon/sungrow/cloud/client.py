"""Asynchronous client of the Sungrow iSolarCloud Open API: plants, devices, real-time data."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sungrow.cloud.errors import is_token_suspect
from sungrow.cloud.models import (
    PLANT_DEVICE_TYPE,
    Device,
    Frame,
    Plant,
    Reading,
    plant_ps_key,
    wire_fields,
)
from sungrow.exceptions import (
    ISolarCloudAuthenticationError,
    ISolarCloudResponseError,
    TokenRejectedError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sungrow.cloud.auth import AccountLogin, Credentials, OAuth2
    from sungrow.cloud.transport import Gateway

ParameterStep = Literal["check", "setting", "task"]
# Minute history: the portal's limits per call.
MINUTE_WINDOW = timedelta(hours=3) - timedelta(minutes=5)  # both ends are included
FIVE_MINUTES = timedelta(minutes=5)
MAX_HISTORY_ITEMS = 50
TIME_FORMAT = "%Y%m%d%H%M%S"
MAX_POINTS_PER_CALL = 100
PAGE_SIZE = 100
MAX_PAGES = 50
# A rowCount beyond this is not believed: paging then goes on while the pages are full.
MAX_ROW_COUNT = 10_000


@dataclass(kw_only=True)
class ISolarCloud:
    """The Open API in either flavour: the authenticator decides paths and credentials.

    When a call made with an older token is refused in a way that may mean "token invalid"
    (errors.py), the authenticator renews the token (a login or a refresh) and the call is
    repeated once: the second answer is the verdict on the call. A poller calls
    `start_cycle()` before each cycle: a token issued during the cycle is not renewed again
    in it, so a cycle costs at most one extra login. A call judged refused after a renewal is
    remembered, so that it costs no login in later cycles.
    """

    gateway: Gateway
    auth: AccountLogin | OAuth2
    _cycle_floor: int | None = field(default=None, init=False, repr=False)
    _refused: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)

    def start_cycle(self) -> None:
        """Start a poll cycle: tokens obtained from now on count as issued in this cycle."""
        self._cycle_floor = self.auth.issued

    async def plants(self) -> list[Plant]:
        """Return every plant the account or the authorization covers (all pages)."""
        items = await self._pages(self.auth.endpoints.plants, {})
        return [plant for item in items if (plant := Plant.from_wire(item)) is not None]

    async def devices(self, ps_id: str) -> list[Device]:
        """Return every device of a plant (all pages, all types)."""
        items = await self._pages(self.auth.endpoints.devices, {"ps_id": ps_id})
        return [device for item in items if (device := Device.from_wire(item)) is not None]

    async def realtime(
        self, *, device_type: int, ps_keys: list[str], point_ids: list[str]
    ) -> dict[str, Reading]:
        """Return the latest values of devices of one type, keyed by ps_key.

        One call for all the devices, split only when more than 100 point ids are asked for.
        Devices the cloud could not answer for are absent from the result.
        """
        readings: dict[str, Reading] = {}
        for start in range(0, len(point_ids), MAX_POINTS_PER_CALL):
            chunk = point_ids[start : start + MAX_POINTS_PER_CALL]
            for reading in await self._realtime_chunk(device_type, ps_keys, chunk):
                known = readings.get(reading.ps_key)
                readings[reading.ps_key] = reading if known is None else known.merged(reading)
        return readings

    async def _realtime_chunk(
        self, device_type: int, ps_keys: list[str], point_ids: list[str]
    ) -> list[Reading]:
        plant_path = self.auth.endpoints.plant_realtime
        fields = wire_fields(point_ids)
        if device_type == PLANT_DEVICE_TYPE and plant_path is not None:
            # OAuth2 reads plants through their own endpoint, with flat rows keyed by ps_id.
            ps_ids = [ps_key.split("_", 1)[0] for ps_key in ps_keys]
            data = await self._call(plant_path, {"ps_id_list": ps_ids, "point_id_list": point_ids})
            return [
                Reading.from_wire({**row, "ps_key": plant_ps_key(str(row["ps_id"]))}, fields)
                for row in _list(data, "device_point_list")
                if isinstance(row, dict) and "ps_id" in row
            ]
        data = await self._call(
            self.auth.endpoints.device_realtime,
            {"device_type": device_type, "ps_key_list": ps_keys, "point_id_list": point_ids},
        )
        # The rows are sorted by ps_key, not in request order: they are matched by ps_key.
        points = (entry.get("device_point") for entry in _list(data, "device_point_list"))
        return [
            Reading.from_wire(point, fields)
            for point in points
            if isinstance(point, dict) and "ps_key" in point
        ]

    async def minute_data(
        self, ps_keys: list[str], point_ids: list[str], start: datetime, end: datetime
    ) -> dict[str, list[Frame]]:
        """Return the 5-minute frames of [start, end] (plant-local), keyed by ps_key.

        Split as the portal demands: at most 3 hours, 50 ps_keys and 50 points per call.
        """
        frames: dict[str, dict[datetime, dict[str, float | None]]] = {}
        for (first, last), keys, ids in itertools.product(
            _windows(start, end),
            _chunks(ps_keys, MAX_HISTORY_ITEMS),
            _chunks(point_ids, MAX_HISTORY_ITEMS),
        ):
            fields = wire_fields(ids)
            data = await self._call(
                self.auth.endpoints.minute_data,
                {
                    "ps_key_list": keys,
                    "points": ",".join(key for _, key in fields),
                    "start_time_stamp": first.strftime(TIME_FORMAT),
                    "end_time_stamp": last.strftime(TIME_FORMAT),
                    "minute_interval": 5,
                },
            )
            for ps_key, frame in _frames_of(data, keys, fields):
                frames.setdefault(ps_key, {}).setdefault(frame.at, {}).update(frame.values)
        return {
            ps_key: [Frame(at, values) for at, values in sorted(by_time.items())]
            for ps_key, by_time in frames.items()
        }

    async def parameters(self, step: ParameterStep, body: dict[str, Any]) -> Any:
        """Call a parameter-setting endpoint ("check", "setting", "task"): see control.py."""
        endpoints = self.auth.endpoints
        paths = {
            "check": endpoints.param_check,
            "setting": endpoints.param_setting,
            "task": endpoints.param_task,
        }
        return await self._call(paths[step], body)

    async def _pages(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the items of every page, each once.

        Paging stops at rowCount, or (when rowCount is missing or absurd) at the first page
        that is not full, and at the first page that adds nothing new: a cloud that ignores
        the page number answers page 1 again and again.
        """
        items: dict[str, dict[str, Any]] = {}
        for page in range(1, MAX_PAGES + 1):
            page_body = {**body, self.auth.endpoints.page_key: page, "size": PAGE_SIZE}
            data = await self._call(path, page_body)
            page_items = [item for item in _list(data, "pageList") if isinstance(item, dict)]
            fresh = {_item_id(item): item for item in page_items if _item_id(item) not in items}
            items.update(fresh)
            if not fresh or _is_complete(len(page_items), len(items), _row_count(data)):
                break
        return list(items.values())

    async def _call(self, path: str, body: dict[str, Any]) -> Any:
        """POST an authenticated call; return its result_data."""
        key = (path, _call_key(body))
        credentials = await self.auth.credentials(self.gateway)
        try:
            data = await self._post(path, body, credentials)
        except ISolarCloudResponseError as err:
            if not (is_token_suspect(err) and self._may_renew(credentials.serial, key, err)):
                raise self._verdict(key, err) from None
            await self.auth.renew(self.gateway, stale=credentials.token)
            try:
                data = await self._post(path, body, await self.auth.credentials(self.gateway))
            except ISolarCloudResponseError as again:
                raise self._verdict(key, again) from None
        self._refused.pop(key, None)
        return data

    async def _post(self, path: str, body: dict[str, Any], credentials: Credentials) -> Any:
        envelope = await self.gateway.post(
            path, {**body, **credentials.body}, headers=credentials.headers
        )
        return envelope.get("result_data")

    def _verdict(
        self, key: tuple[str, str], err: ISolarCloudResponseError
    ) -> ISolarCloudResponseError:
        """Return the error a refusal means once the token cannot be to blame; remember it."""
        if isinstance(err, TokenRejectedError):
            msg = (
                f"iSolarCloud rejected a token it had just issued ({err.code}): check that the "
                "'server' region matches the account"
            )
            return ISolarCloudAuthenticationError(msg, code=err.code)
        if is_token_suspect(err):
            self._refused[key] = str(err.code)
        return err

    def _may_renew(self, serial: int, key: tuple[str, str], err: ISolarCloudResponseError) -> bool:
        """Return True unless the token is from this cycle or the refusal is known already."""
        if self._cycle_floor is not None and serial > self._cycle_floor:
            return False
        return self._refused.get(key) != err.code


def _call_key(body: dict[str, Any]) -> str:
    """Return what tells calls to one path apart for the memory of refused calls."""
    return f"{body.get('device_type', '')}/{body.get('ps_id', '')}"


def _item_id(item: dict[str, Any]) -> str:
    """Return what tells listed items apart: the ps_key of a device, the ps_id of a plant."""
    return repr((item.get("ps_key"), item.get("ps_id")))


def _is_complete(page_length: int, collected: int, row_count: int | None) -> bool:
    """Return True once rowCount items arrived or, without a rowCount, after a short page."""
    if row_count is None:
        return page_length < PAGE_SIZE
    return collected >= row_count


def _row_count(data: Any) -> int | None:
    """Return the rowCount of a page, None when it is missing or cannot be true."""
    row_count = data.get("rowCount") if isinstance(data, dict) else None
    if isinstance(row_count, bool) or not isinstance(row_count, int):
        return None
    return row_count if 0 <= row_count <= MAX_ROW_COUNT else None


def _list(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Return [start, end] cut into windows the minute history accepts (ends included)."""
    windows = []
    while start <= end:
        windows.append((start, min(start + MINUTE_WINDOW, end)))
        start += MINUTE_WINDOW + FIVE_MINUTES
    return windows


def _frames_of(
    data: Any, keys: list[str], fields: list[tuple[str, str]]
) -> Iterator[tuple[str, Frame]]:
    """Yield the valid frames of a minute-history answer, with their ps_key."""
    for ps_key in keys:
        rows = data.get(ps_key) if isinstance(data, dict) else None
        for row in rows if isinstance(rows, list) else ():
            frame = Frame.from_wire(row, fields) if isinstance(row, dict) else None
            if frame is not None:
                yield ps_key, frame
