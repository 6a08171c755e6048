"""The history keeper: the plants' hourly energy as statistics, for every hour, once.

Finished days: for each plant and each day of the last `days` not imported yet (oldest first),
it reads the day's minute history of the plant's lifetime counters (about 9 calls), turns it
into hourly rows and imports them; after each midnight it imports the day just ended, which
makes its hours exact. A day the cloud had no data for stays to be done.

Today: each full hour the polls close (live.py) is imported at once, as long as every earlier
hour has its row. After a gap (the add-on, the network or the cloud was away), the missed hours
are asked of the minute history; the cloud keeps none of the current day, so until midnight
the hours after the gap wait: a row after a gap would book the whole gap into one hour.

What is done, each flow's anchor (its counter where the series starts) and the hour up to
which every row is in place are kept in the data folder, so a restart imports nothing twice.
The calls wait while the last hour's calls exceed half the hourly budget: the live polling
always comes first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sungrow.cloud.transport import HOURLY_CALL_BUDGET
from sungrow.exceptions import HomeAssistantError, ISolarCloudError
from sungrow.history.hourly import FLOWS, HOUR, HourRow, counters_on_the_hour, hour_rows
from sungrow.history.live import Boundary, LiveCounters
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
# How long after its end a day's minute history is taken as complete.
SETTLE = timedelta(minutes=30)
MAX_WAITING = 48  # hours closed by the polls that wait for a gap before them to be filled


@dataclass(kw_only=True)
class HistoryKeeper:
    """Keeps the plants' hourly energy statistics: the finished days, and today's hours."""

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
    # ps_id -> the latest full hour (UTC) up to which every hour has its row
    complete_until: dict[str, datetime] = field(default_factory=dict)
    _live: LiveCounters = field(default_factory=LiveCounters, init=False)
    _waiting: dict[str, dict[datetime, dict[str, float]]] = field(default_factory=dict, init=False)
    _gap_asked: dict[str, datetime] = field(default_factory=dict, init=False)
    # ps_id -> flow key -> the highest counter (Wh) imported since the start
    _highest: dict[str, dict[str, float]] = field(default_factory=dict, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _catch_up_now: bool = field(default=False, init=False)
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
            until = _hour(entry.get("complete_until"))
            if until is not None:
                keeper.complete_until[str(ps_id)] = until
        return keeper

    def observe(self, plant: Plant, at: datetime, values: dict[str, float | None]) -> None:
        """Note a poll's reading of a plant (its data time, its values by point id)."""
        if plant.ps_id not in {known.ps_id for known in self.plants}:
            self.plants.append(plant)
            self._catch_up_now = True  # a plant added: its days at once
            self._wake.set()
        boundary = self._live.observe(plant.ps_id, at, values)
        if boundary is not None and boundary.at > self.complete_until.get(plant.ps_id, _EPOCH):
            waiting = self._waiting.setdefault(plant.ps_id, {})
            waiting[boundary.at] = boundary.counters
            for old in sorted(waiting)[:-MAX_WAITING]:
                del waiting[old]
            self._wake.set()

    async def import_live_hours(self) -> int:
        """Import the hours the polls closed whose earlier hours all have rows; return how many.

        Before the first hour after a gap, the gap is asked of the minute history once.
        """
        return sum([await self._import_waiting(plant) for plant in list(self.plants)])

    async def _import_waiting(self, plant: Plant) -> int:
        waiting = self._waiting.get(plant.ps_id, {})
        imported = 0
        for at in sorted(waiting):
            if at - HOUR > self.complete_until.get(plant.ps_id, at):
                await self._ask_for_gap(plant, at)
            until = self.complete_until.get(plant.ps_id)
            if until is not None and at <= until:
                waiting.pop(at, None)  # the minute history gave this hour meanwhile
                continue
            if until is not None and at - HOUR > until:
                break  # the gap stays: after midnight, the day's history fills it
            await self._import_boundary(plant, Boundary(at, waiting[at]))
            waiting.pop(at, None)
            self._save()
            imported += 1
        return imported

    async def _ask_for_gap(self, plant: Plant, at: datetime) -> None:
        """Import what the minute history holds between the last complete hour and `at`, once."""
        until = self.complete_until[plant.ps_id]
        if self._gap_asked.get(plant.ps_id) == until:
            return
        self._gap_asked[plant.ps_id] = until
        await self._wait_for_budget()
        if await self._import_span(plant, until, at):
            self._save()

    async def catch_up(self) -> int:
        """Import every missing finished day of the window, oldest first; return how many.

        A day is done once imported after SETTLE past its end; imported sooner (a start just
        after midnight), it is imported again when settled, as the cloud may still add to it.
        """
        now = datetime.fromtimestamp(self.clock(), self.zone())
        imported = 0
        for plant in list(self.plants):
            for back in range(self.days, 0, -1):
                day = now.date() - timedelta(days=back)
                if day.isoformat() in self.done.get(plant.ps_id, set()):
                    continue
                await self._wait_for_budget()
                settled = now.replace(tzinfo=None) >= _midnight_after(day) + SETTLE
                if await self._import_day(plant, day, settled=settled):
                    imported += 1
        return imported

    async def run(self) -> None:
        """Catch up at once and after each midnight; import each hour the polls close.

        It starts when the polls have found the plants. A failure is tried again an hour later.
        """
        if not self.plants:
            await self._wake.wait()
        catch_up_at = self.clock()
        while True:
            self._wake.clear()
            try:
                if self._catch_up_now or self.clock() >= catch_up_at:
                    self._catch_up_now = False
                    catch_up_at = self.clock() + RETRY_AFTER
                    imported = await self.catch_up()
                    catch_up_at = self.clock() + self._until_after_midnight()
                    if imported:
                        _LOGGER.info(
                            "Imported the hourly energy of %d day(s) into the statistics",
                            imported,
                        )
                await self.import_live_hours()
            except (ISolarCloudError, HomeAssistantError) as err:
                if self._failing is None:
                    _LOGGER.warning(
                        "Importing the history failed (%s); trying again in an hour", err
                    )
                self._failing = str(err)
                await self._pause(RETRY_AFTER)
                continue
            if self._failing is not None:
                _LOGGER.info("Importing the history works again")
                self._failing = None
            await self._pause(max(catch_up_at - self.clock(), 0.0))

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or less if a poll closes an hour meanwhile."""
        sleeping = asyncio.ensure_future(self.sleep(seconds))
        waking = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeping, waking}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waking.cancel()
            if not sleeping.done():
                sleeping.cancel()
            else:
                sleeping.result()

    async def _import_day(self, plant: Plant, day: date, *, settled: bool) -> bool:
        start = datetime(day.year, day.month, day.day, tzinfo=self.zone())
        if not await self._import_span(plant, start, start + timedelta(days=1)):
            return False
        if settled:
            self.done.setdefault(plant.ps_id, set()).add(day.isoformat())
        self._save()
        return True

    async def _import_span(self, plant: Plant, start: datetime, end: datetime) -> bool:
        """Import the hours whose ends the minute history of [start, end] holds; False: none."""
        zone = self.zone()
        local_start, local_end = (
            moment.astimezone(zone).replace(tzinfo=None) for moment in (start, end)
        )
        frames = (
            await self.cloud.minute_data(
                [plant.ps_key], [flow.point_id for flow in FLOWS], local_start, local_end
            )
        ).get(plant.ps_key, [])
        anchors = self.anchors.setdefault(plant.ps_id, {})
        series = []
        ends: set[datetime] = set()
        latest: dict[str, float] = {}  # flow key -> its counter at the span's last hour
        for flow in FLOWS:
            counters = counters_on_the_hour(frames, flow.point_id, zone)
            if not counters:
                continue  # the plant has no such flow, or the cloud kept none of that time
            anchor = anchors.setdefault(flow.key, min(counters.values()))
            rows = hour_rows(counters, anchor)
            latest[flow.key] = counters[max(counters)]
            ends.update(row.start + HOUR for row in rows)
            series.append(self._series(plant, flow.key, flow.name, rows))
        if not series:
            return False
        await self.importer.import_hours(series)
        if max(ends, default=_EPOCH) >= self.complete_until.get(plant.ps_id, _EPOCH):
            # The newest rows: a live glitch upwards before them no longer holds hours back.
            self._highest.setdefault(plant.ps_id, {}).update(latest)
        self._complete(plant, max(ends, default=None))
        return True

    async def _import_boundary(self, plant: Plant, boundary: Boundary) -> None:
        """Import the hour ending at `boundary.at`, from the polls' counters."""
        anchors = self.anchors.setdefault(plant.ps_id, {})
        series = []
        for flow in FLOWS:
            value = boundary.counters.get(flow.point_id)
            if value is None or value < self._highest.get(plant.ps_id, {}).get(flow.key, value):
                continue  # none, or below an hour before it (a glitch): a negative hour
            self._note_highest(plant, flow.key, value)
            anchor = anchors.setdefault(flow.key, value)
            rows = hour_rows({boundary.at: value}, anchor)
            series.append(self._series(plant, flow.key, flow.name, rows))
        await self.importer.import_hours(series)
        self._complete(plant, boundary.at)

    def _note_highest(self, plant: Plant, key: str, value: float) -> None:
        highest = self._highest.setdefault(plant.ps_id, {})
        highest[key] = max(highest.get(key, value), value)

    @staticmethod
    def _series(
        plant: Plant, key: str, name: str, rows: list[HourRow]
    ) -> tuple[str, str, list[HourRow]]:
        return statistic_id(plant.ps_id, key), f"{plant.name} {name.lower()}", rows

    def _complete(self, plant: Plant, until: datetime | None) -> None:
        """Note that every hour up to `until` has its row (if it is later than known)."""
        if until is not None and until > self.complete_until.get(plant.ps_id, _EPOCH):
            self.complete_until[plant.ps_id] = until

    async def _wait_for_budget(self) -> None:
        while self.cloud.gateway.calls.last_hour(time.time()) >= CALL_SHARE:
            await self.sleep(60.0)

    def _until_after_midnight(self) -> float:
        """Return the seconds until the next SETTLE past a midnight, plant time."""
        now = datetime.fromtimestamp(self.clock(), self.zone()).replace(tzinfo=None)
        next_run = _midnight_after(now.date() - timedelta(days=1)) + SETTLE
        if next_run <= now:
            next_run += timedelta(days=1)
        return max((next_run - now).total_seconds(), 60.0)

    def _save(self) -> None:
        """Keep the progress; days older than the window are forgotten."""
        today = datetime.fromtimestamp(self.clock(), self.zone()).date()
        oldest = (today - timedelta(days=self.days + 1)).isoformat()
        for days in self.done.values():
            days.difference_update({day for day in days if day < oldest})
        if self.file is not None:
            self.file.save(
                {
                    "plants": {
                        ps_id: {
                            "anchors": self.anchors.get(ps_id, {}),
                            "done": sorted(self.done.get(ps_id, set())),
                            "complete_until": until.isoformat()
                            if (until := self.complete_until.get(ps_id))
                            else None,
                        }
                        for ps_id in sorted(
                            set(self.anchors) | set(self.done) | set(self.complete_until)
                        )
                    }
                }
            )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _midnight_after(day: date) -> datetime:
    """Return the plant-local wall time at which `day` ends."""
    return datetime(day.year, day.month, day.day) + timedelta(days=1)  # noqa: DTZ001 - wall time


def _hour(value: object) -> datetime | None:
    """Return a saved full hour (aware ISO text), None when it does not parse."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _is_day(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
