"""The polling loop: discovery, one batched read per device type, publishing, and its log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from sungrow.backoff import CredentialBackoff
from sungrow.cloud.discovery import Discovery, describe, discover
from sungrow.cloud.errors import Pause, pause_of
from sungrow.cloud.transport import HOURLY_CALL_BUDGET
from sungrow.exceptions import (
    CycleIncompleteError,
    HomeAssistantError,
    ISolarCloudAuthenticationError,
    ISolarCloudError,
    ISolarCloudRateLimitError,
)
from sungrow.health import STEP_LIMIT
from sungrow.states.builder import Source, StateBuilder, sensor_keys
from sungrow.states.catalog import Catalog, load_catalog
from sungrow.states.derived import derived_for
from sungrow.states.freshness import Freshness
from sungrow.states.guard import CounterGuard
from sungrow.timezones import fallback_zone
from sungrow.timezones import zone as time_zone

if TYPE_CHECKING:
    from collections.abc import Callable, Collection
    from datetime import tzinfo

    from sungrow.cloud.client import ISolarCloud
    from sungrow.cloud.models import Device, Plant
    from sungrow.controls.panel import ControlPanel
    from sungrow.publish.model import Publisher, SensorState
    from sungrow.states.catalog import PointSpec
    from sungrow.states.naming import EntityNames

_LOGGER = logging.getLogger(__name__)

DISCOVERY_INTERVAL = 3600.0
# A failed rediscovery keeps the plants and devices found before, and is tried again after this.
DISCOVERY_RETRY = 900.0
# Quota errors: wait for the quota to renew (plus a margin), or back off.
QUOTA_MARGIN = 60.0
LOGIN_PAUSE = 1800.0
FREQUENCY_PAUSE_FIRST = 300.0
FREQUENCY_PAUSE_MAX = 3600.0
CALL_BUDGET_WARNING = 0.8


@dataclass(frozen=True)
class CycleReport:
    """What one cycle fetched and published."""

    plants: int
    devices: int
    sensors: int


@dataclass(frozen=True)
class _Fetched:
    """What a cycle read: the states, the plants read in full, and an error that stopped it."""

    states: list[SensorState]
    complete: set[str]
    stop: ISolarCloudError | None


@dataclass
class FailureLog:
    """Logs a failing source once when it starts failing and once when it recovers."""

    failing: dict[str, str] = field(default_factory=dict)

    def failed(
        self,
        source: str,
        message: str,
        *,
        level: int = logging.WARNING,
        exc_info: BaseException | None = None,
    ) -> None:
        """Record a failure; only the first of a run reaches the log above debug."""
        if source not in self.failing:
            _LOGGER.log(level, "%s", message, exc_info=exc_info)
        else:
            _LOGGER.debug("%s", message)
        self.failing[source] = message

    def recovered(self, source: str) -> None:
        """Record a success; say so once if the source was failing."""
        if self.failing.pop(source, None) is not None:
            _LOGGER.info("%s works again", source)


@dataclass(kw_only=True)
class Poller:
    """Fetches every plant's and device's data from iSolarCloud and publishes it."""

    cloud: ISolarCloud
    publisher: Publisher
    names: EntityNames
    scan_interval: float
    guard: CounterGuard = field(default_factory=CounterGuard)
    freshness: Freshness | None = None
    controls: ControlPanel | None = None
    # A rejected credential is not retried for hours: repeated wrong logins lock the account.
    backoff: CredentialBackoff = field(default_factory=CredentialBackoff)
    catalog: Catalog = field(default_factory=load_catalog)
    wanted_plants: tuple[str, ...] = ()
    extra_points: Callable[[int], Collection[str]] = lambda _device_type: ()
    discovery: Discovery | None = None
    on_discovery: Callable[[Discovery], None] | None = None
    # Given each plant's own reading (its data time, its values by point id): the history.
    on_plant_reading: Callable[[Plant, datetime, dict[str, float | None]], None] | None = None
    clock: Callable[[], float] = time.time
    expect_progress: Callable[[float], None] = lambda _seconds: None

    _builder: StateBuilder = field(init=False)
    _zone_known: bool = field(default=False, init=False)
    # When all of a plant's data last reached Home Assistant, by ps_id.
    _last_success: dict[str, datetime] = field(default_factory=dict, init=False)
    _failures: FailureLog = field(default_factory=FailureLog, init=False)
    # Conditions worth a line in the log that do not make a cycle incomplete.
    _notes: FailureLog = field(default_factory=FailureLog, init=False)
    _frequency_pause: float = field(default=FREQUENCY_PAUSE_FIRST, init=False)
    _cycles: int = field(default=0, init=False)
    _discovery_due: float = field(default=0.0, init=False)
    _described: Discovery | None = field(default=None, init=False)
    _point_lists: dict[int, tuple[tuple[PointSpec, ...], list[str]]] = field(
        default_factory=dict, init=False
    )

    def __post_init__(self) -> None:
        """Build the states' memory: the counter guard and the freshness watch."""
        self.names.keys = partial(sensor_keys, self.catalog)
        self._builder = StateBuilder(
            names=self.names,
            guard=self.guard,
            freshness=self.freshness or Freshness(scan_interval=self.scan_interval),
            timezone=fallback_zone(),
        )

    @property
    def timezone(self) -> tzinfo:
        """Return the plants' time zone (Home Assistant's, once it has told)."""
        return self._builder.timezone

    async def run_once(self) -> CycleReport:
        """Run one full cycle and publish what it fetched.

        A device type whose data cannot be read does not stop the others; the cycle then
        ends in CycleIncompleteError. Only a refused credential or a quota ends it at once
        (after publishing what came back before). A refused credential starts the pause
        before the next login (kept in the data folder); a cycle that got data ends it.
        """
        try:
            report = await self._cycle()
        except ISolarCloudAuthenticationError as err:
            self.backoff.refused(str(err), self.clock())
            raise
        except CycleIncompleteError:
            self.backoff.accepted()
            raise
        self.backoff.accepted()
        return report

    async def _cycle(self) -> CycleReport:
        self.cloud.start_cycle()
        self.expect_progress(STEP_LIMIT)
        await self._learn_time_zone()
        discovery = await self._discover()
        # The hourly discovery mostly finds what it found before: the sensors stay as built.
        if self._described is None or discovery.plants != self._described.plants:
            await self._describe(discovery)
        now = self.clock()
        fetched = await self._fetch(discovery, now)
        moment = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
        last_success = self._last_success | dict.fromkeys(fetched.complete, moment)
        if fetched.stop is not None:
            await self._publish(fetched.states, now)
            self._last_success = last_success
            raise fetched.stop
        failing = "; ".join(self._cloud_failures().values())
        # One publish per cycle: the readings and the diagnostics that describe them.
        published = await self._publish(
            fetched.states + self._diagnostics(failing, last_success), now
        )
        self._last_success = last_success
        if failing:
            raise CycleIncompleteError(failing)
        return CycleReport(
            plants=len(discovery.plants),
            devices=sum(1 for _ in discovery.devices()),
            sensors=published,
        )

    async def _fetch(self, discovery: Discovery, now: float) -> _Fetched:
        """Read each device type in one call; one that fails does not stop the others."""
        sources: list[tuple[Source, tuple[PointSpec, ...]]] = []
        short: set[str] = set()  # plants some of whose data did not come
        for device_type, members in discovery.by_device_type().items():
            points, point_ids = self._points(device_type)
            if not points:
                continue
            source = f"{self.catalog.get(device_type).name} data (device type {device_type})"
            try:
                readings = await self.cloud.realtime(
                    device_type=device_type,
                    ps_keys=[
                        device.ps_key if device else plant.ps_key for plant, device in members
                    ],
                    point_ids=point_ids,
                )
            except (ISolarCloudAuthenticationError, ISolarCloudRateLimitError) as err:
                return _Fetched(self._states(sources, now), complete=set(), stop=err)
            except ISolarCloudError as err:
                self._failures.failed(source, f"Cannot read the {source}: {err}")
                short.update(plant.ps_id for plant, _ in members)
                continue
            finally:
                self.expect_progress(STEP_LIMIT)
            self._failures.recovered(source)
            for plant, device in members:
                reading = readings.get(device.ps_key if device else plant.ps_key)
                if reading is None:
                    name = _source_name(plant, device)
                    self._failures.failed(name, f"iSolarCloud sent no real-time data for {name}")
                    short.add(plant.ps_id)
                    continue
                if self._failures.failing:  # else there is nothing to recover from
                    self._failures.recovered(_source_name(plant, device))
                data_time = self._builder.data_time(reading, now)
                sources.append((Source(plant, device, reading, data_time), points))
        complete = {entry.plant.ps_id for entry in discovery.plants} - short
        return _Fetched(self._states(sources, now), complete=complete, stop=None)

    def _states(
        self, sources: list[tuple[Source, tuple[PointSpec, ...]]], now: float
    ) -> list[SensorState]:
        """Turn the readings into states; a plant row without a data time takes its devices'."""
        device_times: dict[str, datetime] = {}
        for source, _ in sources:
            if source.device is not None and source.data_time is not None:
                known = device_times.get(source.plant.ps_id, source.data_time)
                device_times[source.plant.ps_id] = max(known, source.data_time)
        states: list[SensorState] = []
        for source, points in sources:
            timed = source
            if source.device is None and source.data_time is None:
                # OAuth2's plant rows carry no time: the plant's data is as new as its devices'.
                timed = source._replace(data_time=device_times.get(source.plant.ps_id))
            if source.device is None and self.on_plant_reading is not None:
                at = timed.data_time or datetime.fromtimestamp(now, UTC)
                self.on_plant_reading(source.plant, at, source.reading.values)
            states += self._builder.reading_states(timed, points, now=now)
        return states

    def _cloud_failures(self) -> dict[str, str]:
        """Return the failing sources of cloud data (not Home Assistant, not the loop)."""
        return {
            source: message
            for source, message in self._failures.failing.items()
            if source not in _LOOP_SOURCES
        }

    def _points(self, device_type: int) -> tuple[tuple[PointSpec, ...], list[str]]:
        """Return a device type's published points and the ids to ask for (kept per type)."""
        known = self._point_lists.get(device_type)
        if known is None:
            points = self.catalog.get(device_type).published_points(
                self.extra_points(device_type),
                published_before=self.guard.counters_of(device_type),
            )
            kept = [point.key for point in points if point.repeats_plant]
            if kept:
                _LOGGER.info(
                    "Publishing the %s counters %s, which repeat the plant's, because this "
                    "installation published them before; new installations get them only "
                    "through 'extra_points'",
                    self.catalog.get(device_type).name,
                    ", ".join(kept),
                )
            inputs = [point_id for spec in derived_for(device_type) for point_id in spec.inputs]
            ids = list(dict.fromkeys([point.point_id for point in points] + inputs))
            known = self._point_lists[device_type] = (points, ids)
        return known

    async def run(self, stop: asyncio.Event) -> None:
        """Run a cycle now and then every scan_interval (no drift) until `stop` is set."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.ensure_future(stop.wait())
        waiting = self.backoff.remaining(self.clock())
        if waiting:
            self._failures.failed("iSolarCloud login", self.refused_before(), level=logging.ERROR)
            self.expect_progress(waiting + STEP_LIMIT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stopping), waiting)
        start = loop.time()
        try:
            while not stop.is_set():
                cycle = asyncio.ensure_future(self._guarded_cycle())
                await asyncio.wait({cycle, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    cycle.cancel()
                    # Let it end here: nothing of it may run after the loop has stopped.
                    await asyncio.gather(cycle, return_exceptions=True)
                    break
                pause = cycle.result()
                now = loop.time()
                periods = math.floor((now - start) / self.scan_interval) + 1
                due = max(start + periods * self.scan_interval, now + pause)
                self.expect_progress(due - now + STEP_LIMIT)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopping), due - now)
        finally:
            stopping.cancel()

    def refused_before(self) -> str:
        """Return the line that says why no login is tried now, and when it will be."""
        resume = datetime.fromtimestamp(self.backoff.until, self._builder.timezone)
        return (
            f"{self.backoff.reason}. Next attempt at {resume:%Y-%m-%d %H:%M}: restarting the "
            "add-on does not bring it closer, saving its options does"
        )

    async def _guarded_cycle(self) -> float:
        """Run a cycle, log what failed; return a minimum pause before the next one."""
        try:
            report = await self.run_once()
        except CycleIncompleteError:
            self._cycle_worked()
            return 0.0  # each failing source was logged when it started failing
        except HomeAssistantError as err:
            self._failures.failed("Home Assistant", f"{err}; trying again at the next poll")
            return 0.0
        except Exception as err:  # noqa: BLE001 - the loop must outlive a bug in one cycle
            pause = self._fetch_failed(err)
            await self._report_failure()
            return pause
        self._cycle_worked()
        self._cycles += 1
        _LOGGER.log(
            logging.INFO if self._cycles == 1 else logging.DEBUG,
            "Published %d sensors of %d plant(s) and %d device(s); polling every %d s",
            report.sensors,
            report.plants,
            report.devices,
            self.scan_interval,
        )
        return 0.0

    def _cycle_worked(self) -> None:
        """Reset the backoffs and say once that the failing parts of the loop work again."""
        self._frequency_pause = FREQUENCY_PAUSE_FIRST
        for source in _LOOP_SOURCES:
            self._failures.recovered(source)
        self._watch_call_rate()

    def _fetch_failed(self, err: Exception) -> float:
        """Log a failed fetch once; return the pause it calls for."""
        if isinstance(err, ISolarCloudRateLimitError):
            pause = self._quota_pause(err.code)
            resume = datetime.fromtimestamp(self.clock() + pause, self._builder.timezone)
            self._failures.failed(
                "iSolarCloud quota",
                f"{err}; no calls until {resume:%Y-%m-%d %H:%M} (no login is needed for this)",
            )
            return pause
        if isinstance(err, ISolarCloudAuthenticationError):
            pause = self.backoff.remaining(self.clock())
            self._failures.failed(
                "iSolarCloud login",
                f"{err}. Next attempt in {pause / 3600:.0f} h (or save the add-on's options to "
                "try at once)",
                level=logging.ERROR,
            )
            return pause
        if isinstance(err, ISolarCloudError):
            self._failures.failed("iSolarCloud", f"{err}; trying again at the next poll")
            return 0.0
        self._failures.failed(
            "The poll cycle",
            f"Unexpected error in a poll cycle ({type(err).__name__}: {err}); "
            "trying again at the next poll",
            level=logging.ERROR,
            exc_info=err,
        )
        return 0.0

    def _quota_pause(self, code: str | None) -> float:
        """Return how long a quota or frequency error keeps the add-on from calling."""
        now = self.clock()
        pause = pause_of(code)
        if pause is Pause.NEXT_HOUR:  # the hourly quota renews at the next full hour
            return 3600 - now % 3600 + QUOTA_MARGIN
        if pause is Pause.NEXT_MONTH:  # the monthly one on the first of the next month (UTC)
            today = datetime.fromtimestamp(now, UTC)
            first = datetime(today.year + today.month // 12, today.month % 12 + 1, 1, tzinfo=UTC)
            return first.timestamp() - now + QUOTA_MARGIN
        if pause is Pause.LOGIN:
            return LOGIN_PAUSE
        backoff = self._frequency_pause
        self._frequency_pause = min(backoff * 2, FREQUENCY_PAUSE_MAX)
        return backoff

    def _watch_call_rate(self) -> None:
        """Warn once when the calls of the past hour reach 80 % of the hourly budget."""
        calls = self.cloud.gateway.calls.last_hour(time.time())
        if calls >= CALL_BUDGET_WARNING * HOURLY_CALL_BUDGET:
            self._notes.failed(
                "The call rate",
                f"{calls} calls to iSolarCloud in the last hour: 80 % of the hourly budget of "
                f"about {HOURLY_CALL_BUDGET}; raise 'scan_interval' or narrow 'plants'",
            )
        else:
            self._notes.failing.pop("The call rate", None)

    async def _publish(self, states: list[SensorState], now: float) -> int:
        """Publish, with the sensors gone silent marked unavailable; return how many."""
        freshness = self._builder.freshness
        states += freshness.lapsed({sensor.entity_id for sensor, _ in states}, now)
        freshness.published(states, now)
        self.guard.save()
        self.names.save()
        freshness.save(now)
        self.expect_progress(STEP_LIMIT)
        report = await self.publisher.publish(states)
        if report.restored:
            _LOGGER.info("Home Assistant had lost the sensors (a restart); sent them all again")
        return len(states)

    def _diagnostics(
        self, error: str, last_success: dict[str, datetime] | None = None
    ) -> list[SensorState]:
        if self.discovery is None:
            return []
        calls = self.cloud.gateway.calls.last_hour(time.time())
        return [
            state
            for entry in self.discovery.plants
            for state in self._builder.diagnostic_states(
                entry.plant,
                last_success=(last_success or self._last_success).get(entry.plant.ps_id),
                calls_last_hour=calls,
                error=error,
            )
        ]

    async def _report_failure(self) -> None:
        """Tell Home Assistant about a failed cycle: last error, and what has gone stale."""
        error = "; ".join(self._failures.failing.values())
        try:
            await self._publish(self._diagnostics(error), self.clock())
        except HomeAssistantError as err:
            _LOGGER.debug("Could not publish the diagnostics: %s", err)

    async def _learn_time_zone(self) -> None:
        """Take the plants' time zone from Home Assistant once it answers."""
        if self._zone_known:
            return
        name = await self.publisher.time_zone()
        zone = time_zone(name)
        if zone is not None:
            self._builder.timezone, self._zone_known = zone, True
            _LOGGER.debug("Daily counters restart at midnight in %s", name)

    async def _discover(self) -> Discovery:
        """Return the plants and devices, asking the cloud at most once an hour.

        When asking again fails for a reason other than a credential or a quota, the plants
        and devices found before stay in use and the question is asked again later.
        """
        now = self.clock()
        known = self.discovery
        if known is not None and 0 <= now - known.found_at < DISCOVERY_INTERVAL:
            return known
        if known is not None and now < self._discovery_due:
            return known
        source = "Finding the plants and devices"
        try:
            discovery = await discover(self.cloud, wanted=self.wanted_plants, now=now)
        except (ISolarCloudAuthenticationError, ISolarCloudRateLimitError):
            raise
        except ISolarCloudError as err:
            if known is None:
                raise
            self._discovery_due = now + DISCOVERY_RETRY
            self._failures.failed(
                source, f"{err}; keeping the plants and devices found before, asking again later"
            )
            return known
        finally:
            self.expect_progress(STEP_LIMIT)
        self._failures.recovered(source)
        if known is None or discovery.plants != known.plants:
            _LOGGER.info("%s", describe(discovery))
        for entry in discovery.plants:
            self._note_device_list(entry.plant, discovery.unlisted.get(entry.plant.ps_id))
        self.discovery = discovery
        if self.on_discovery is not None:
            self.on_discovery(discovery)
        return discovery

    async def _describe(self, discovery: Discovery) -> None:
        """Name the plants and devices, build their sensors once, and tell the publisher."""
        for entry in discovery.plants:
            self.names.assign(entry.plant, entry.devices)
        sensors = self._builder.describe(
            discovery, lambda device_type: self._points(device_type)[0]
        )
        if self.controls is not None:  # first: the publisher announces the controls too
            self.controls.describe(discovery)
        await self.publisher.describe(sensors)
        self._described = discovery

    def _note_device_list(self, plant: Plant, refusal: str | None) -> None:
        """Say once that a plant's devices cannot be listed, and once when they can again."""
        source = f"The device list of plant {plant.name}"
        if refusal is None:
            self._notes.recovered(source)
        else:
            self._notes.failed(
                source,
                f"Cannot list the devices of plant {plant.name} ({refusal}); publishing the "
                "plant's own sensors only",
            )


# The sources that are not a part of the cloud's data: logged, but not the cycle's last_error.
_LOOP_SOURCES = (
    "iSolarCloud login",
    "iSolarCloud quota",
    "iSolarCloud",
    "Home Assistant",
    "The poll cycle",
)


def _source_name(plant: Plant, device: Device | None) -> str:
    """Return how the log names a plant's or a device's data."""
    return f"{plant.name} {device.label}" if device else plant.name
