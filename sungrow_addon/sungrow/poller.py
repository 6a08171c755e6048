"""The polling loop: discovery, one batched read per device type, publishing, and its log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .catalog import Catalog, load_catalog
from .derived import derived_for
from .discovery import Discovery, describe, discover
from .exceptions import (
    HomeAssistantError,
    ISolarCloudAuthenticationError,
    ISolarCloudError,
    ISolarCloudRateLimitError,
    ISolarCloudResponseError,
)
from .freshness import Freshness
from .guard import CounterGuard
from .sensors import StateBuilder
from .timezones import fallback_zone
from .timezones import zone as time_zone

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from .catalog import PointSpec
    from .homeassistant import Publisher, SensorState
    from .isolarcloud import ISolarCloud
    from .naming import EntityNames

_LOGGER = logging.getLogger(__name__)

DISCOVERY_INTERVAL = 3600.0
# A rejected credential is not retried for hours: repeated wrong logins lock the account.
AUTH_RETRY_FIRST = 3600.0
AUTH_RETRY_MAX = 24 * 3600.0
# Quota errors: wait for the quota to renew (plus a margin), or back off.
QUOTA_MARGIN = 60.0
LOGIN_PAUSE = 1800.0
FREQUENCY_PAUSE_FIRST = 300.0
FREQUENCY_PAUSE_MAX = 3600.0
# The community's figure for the free plan; Sungrow documents none.
HOURLY_CALL_BUDGET = 2000
CALL_BUDGET_WARNING = 0.8


@dataclass(frozen=True)
class CycleReport:
    """What one cycle fetched and published."""

    plants: int
    devices: int
    sensors: int


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
    catalog: Catalog = field(default_factory=load_catalog)
    wanted_plants: tuple[str, ...] = ()
    extra_points: Callable[[int], Collection[str]] = lambda _device_type: ()
    discovery: Discovery | None = None
    on_discovery: Callable[[Discovery], None] | None = None
    clock: Callable[[], float] = time.time

    _builder: StateBuilder = field(init=False)
    _zone_known: bool = field(default=False, init=False)
    _last_success: datetime | None = field(default=None, init=False)
    _failures: FailureLog = field(default_factory=FailureLog, init=False)
    _auth_retry: float = field(default=AUTH_RETRY_FIRST, init=False)
    _frequency_pause: float = field(default=FREQUENCY_PAUSE_FIRST, init=False)
    _cycles: int = field(default=0, init=False)
    _point_lists: dict[int, tuple[tuple[PointSpec, ...], list[str]]] = field(
        default_factory=dict, init=False
    )

    def __post_init__(self) -> None:
        """Build the states' memory: the counter guard and the freshness watch."""
        self._builder = StateBuilder(
            names=self.names,
            guard=self.guard,
            freshness=Freshness(scan_interval=self.scan_interval),
            timezone=fallback_zone(),
        )

    async def run_once(self) -> CycleReport:
        """Run one full cycle; raise when any plant's or device's data was not published."""
        await self._learn_time_zone()
        discovery = await self._discover()
        now = self.clock()
        states: list[SensorState] = []
        missing: list[str] = []
        for device_type, members in discovery.by_device_type().items():
            points, point_ids = self._points(device_type)
            if not points:
                continue
            readings = await self.cloud.realtime(
                device_type=device_type,
                ps_keys=[device.ps_key if device else plant.ps_key for plant, device in members],
                point_ids=point_ids,
            )
            for plant, device in members:
                reading = readings.get(device.ps_key if device else plant.ps_key)
                if reading is None:
                    missing.append(f"{plant.name} {device.label}" if device else plant.name)
                    continue
                states += self._builder.reading_states(plant, device, reading, points, now=now)
        error = f"iSolarCloud sent no real-time data for {', '.join(missing)}" if missing else ""
        self._last_success = datetime.now(UTC).replace(microsecond=0)
        published = await self._publish(states + self._diagnostics(error), now)
        if missing:
            raise ISolarCloudResponseError(error)
        return CycleReport(
            plants=len(discovery.plants),
            devices=sum(1 for _ in discovery.devices()),
            sensors=published,
        )

    def _points(self, device_type: int) -> tuple[tuple[PointSpec, ...], list[str]]:
        """Return a device type's published points and the ids to ask for (kept per type)."""
        known = self._point_lists.get(device_type)
        if known is None:
            points = self.catalog.get(device_type).published_points(self.extra_points(device_type))
            inputs = [point_id for spec in derived_for(device_type) for point_id in spec.inputs]
            ids = list(dict.fromkeys([point.point_id for point in points] + inputs))
            known = self._point_lists[device_type] = (points, ids)
        return known

    async def run(self, stop: asyncio.Event) -> None:
        """Run a cycle now and then every scan_interval (no drift) until `stop` is set."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                cycle = asyncio.ensure_future(self._guarded_cycle())
                await asyncio.wait({cycle, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    cycle.cancel()
                    break
                pause = cycle.result()
                now = loop.time()
                periods = math.floor((now - start) / self.scan_interval) + 1
                due = max(start + periods * self.scan_interval, now + pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopping), due - now)
        finally:
            stopping.cancel()

    async def _guarded_cycle(self) -> float:
        """Run a cycle, log what failed; return a minimum pause before the next one."""
        try:
            report = await self.run_once()
        except HomeAssistantError as err:
            self._failures.failed("Home Assistant", f"{err}; trying again at the next poll")
            return 0.0
        except Exception as err:  # noqa: BLE001 - the loop must outlive a bug in one cycle
            pause = self._fetch_failed(err)
            await self._report_failure(str(err))
            return pause
        self._auth_retry = AUTH_RETRY_FIRST
        self._frequency_pause = FREQUENCY_PAUSE_FIRST
        for source in (
            "iSolarCloud login",
            "iSolarCloud quota",
            "iSolarCloud",
            "Home Assistant",
            "The poll cycle",
        ):
            self._failures.recovered(source)
        self._watch_call_rate()
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
            pause = self._auth_retry
            self._auth_retry = min(self._auth_retry * 2, AUTH_RETRY_MAX)
            self._failures.failed(
                "iSolarCloud login",
                f"{err}. Next attempt in {pause / 3600:.0f} h (or restart the add-on)",
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
        if code == "E999":  # hourly quota: it renews at the next full hour
            return 3600 - now % 3600 + QUOTA_MARGIN
        if code == "E998":  # monthly quota: it renews on the first of the next month (UTC)
            today = datetime.fromtimestamp(now, UTC)
            first = datetime(today.year + today.month // 12, today.month % 12 + 1, 1, tzinfo=UTC)
            return first.timestamp() - now + QUOTA_MARGIN
        if code == "E916":  # logins too frequent
            return LOGIN_PAUSE
        pause = self._frequency_pause  # E901 calls too frequent, E903 IP changes: back off
        self._frequency_pause = min(pause * 2, FREQUENCY_PAUSE_MAX)
        return pause

    def _watch_call_rate(self) -> None:
        """Warn once when the calls of the past hour reach 80 % of the hourly budget."""
        calls = self.cloud.gateway.calls.last_hour(time.time())
        if calls >= CALL_BUDGET_WARNING * HOURLY_CALL_BUDGET:
            self._failures.failed(
                "The call rate",
                f"{calls} calls to iSolarCloud in the last hour: 80 % of the hourly budget of "
                f"about {HOURLY_CALL_BUDGET}; raise 'scan_interval' or narrow 'plants'",
            )
        else:
            self._failures.failing.pop("The call rate", None)

    async def _publish(self, states: list[SensorState], now: float) -> int:
        """Publish, with the sensors gone silent marked unavailable; return how many."""
        freshness = self._builder.freshness
        states += freshness.lapsed({state.entity_id for state in states}, now)
        freshness.published(states, now)
        self.guard.save()
        report = await self.publisher.publish(states)
        if report.restored:
            _LOGGER.info("Home Assistant had lost the sensors (a restart); sent them all again")
        return len(states)

    def _diagnostics(self, error: str) -> list[SensorState]:
        if self.discovery is None:
            return []
        calls = self.cloud.gateway.calls.last_hour(time.time())
        return [
            state
            for entry in self.discovery.plants
            for state in self._builder.diagnostic_states(
                entry.plant, last_success=self._last_success, calls_last_hour=calls, error=error
            )
        ]

    async def _report_failure(self, error: str) -> None:
        """Tell Home Assistant about a failed cycle: last error, and what has gone stale."""
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
        """Return the plants and devices, asking the cloud at most once an hour."""
        now = self.clock()
        known = self.discovery
        if known is not None and 0 <= now - known.found_at < DISCOVERY_INTERVAL:
            return known
        discovery = await discover(self.cloud, wanted=self.wanted_plants, now=now)
        if known is None or discovery.plants != known.plants:
            _LOGGER.info("%s", describe(discovery))
        self.discovery = discovery
        if self.on_discovery is not None:
            self.on_discovery(discovery)
        return discovery
