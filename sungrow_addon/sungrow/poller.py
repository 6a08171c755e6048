"""The polling loop: discovery, one batched read per device type, publishing, and its log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from .catalog import Catalog, load_catalog
from .discovery import Discovery, describe, discover
from .exceptions import (
    HomeAssistantError,
    ISolarCloudAuthenticationError,
    ISolarCloudError,
    ISolarCloudResponseError,
)
from .sensors import sensor_states

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from .homeassistant import Publisher, SensorState
    from .isolarcloud import ISolarCloud
    from .naming import EntityNames

_LOGGER = logging.getLogger(__name__)

DISCOVERY_INTERVAL = 3600.0
# A rejected credential is not retried for hours: repeated wrong logins lock the account.
AUTH_RETRY_FIRST = 3600.0
AUTH_RETRY_MAX = 24 * 3600.0


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
    catalog: Catalog = field(default_factory=load_catalog)
    wanted_plants: tuple[str, ...] = ()
    extra_points: Callable[[int], Collection[str]] = lambda _device_type: ()
    discovery: Discovery | None = None
    on_discovery: Callable[[Discovery], None] | None = None
    clock: Callable[[], float] = time.time

    _failures: FailureLog = field(default_factory=FailureLog, init=False)
    _auth_retry: float = field(default=AUTH_RETRY_FIRST, init=False)
    _cycles: int = field(default=0, init=False)

    async def run_once(self) -> CycleReport:
        """Run one full cycle; raise when any plant's or device's data was not published."""
        discovery = await self._discover()
        states: list[SensorState] = []
        missing: list[str] = []
        for device_type, members in discovery.by_device_type().items():
            points = self.catalog.get(device_type).published_points(self.extra_points(device_type))
            if not points:
                continue
            readings = await self.cloud.realtime(
                device_type=device_type,
                ps_keys=[device.ps_key if device else plant.ps_key for plant, device in members],
                point_ids=[point.point_id for point in points],
            )
            for plant, device in members:
                reading = readings.get(device.ps_key if device else plant.ps_key)
                if reading is None:
                    missing.append(f"{plant.name} {device.label}" if device else plant.name)
                    continue
                states += sensor_states(
                    reading,
                    points,
                    entity_id=partial(self.names.entity_id, plant, device),
                    name_prefix=f"{plant.name} {device.label}" if device else plant.name,
                )
        await self.publisher.publish(states)
        if missing:
            msg = f"iSolarCloud sent no real-time data for {', '.join(missing)}"
            raise ISolarCloudResponseError(msg)
        return CycleReport(
            plants=len(discovery.plants),
            devices=sum(1 for _ in discovery.devices()),
            sensors=len(states),
        )

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
        except ISolarCloudAuthenticationError as err:
            pause = self._auth_retry
            self._auth_retry = min(self._auth_retry * 2, AUTH_RETRY_MAX)
            self._failures.failed(
                "iSolarCloud login",
                f"{err}. Next attempt in {pause / 3600:.0f} h (or restart the add-on)",
                level=logging.ERROR,
            )
            return pause
        except ISolarCloudError as err:
            self._failures.failed("iSolarCloud", f"{err}; trying again at the next poll")
            return 0.0
        except HomeAssistantError as err:
            self._failures.failed("Home Assistant", f"{err}; trying again at the next poll")
            return 0.0
        except Exception as err:  # noqa: BLE001 - the loop must outlive a bug in one cycle
            self._failures.failed(
                "The poll cycle",
                f"Unexpected error in a poll cycle ({type(err).__name__}: {err}); "
                "trying again at the next poll",
                level=logging.ERROR,
                exc_info=err,
            )
            return 0.0
        self._auth_retry = AUTH_RETRY_FIRST
        for source in ("iSolarCloud login", "iSolarCloud", "Home Assistant", "The poll cycle"):
            self._failures.recovered(source)
        self._cycles += 1
        level = logging.INFO if self._cycles == 1 else logging.DEBUG
        _LOGGER.log(
            level,
            "Published %d sensors of %d plant(s) and %d device(s); polling every %d s",
            report.sensors,
            report.plants,
            report.devices,
            self.scan_interval,
        )
        return 0.0

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
