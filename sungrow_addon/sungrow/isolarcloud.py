"""Asynchronous client of the Sungrow iSolarCloud Open API: plants, devices, real-time data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .exceptions import ISolarCloudAuthenticationError
from .models import PLANT_DEVICE_TYPE, Device, Plant, Reading, plant_ps_key
from .transport import TOKEN_INVALID_CODE, TokenRejectedError

if TYPE_CHECKING:
    from .auth import AccountLogin, OAuth2
    from .transport import Gateway

MAX_POINTS_PER_CALL = 100
PAGE_SIZE = 100
MAX_PAGES = 50


@dataclass(kw_only=True)
class ISolarCloud:
    """The Open API in either flavour: the authenticator decides paths and credentials.

    When a call is answered "token invalid", the authenticator renews the token once (a login
    or a refresh) and the call is repeated once; a second rejection is an error.
    """

    gateway: Gateway
    auth: AccountLogin | OAuth2

    async def plants(self) -> list[Plant]:
        """Return every plant the account or the authorization covers (all pages)."""
        items = await self._pages(self.auth.endpoints.plants, {})
        return [Plant.from_wire(item) for item in items if "ps_id" in item]

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
        if device_type == PLANT_DEVICE_TYPE and plant_path is not None:
            # OAuth2 reads plants through their own endpoint, with flat rows keyed by ps_id.
            ps_ids = [ps_key.split("_", 1)[0] for ps_key in ps_keys]
            data = await self._call(plant_path, {"ps_id_list": ps_ids, "point_id_list": point_ids})
            return [
                Reading.from_wire({**row, "ps_key": plant_ps_key(str(row["ps_id"]))}, point_ids)
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
            Reading.from_wire(point, point_ids)
            for point in points
            if isinstance(point, dict) and "ps_key" in point
        ]

    async def _pages(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            page_body = {**body, self.auth.endpoints.page_key: page, "size": PAGE_SIZE}
            data = await self._call(path, page_body)
            page_items = [item for item in _list(data, "pageList") if isinstance(item, dict)]
            items.extend(page_items)
            row_count = data.get("rowCount") if isinstance(data, dict) else None
            if not page_items or not isinstance(row_count, int) or len(items) >= row_count:
                break
        return items

    async def _call(self, path: str, body: dict[str, Any], *, _renewed: bool = False) -> Any:
        """POST an authenticated call; return its result_data."""
        credentials = await self.auth.credentials(self.gateway)
        try:
            envelope = await self.gateway.post(
                path, {**body, **credentials.body}, headers=credentials.headers
            )
        except TokenRejectedError as err:
            if _renewed:
                msg = (
                    "iSolarCloud rejected a token it had just issued (E00003): check that the "
                    "'server' region matches the account"
                )
                raise ISolarCloudAuthenticationError(msg, code=TOKEN_INVALID_CODE) from err
            await self.auth.renew(self.gateway, stale=credentials.token)
            return await self._call(path, body, _renewed=True)
        return envelope.get("result_data")


def _list(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []
