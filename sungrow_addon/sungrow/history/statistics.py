"""Hourly rows into Home Assistant's long-term statistics, over its websocket API.

`recorder/import_statistics` with a statistic id of the add-on's own (`sungrow_isolarcloud:…`,
an external statistic): Home Assistant never compiles these itself, so imported hours cannot
clash with compiled ones, and importing an hour again overwrites its row. Core 2026.2 wants
`mean_type` and `unit_class` in the metadata and 2025.4 refuses them (`invalid_format`): the
newer form is sent first, the older one when it is refused.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError, WSMessageTypeError

from sungrow.exceptions import HomeAssistantConnectionError, HomeAssistantError
from sungrow.publish.watcher import log_in

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aiohttp import ClientSession, ClientWebSocketResponse

    from sungrow.history.hourly import HourRow

DOMAIN = "sungrow_isolarcloud"
_NEWER = {"mean_type": 0, "unit_class": "energy"}  # 0: no mean


def statistic_id(ps_id: str, flow: str) -> str:
    """Return the id of a plant's statistic (`sungrow_isolarcloud:<ps_id>_<flow>`)."""
    return f"{DOMAIN}:{ps_id}_{flow}"


@dataclass(kw_only=True)
class StatisticsImporter:
    """Imports hourly rows through one websocket connection per batch."""

    session: ClientSession
    url: str
    token: str = field(repr=False)
    timeout: float = 30.0
    _older_core: bool = field(default=False, init=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), init=False)

    async def import_hours(self, series: Sequence[tuple[str, str, Sequence[HourRow]]]) -> None:
        """Import (statistic id, name, rows) series; raise HomeAssistantError when refused."""
        try:
            async with self.session.ws_connect(self.url, heartbeat=30.0) as socket:
                await log_in(socket, self.token, self.timeout)
                for ident, name, rows in series:
                    if rows:
                        await self._import(socket, ident, name, rows)
        except (ClientError, TimeoutError, WSMessageTypeError, ValueError) as err:
            msg = f"Home Assistant's websocket is not there ({err or type(err).__name__})"
            raise HomeAssistantConnectionError(msg) from None

    async def _import(
        self, socket: ClientWebSocketResponse, ident: str, name: str, rows: Sequence[HourRow]
    ) -> None:
        metadata: dict[str, Any] = {
            "has_mean": False,
            "has_sum": True,
            "name": name,
            "source": DOMAIN,
            "statistic_id": ident,
            "unit_of_measurement": "kWh",
        }
        stats = [
            {"start": row.start.isoformat(), "state": round(row.state, 3), "sum": round(row.sum, 3)}
            for row in rows
        ]
        while True:
            sent = metadata if self._older_core else {**metadata, **_NEWER}
            answer = await self._call(
                socket, {"type": "recorder/import_statistics", "metadata": sent, "stats": stats}
            )
            if answer.get("success") is True:
                return
            error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
            if error.get("code") == "invalid_format" and not self._older_core:
                self._older_core = True  # an older Core: without mean_type and unit_class
                continue
            msg = f"Home Assistant refused the statistics {ident} ({error.get('message', error)})"
            raise HomeAssistantError(msg)

    async def _call(self, socket: ClientWebSocketResponse, message: dict[str, Any]) -> Any:
        ident = next(self._ids)
        await socket.send_json({"id": ident, **message})
        while True:
            answer = await socket.receive_json(timeout=self.timeout)
            if isinstance(answer, dict) and answer.get("id") == ident:
                return answer
