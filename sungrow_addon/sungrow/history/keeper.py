"""The history keeper: every finished day of the last `days`, as hourly statistics, once.

For each plant and each day not imported yet (oldest first), it reads the day's minute history
of the plant's lifetime counters (about 9 calls), turns it into hourly rows and imports them.
A day the cloud had no data for (an outage of the cloud itself) stays to be done. What is done,
and each flow's anchor (its counter where the series starts), is kept in the data folder, so a
restart imports nothing twice. The calls wait while the last hour's calls exceed half the
hourly budget: the live polling always comes first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sungrow.cloud.transport import HOURLY_CALL_BUDGET
from sungrow.exceptions import HomeAssistantError, ISolarCloudError
from sungrow.history.hourly import FLOWS, counters_on_the_hour, hour_rows
from sungrow.history.statistics import statistic_id

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import tzinfo

    from sungrow.cloud.client import ISolarCloud
    from sungrow.cloud.models import Plant
    from sungrow.history.statistics import StatisticsImporter
    from sungrow.storage import JsonFile

_LOGGER = logging.getLogger(__name__)
CALL_SHARE = HOURLY_CALL_BUDGET // 2  # history waits while the last hour's calls reach this
RETRY_AFTER = 3600.0


@dataclass(kw_only=True)
class HistoryKeeper:
    """Imports the plants' finished days into Home Assistant's statistics."""

    cloud: ISolarCloud
    importer: StatisticsImporter
    days: int
    zone: Callable[[], tzinfo]
    file: JsonFile | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    plants: list[Plant] = field(default_factory=list)
    # ps_id -> flow key -> counter (Wh) where its sums start; ps_id -> days imported (ISO)
    anchors: dict[str, dict[str, float]] = field(default_factory=dict)
    done: dict[str, set[str]] = field(default_factory=dict)
    _failing: str | None = field(default=None, init=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> HistoryKeeper:
        """Return a keeper with the progress `save` kept (entries that do not parse dropped)."""
        keeper = cls(**kwargs)
        plants = data.get("plants")
        for ps_id, entry in plants.items() if isinstance(plants, dict) else ():
            if not isinstance(entry, dict):
                continue
            anchors, days = entry.get("anchors"), entry.get("done")
            keeper.anchors[str(ps_id)] = {
                str(key): float(value)
                for key, value in (anchors.items() if isinstance(anchors, dict) else ())
                if isinstance(value, int | float) and not isinstance(value, bool)
            }
            keeper.done[str(ps_id)] = {
                day for day in (days if isinstance(days, list) else ()) if _is_day(day)
            }
        return keeper

    async def catch_up(self) -> int:
        """Import every missing finished day of the window, oldest first; return how many."""
        today = datetime.fromtimestamp(self.clock(), self.zone()).date()
        imported = 0
        for plant in list(self.plants):
            for back in range(self.days, 0, -1):
                day = today - timedelta(days=back)
                if day.isoformat() in self.done.get(plant.ps_id, set()):
                    continue
                await self._wait_for_budget()
                if await self._import_day(plant, day):
                    imported += 1
        return imported

    async def run(self) -> None:
        """Catch up now, then after each midnight (and an hour after a failure)."""
        while True:
            try:
                imported = await self.catch_up()
            except (ISolarCloudError, HomeAssistantError) as err:
                if self._failing is None:
                    _LOGGER.warning(
                        "Importing the history failed (%s); trying again in an hour", err
                    )
                self._failing = str(err)
                await self.sleep(RETRY_AFTER)
                continue
            if self._failing is not None:
                _LOGGER.info("Importing the history works again")
                self._failing = None
            if imported:
                _LOGGER.info(
                    "Imported the hourly energy of %d day(s) into the statistics", imported
                )
            await self.sleep(self._until_after_midnight())

    async def _import_day(self, plant: Plant, day: date) -> bool:
        zone = self.zone()
        start = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - plant-local wall time
        frames = (
            await self.cloud.minute_data(
                [plant.ps_key], [flow.point_id for flow in FLOWS], start, start + timedelta(days=1)
            )
        ).get(plant.ps_key, [])
        anchors = self.anchors.setdefault(plant.ps_id, {})
        series = []
        for flow in FLOWS:
            counters = counters_on_the_hour(frames, flow.point_id, zone)
            if not counters:
                continue  # the plant has no such flow, or the cloud kept none of that day
            anchor = anchors.setdefault(flow.key, min(counters.values()))
            name = f"{plant.name} {flow.name.lower()}"
            series.append((statistic_id(plant.ps_id, flow.key), name, hour_rows(counters, anchor)))
        if not series:
            return False
        await self.importer.import_hours(series)
        self.done.setdefault(plant.ps_id, set()).add(day.isoformat())
        self._save(day)
        return True

    async def _wait_for_budget(self) -> None:
        while self.cloud.gateway.calls.last_hour(time.time()) >= CALL_SHARE:
            await self.sleep(60.0)

    def _until_after_midnight(self) -> float:
        """Return the seconds until 00:30 tomorrow, plant time (the day's data is complete)."""
        now = datetime.fromtimestamp(self.clock(), self.zone())
        next_run = (now + timedelta(days=1)).replace(hour=0, minute=30, second=0, microsecond=0)
        return max((next_run - now).total_seconds(), 60.0)

    def _save(self, latest: date) -> None:
        """Keep the progress; days older than the window are forgotten."""
        oldest = (latest - timedelta(days=self.days + 1)).isoformat()
        for days in self.done.values():
            days.difference_update({day for day in days if day < oldest})
        if self.file is not None:
            self.file.save(
                {
                    "plants": {
                        ps_id: {
                            "anchors": self.anchors.get(ps_id, {}),
                            "done": sorted(self.done.get(ps_id, set())),
                        }
                        for ps_id in sorted(set(self.anchors) | set(self.done))
                    }
                }
            )


def _is_day(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
