"""Minute history against the simulator: what the cloud kept agrees with what it showed live."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from conftest import account_cloud, oauth_cloud
from const import HA_TOKEN, PLANT_PS_KEY, PS_ID

from sungrow.cloud.models import Frame, Plant, Reading, wire_fields
from sungrow.exceptions import (
    HomeAssistantAuthenticationError,
    HomeAssistantError,
    ISolarCloudResponseError,
)
from sungrow.history.hourly import FLOWS, HourRow, counters_on_the_hour, hour_rows
from sungrow.history.keeper import CALL_SHARE, HistoryKeeper
from sungrow.history.live import Boundary, LiveCounters
from sungrow.history.statistics import StatisticsImporter, statistic_id
from sungrow.simulator import micro_plant
from sungrow.simulator.quirks import Quirks
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import aiohttp
    from conftest import Clock
    from fake_homeassistant import FakeHomeAssistant

    from sungrow.simulator import CloudSimulator

MINUTES = "/openapi/getDevicePointMinuteDataList"
POINTS = ["83033", "83022", "83024"]  # PV power, yield today, total yield


def local(
    clock: Clock, simulator: CloudSimulator, days: int, hour: int, minute: int = 0
) -> datetime:
    """Return a plant-local wall time `days` before the simulator's today."""
    today = simulator.plants[0].local_time(clock.now).date()
    midnight = datetime(today.year, today.month, today.day)  # noqa: DTZ001 - plant-local
    return midnight + timedelta(days=-days, hours=hour, minutes=minute)


async def test_the_history_of_yesterday_is_what_the_live_data_showed(
    session: aiohttp.ClientSession, cloud_url: str, simulator: CloudSimulator, clock: Clock
) -> None:
    """Six hours in 3-hour calls; each frame equals the real-time data of its moment."""
    cloud = account_cloud(session, cloud_url)
    start, end = local(clock, simulator, 1, 10), local(clock, simulator, 1, 15, 55)

    history = await cloud.minute_data([PLANT_PS_KEY], POINTS, start, end)

    frames = history[PLANT_PS_KEY]
    assert [frame.at for frame in frames] == [
        start + timedelta(minutes=5 * step) for step in range(72)
    ]
    bodies = [call.body or {} for call in simulator.calls_to(MINUTES)]
    assert [(b["start_time_stamp"], b["end_time_stamp"]) for b in bodies] == [
        (start.strftime("%Y%m%d%H%M%S"), (start + timedelta(minutes=175)).strftime("%Y%m%d%H%M%S")),
        ((start + timedelta(hours=3)).strftime("%Y%m%d%H%M%S"), end.strftime("%Y%m%d%H%M%S")),
    ]
    assert bodies[0]["points"] == "p83033,p83022,p83024"
    for frame in (frames[0], frames[37], frames[-1]):
        clock.now = frame.at.replace(tzinfo=simulator.plants[0].timezone)
        live = await cloud.realtime(device_type=11, ps_keys=[PLANT_PS_KEY], point_ids=POINTS)
        assert frame.values == live[PLANT_PS_KEY].values
    assert frames[-1].values["83024"] > frames[0].values["83024"]  # type: ignore[operator]


async def test_today_has_no_history_unless_the_cloud_serves_it(
    session: aiohttp.ClientSession, cloud_url: str, simulator: CloudSimulator, clock: Clock
) -> None:
    """The portal: no minute data of the current day; one client saw it served."""
    cloud = account_cloud(session, cloud_url)
    start, end = local(clock, simulator, 0, 9), local(clock, simulator, 0, 11, 55)

    assert (
        await cloud.minute_data([PLANT_PS_KEY], POINTS, start, end) == {PLANT_PS_KEY: []}
        or await cloud.minute_data([PLANT_PS_KEY], POINTS, start, end) == {}
    )
    simulator.quirks = Quirks(minute_data_today=True)
    served = await cloud.minute_data([PLANT_PS_KEY], POINTS, start, end)

    assert len(served[PLANT_PS_KEY]) == 36


async def test_many_devices_are_asked_for_fifty_at_a_time(
    session: aiohttp.ClientSession, cloud_url: str, simulator: CloudSimulator, clock: Clock
) -> None:
    """60 microinverters: two calls per window, every device answered."""
    plant = micro_plant(PS_ID + 1, "Roof", count=60)
    simulator.plants.append(plant)
    simulator.accounts[0].ps_ids = (PS_ID, plant.ps_id)
    keys = [device.ps_key for device in plant.devices[1:]]
    cloud = account_cloud(session, cloud_url)
    start = local(clock, simulator, 1, 12)

    history = await cloud.minute_data(keys, ["7"], start, start + timedelta(minutes=55))

    assert [len((call.body or {})["ps_key_list"]) for call in simulator.calls_to(MINUTES)] == [
        50,
        10,
    ]
    assert set(history) == set(keys)
    assert all(len(frames) == 12 for frames in history.values())


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"end_time_stamp": "20260601130500"}, "cannot exceed 3 hours"),
        ({"ps_key_list": [f"{PS_ID}_1_{n}_1" for n in range(51)]}, "cannot exceed 50"),
        ({"points": ",".join(f"p{n}" for n in range(51))}, "cannot exceed 50"),
        ({"points": "83033"}, "010"),
    ],
)
async def test_the_simulator_keeps_the_portals_limits(
    session: aiohttp.ClientSession,
    cloud_url: str,
    change: dict[str, object],
    problem: str,
) -> None:
    """More than 3 hours, 50 keys or 50 points, or points without their "p": 010."""
    cloud = account_cloud(session, cloud_url)
    body = {
        "ps_key_list": [PLANT_PS_KEY],
        "points": "p83033",
        "start_time_stamp": "20260601100000",
        "end_time_stamp": "20260601120000",
        "minute_interval": 5,
        **change,
    }

    with pytest.raises(ISolarCloudResponseError, match=problem):
        await cloud._call(MINUTES, body)  # a raw call on purpose


DAYS = "/openapi/getDevicePointsDayMonthYearDataList"


async def test_the_days_values_are_what_the_minute_history_held(
    session: aiohttp.ClientSession, cloud_url: str, simulator: CloudSimulator, clock: Clock
) -> None:
    """Peak of a daily counter: the day's energy; the lifetime counter's rise agrees; no today."""
    cloud = account_cloud(session, cloud_url)
    yesterday = local(clock, simulator, 1, 0)
    body = {
        "ps_key_list": [PLANT_PS_KEY],
        "data_point": "p83022,p83024",
        "query_type": "1",
        "data_type": "2",
        "start_time": (yesterday - timedelta(days=1)).strftime("%Y%m%d"),
        "end_time": (yesterday + timedelta(days=1)).strftime("%Y%m%d"),  # today: left out
    }

    days = (await cloud._call(DAYS, body))[PLANT_PS_KEY]  # no client method yet: raw on purpose

    assert [row["time_stamp"] for row in days["p83022"]] == [
        (yesterday - timedelta(days=1)).strftime("%Y%m%d"),
        yesterday.strftime("%Y%m%d"),
    ]
    frames = (
        await cloud.minute_data([PLANT_PS_KEY], ["83024"], yesterday, yesterday + timedelta(days=1))
    ).get(PLANT_PS_KEY, [])
    risen = frames[-1].values["83024"] - frames[0].values["83024"]  # type: ignore[operator]
    assert float(days["p83022"][1]["2"]) == pytest.approx(risen, abs=0.1)
    assert float(days["p83024"][1]["2"]) == frames[-1].values["83024"]
    mean = await cloud._call(DAYS, {**body, "data_type": "1"})
    assert float(mean[PLANT_PS_KEY]["p83022"][1]["1"]) < risen / 2  # GAL's "too low" means


async def test_the_oauth_plant_days_keep_the_portals_limits(
    session: aiohttp.ClientSession, cloud_url: str, simulator: CloudSimulator
) -> None:
    """OAuth2 per ps_id; more than 100 days, months, or an unknown data type: 010."""
    cloud = oauth_cloud(session, cloud_url, simulator)
    path = "/openapi/platform/getPowerStationPointDayMonthYearDataList"
    body = {
        "ps_id_list": [str(PS_ID)],
        "data_point": "p83022",
        "query_type": "day",
        "data_type": "2",
        "start_time": "20260101",
        "end_time": "20260110",
    }

    answer = await cloud._call(path, body)

    assert len(answer[str(PS_ID)]["p83022"]) == 10
    for change in (
        {"end_time": "20260411"},
        {"query_type": "month"},
        {"data_type": "5"},
        {"start_time": "2026-01-01"},
    ):
        with pytest.raises(ISolarCloudResponseError, match="010"):
            await cloud._call(path, {**body, **change})


def test_a_frame_without_a_time_is_no_frame_and_garbage_is_no_value() -> None:
    """A bad time drops the frame; "--" and null are no value, never 0."""
    fields = wire_fields(["83033", "83022"])

    assert Frame.from_wire({"time_stamp": "yesterday", "p83033": "1"}, fields) is None
    frame = Frame.from_wire({"time_stamp": "20260601100500", "p83033": "--"}, fields)
    at = datetime(2026, 6, 1, 10, 5)  # noqa: DTZ001 - plant-local wall time, as the cloud sends
    assert frame == Frame(at, {"83033": None, "83022": None})


async def test_a_days_hours_add_up_to_the_days_energy(
    session: aiohttp.ClientSession, cloud_url: str, simulator: CloudSimulator, clock: Clock
) -> None:
    """Yesterday's 24 UTC hours from the lifetime counter: each hour is the energy made in it."""
    cloud = account_cloud(session, cloud_url)
    plant = simulator.plants[0]
    midnight = local(clock, simulator, 1, 0)
    history = await cloud.minute_data(
        [PLANT_PS_KEY], ["83024"], midnight, midnight + timedelta(days=1, minutes=-5)
    )
    counters = counters_on_the_hour(history[PLANT_PS_KEY], "83024", plant.timezone)
    anchor = min(counters.values())

    rows = hour_rows(counters, anchor)

    assert len(rows) == 24
    assert all(row.start.minute == 0 and row.start.tzinfo is UTC for row in rows)
    assert rows[0].sum == 0.0
    day = plant.household.day_totals["pv"] / 1000
    assert rows[-1].sum == pytest.approx(day, abs=0.001)  # 23 hours: the first has no start
    energies = [later.sum - earlier.sum for earlier, later in itertools.pairwise(rows)]
    assert min(energies) >= 0
    assert rows[12].state == counters[rows[12].start + timedelta(hours=1)] / 1000


def test_a_counter_that_dips_gives_no_row() -> None:
    """A glitch below an earlier hour would be a negative hour: it is left out."""
    hours = [datetime(2026, 6, 1, hour, tzinfo=UTC) for hour in range(1, 5)]
    counters = dict(zip(hours, [1000.0, 1500.0, 1400.0, 1600.0], strict=True))

    rows = hour_rows(counters, 1000.0)

    assert [(row.start.hour, row.sum) for row in rows] == [(0, 0.0), (1, 0.5), (3, 0.6)]


ROWS = [
    HourRow(start=datetime(2026, 6, 1, hour, tzinfo=UTC), state=100 + hour, sum=float(hour))
    for hour in range(3)
]


@pytest.mark.parametrize("newer_core", [False, True])
async def test_hours_are_imported_as_an_external_statistic_once(
    session: aiohttp.ClientSession,
    ha_url: str,
    fake_ha: FakeHomeAssistant,
    *,
    newer_core: bool,
) -> None:
    """2026's metadata first, 2025's when refused; importing again overwrites, never adds."""
    fake_ha.takes_mean_type = newer_core
    importer = StatisticsImporter(session=session, url=f"{ha_url}/websocket", token=HA_TOKEN)
    ident = statistic_id(str(PS_ID), "solar_production")

    await importer.import_hours([(ident, "Home solar production", ROWS)])
    await importer.import_hours([(ident, "Home solar production", ROWS[1:])])

    assert ident == f"sungrow_isolarcloud:{PS_ID}_solar_production"
    stored = fake_ha.statistics[ident]
    assert sorted(stored) == [row.start.isoformat() for row in ROWS]
    assert stored[ROWS[2].start.isoformat()] == {
        "start": "2026-06-01T02:00:00+00:00",
        "state": 102,
        "sum": 2.0,
    }
    metadata = fake_ha.statistics_metadata[ident]
    assert metadata["source"] == "sungrow_isolarcloud"
    assert (metadata["has_sum"], metadata["has_mean"], metadata["unit_of_measurement"]) == (
        True,
        False,
        "kWh",
    )
    assert ("unit_class" in metadata) is newer_core


async def test_a_refused_token_or_row_is_an_error_with_the_reason(
    session: aiohttp.ClientSession, ha_url: str, fake_ha: FakeHomeAssistant
) -> None:
    """A refused token, and a row Core refuses: each a clear error, nothing half-stored."""
    ident = statistic_id(str(PS_ID), "grid_import")
    refused = StatisticsImporter(session=session, url=f"{ha_url}/websocket", token="wrong")
    with pytest.raises(HomeAssistantAuthenticationError, match="refused the token"):
        await refused.import_hours([(ident, "Grid import", ROWS)])

    importer = StatisticsImporter(session=session, url=f"{ha_url}/websocket", token=HA_TOKEN)
    off_the_hour = [HourRow(datetime(2026, 6, 1, 10, 30, tzinfo=UTC), 1.0, 0.0)]
    with pytest.raises(HomeAssistantError, match="Invalid timestamp"):
        await importer.import_hours([(ident, "Grid import", off_the_hour)])
    assert fake_ha.statistics.get(ident, {}) == {}


FLOW_TOTALS = {
    "solar_production": "pv",
    "grid_import": "grid_import",
    "grid_export": "grid_export",
    "battery_charge": "charge",
    "battery_discharge": "discharge",
}


def keeper_for(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    simulator: CloudSimulator,
    clock: Clock,
    file: JsonFile,
) -> HistoryKeeper:
    """A keeper of the test plant, its progress in `file`, on the simulator's clock.

    Its waits return at once: a test that counts them replaces `sleep`.
    """

    async def sleep(_seconds: float) -> None:
        return

    cloud = account_cloud(session, cloud_url)
    plant = simulator.plants[0]
    keeper = HistoryKeeper.from_dict(
        file.load() or {},
        cloud=cloud,
        importer=StatisticsImporter(session=session, url=f"{ha_url}/websocket", token=HA_TOKEN),
        days=2,
        zone=lambda: plant.timezone,
        file=file,
        clock=lambda: clock.now.timestamp(),  # noqa: PLW0108 - the clock moves: read it late
        sleep=sleep,
    )
    keeper.plants = [Plant(ps_id=str(PS_ID), name="Home")]
    return keeper


async def test_the_last_days_are_imported_once_and_continue_day_after_day(
    live: LivePlant, simulator: CloudSimulator, fake_ha: FakeHomeAssistant, clock: Clock
) -> None:
    """Two finished days, every flow, sums exact; a restart imports nothing; a new day adds on."""
    totals = simulator.plants[0].household.day_totals

    assert await live.keeper.catch_up() == 2

    assert len(simulator.calls_to(MINUTES)) == 2 * 9  # 3-hour windows and the next midnight
    for flow, total in FLOW_TOTALS.items():
        rows = fake_ha.statistics[f"sungrow_isolarcloud:{PS_ID}_{flow}"]
        # Every hour of the two days but the last: it ends today, whose data the cloud keeps.
        assert len(rows) == 48, flow
        sums = [rows[start]["sum"] for start in sorted(rows)]
        assert sums == sorted(sums), flow
        assert sums[-1] <= 2 * totals[total] / 1000 + 0.001, flow
    solar = fake_ha.statistics[f"sungrow_isolarcloud:{PS_ID}_solar_production"]
    assert solar[max(solar)]["sum"] == pytest.approx(2 * totals["pv"] / 1000, abs=0.0015)
    calls = len(simulator.calls)
    again = live.restart()
    assert await again.catch_up() == 0
    assert len(simulator.calls) == calls

    clock.now += timedelta(days=1)
    assert await again.catch_up() == 1
    assert len(solar) == 72  # yesterday's last hour too, now that its end is in the past
    assert solar[max(solar)]["sum"] == pytest.approx(3 * totals["pv"] / 1000, abs=0.0015)


async def test_history_waits_while_the_polls_need_the_calls(live: LivePlant) -> None:
    """With half the hourly budget spent, the history waits (a minute at a time)."""
    keeper = live.keeper
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        keeper.cloud.gateway.calls.times.clear()  # the hour passes

    keeper.sleep = sleep
    keeper.cloud.gateway.calls.times.extend([datetime.now(UTC).timestamp()] * CALL_SHARE)

    assert await keeper.catch_up() == 2

    assert waits == [60.0]


async def test_a_failing_import_is_logged_once_and_tried_again_hourly(
    live: LivePlant, fake_ha: FakeHomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Core refuses the token: one warning, an hour's wait each time, nothing marked done."""
    keeper = live.keeper
    keeper.importer.token = "wrong"
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise asyncio.CancelledError

    keeper.sleep = sleep
    with pytest.raises(asyncio.CancelledError):
        await keeper.run()

    assert waits == [3600.0] * 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Importing the history failed" in warnings[0].getMessage()
    assert keeper.done == {}
    assert fake_ha.statistics == {}


def test_the_polls_give_the_counters_at_each_full_hour() -> None:
    """Interpolated between the readings around an hour; a late first reading stands for it."""
    live = LiveCounters()
    hour = datetime(2026, 6, 1, 10, tzinfo=UTC)

    assert live.observe("1", hour - timedelta(minutes=3), {"83024": 1000.0, "83022": 5.0}) is None
    closed = live.observe("1", hour + timedelta(minutes=2), {"83024": 1500.0})
    again = live.observe("1", hour + timedelta(minutes=2), {"83024": 1500.0})
    later = live.observe("1", hour + timedelta(minutes=40), {"83024": 1600.0})
    after_gap = live.observe("1", hour + timedelta(hours=1, minutes=8), {"83024": 1700.0})
    too_late = live.observe("2", hour + timedelta(minutes=11), {"83024": 1.0})
    nothing = live.observe("3", hour, {"83022": 1.0, "83105": None})

    assert closed == Boundary(hour, {"83024": 1300.0})  # 3 of the 5 minutes
    assert again is None  # the same data time: nothing new
    assert later is None  # no full hour since
    assert after_gap == Boundary(hour + timedelta(hours=1), {"83024": 1700.0})
    assert too_late is None
    assert nothing is None


class LivePlant:
    """The test plant as the polls see it: its real-time counters at moments the test picks."""

    def __init__(
        self, new_keeper: Callable[[], HistoryKeeper], simulator: CloudSimulator, clock: Clock
    ) -> None:
        """Poll the simulator's plant for the keeper `new_keeper` gives (again at a restart)."""
        self.new_keeper, self.keeper = new_keeper, new_keeper()
        self.cloud, self.clock = self.keeper.cloud, clock
        self.zone = simulator.plants[0].timezone
        today = simulator.plants[0].local_time(clock.now).date()
        self.midnight = datetime(today.year, today.month, today.day, tzinfo=self.zone)

    def restart(self) -> HistoryKeeper:
        """Replace the keeper by a new one, which reads the progress the old one saved."""
        self.keeper = self.new_keeper()
        return self.keeper

    def moment(self, day: int, hour: int, minute: int = 0) -> datetime:
        """Return a plant-local moment, days after the test's first day (UTC, aware)."""
        naive = self.midnight.replace(tzinfo=None) + timedelta(days=day, hours=hour, minutes=minute)
        return naive.replace(tzinfo=self.zone).astimezone(UTC)

    async def reading(self, at: datetime) -> Reading:
        """Read the plant's counters at `at`, as a poll does."""
        self.clock.now = at
        readings = await self.cloud.realtime(
            device_type=11, ps_keys=[PLANT_PS_KEY], point_ids=[flow.point_id for flow in FLOWS]
        )
        return readings[PLANT_PS_KEY]

    async def counters(self, at: datetime) -> dict[str, float | None]:
        """Return the plant's counters at `at`."""
        return (await self.reading(at)).values

    async def poll(self, day: int, hour: int, minute: int = 0) -> None:
        """Poll at a moment and hand the reading on with its data time, as the poller does."""
        reading = await self.reading(self.moment(day, hour, minute))
        assert reading.device_time is not None
        at = reading.device_time.replace(tzinfo=self.zone)
        self.keeper.observe(Plant(ps_id=str(PS_ID), name="Home"), at, reading.values)


@pytest.fixture
def live(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    simulator: CloudSimulator,
    clock: Clock,
    tmp_path: Path,
) -> LivePlant:
    """The test plant polled for a keeper whose progress is in tmp_path/history.json."""
    file = tmp_path / "history.json"
    return LivePlant(
        lambda: keeper_for(session, cloud_url, ha_url, simulator, clock, JsonFile(file)),
        simulator,
        clock,
    )


def hour_changes(fake_ha: FakeHomeAssistant, flow: str) -> dict[str, float]:
    """Return each imported hour's energy (kWh) by its start, as the Energy dashboard shows it."""
    rows = fake_ha.statistics[statistic_id(str(PS_ID), flow)]
    starts = sorted(rows)
    return {
        later: rows[later]["sum"] - rows[earlier]["sum"]
        for earlier, later in itertools.pairwise(starts)
        if datetime.fromisoformat(later) - datetime.fromisoformat(earlier) == timedelta(hours=1)
    }


async def test_todays_hours_come_from_the_polls_and_wait_while_an_earlier_hour_is_missing(
    live: LivePlant, simulator: CloudSimulator, fake_ha: FakeHomeAssistant
) -> None:
    """Started at 10:02: today's hours wait (no spike); from midnight on, every hour at once."""
    keeper, plant = live.keeper, live
    solar = statistic_id(str(PS_ID), "solar_production")

    await plant.poll(0, 10, 2)
    assert await keeper.catch_up() == 2
    rows_before = set(fake_ha.statistics[solar])
    asked = len(simulator.calls_to(MINUTES))
    assert await keeper.import_live_hours() == 0
    assert len(simulator.calls_to(MINUTES)) == asked + 4  # today's history, once: none kept
    await plant.poll(0, 10, 57)
    await plant.poll(0, 11, 2)
    assert await keeper.import_live_hours() == 0
    assert set(fake_ha.statistics[solar]) == rows_before  # nothing after the gap
    assert len(simulator.calls_to(MINUTES)) == asked + 4

    await plant.poll(0, 23, 58)
    await plant.poll(1, 0, 3)
    assert await keeper.catch_up() == 1  # the day just ended, from its minute history
    assert await keeper.import_live_hours() == 1  # the hour ending at midnight
    for hour in range(1, 14):
        await plant.poll(1, hour - 1, 57)
        await plant.poll(1, hour, 2)
        assert await keeper.import_live_hours() == 1

    truth = {hour: await plant.counters(plant.moment(1, hour)) for hour in range(-24, 14)}
    for flow in FLOWS:
        changes = hour_changes(fake_ha, flow.key)
        for hour in range(-23, 14):
            start = plant.moment(1, hour - 1).isoformat()
            made = (truth[hour][flow.point_id] or 0) - (truth[hour - 1][flow.point_id] or 0)
            # Yesterday's hours are the minute history's (exact), today's the polls'.
            tolerance = 0.0005 if hour <= 0 else max(made / 1000 * 0.01, 0.001)
            assert changes[start] == pytest.approx(made / 1000, abs=tolerance), (flow, hour)
    assert keeper.complete_until[str(PS_ID)] == plant.moment(1, 13)


async def test_a_restart_goes_on_with_the_next_hour_and_core_away_loses_no_hour(
    live: LivePlant, simulator: CloudSimulator, fake_ha: FakeHomeAssistant
) -> None:
    """The hour every row is in place up to is kept; hours closed while Core is away wait."""
    keeper, plant = live.keeper, live
    await plant.poll(0, 0, 1)
    await keeper.catch_up()
    assert await keeper.import_live_hours() == 1
    assert keeper.file is not None
    saved = keeper.file.load()
    assert saved is not None
    assert saved["plants"][str(PS_ID)]["complete_until"] == plant.moment(0, 0).isoformat()

    restarted = plant.restart()
    await plant.poll(0, 1, 4)  # the first reading after the restart, 4 minutes late
    restarted.importer.token = "wrong"  # Core away (its token refused, as after a reinstall)
    with pytest.raises(HomeAssistantAuthenticationError):
        await restarted.import_live_hours()
    await plant.poll(0, 1, 58)
    await plant.poll(0, 2, 3)
    restarted.importer.token = HA_TOKEN
    calls = len(simulator.calls_to(MINUTES))

    assert await restarted.import_live_hours() == 2
    assert len(simulator.calls_to(MINUTES)) == calls  # no gap: no history asked
    solar = fake_ha.statistics[statistic_id(str(PS_ID), "solar_production")]
    assert {plant.moment(0, 0).isoformat(), plant.moment(0, 1).isoformat()} <= set(solar)


async def test_a_counter_below_an_earlier_hour_gives_that_flow_no_row(
    live: LivePlant, fake_ha: FakeHomeAssistant
) -> None:
    """A live glitch downwards would be a negative hour: that flow waits for midnight."""
    await live.poll(0, 0, 1)
    await live.keeper.catch_up()
    await live.keeper.import_live_hours()
    counters = await live.counters(live.moment(0, 1))
    dipped = {**counters, "83105": (counters["83105"] or 0) - 500}

    live.keeper.observe(Plant(ps_id=str(PS_ID), name="Home"), live.moment(0, 1), dipped)
    assert await live.keeper.import_live_hours() == 1

    hour = live.moment(0, 0).isoformat()
    assert hour in fake_ha.statistics[statistic_id(str(PS_ID), "solar_production")]
    assert hour not in fake_ha.statistics[statistic_id(str(PS_ID), "grid_import")]


async def test_after_an_upward_glitch_the_nights_import_lets_the_hours_through_again(
    live: LivePlant, fake_ha: FakeHomeAssistant
) -> None:
    """A spike holds the flow's later live hours back only until the minute history is in."""
    grid_import = statistic_id(str(PS_ID), "grid_import")
    await live.poll(0, 0, 1)
    await live.keeper.catch_up()
    await live.keeper.import_live_hours()
    counters = await live.counters(live.moment(0, 1))
    spiked = {**counters, "83105": (counters["83105"] or 0) + 1e9}
    live.keeper.observe(Plant(ps_id=str(PS_ID), name="Home"), live.moment(0, 1), spiked)
    await live.keeper.import_live_hours()
    await live.poll(0, 1, 58)
    await live.poll(0, 2, 3)
    await live.keeper.import_live_hours()
    assert live.moment(0, 1).isoformat() not in fake_ha.statistics[grid_import]

    await live.poll(0, 23, 58)
    await live.poll(1, 0, 3)
    await live.keeper.catch_up()
    assert await live.keeper.import_live_hours() == 1

    assert live.moment(0, 23).isoformat() in fake_ha.statistics[grid_import]


async def test_a_gap_today_is_filled_at_once_where_the_cloud_keeps_todays_history(
    live: LivePlant, simulator: CloudSimulator, fake_ha: FakeHomeAssistant
) -> None:
    """One client saw today's minute history served: the missed hours are exact at once."""
    simulator.quirks = Quirks(minute_data_today=True)
    keeper, plant = live.keeper, live
    await plant.poll(0, 0, 2)
    await keeper.catch_up()
    await keeper.import_live_hours()
    await plant.poll(0, 7, 3)  # back after a 7-hour outage

    assert await keeper.import_live_hours() == 0  # the history holds 07:00 too: no live row
    truth = {hour: await plant.counters(plant.moment(0, hour)) for hour in range(8)}
    changes = hour_changes(fake_ha, "solar_production")
    for hour in range(1, 8):
        made = (truth[hour]["83024"] or 0) - (truth[hour - 1]["83024"] or 0)
        assert changes[plant.moment(0, hour - 1).isoformat()] == pytest.approx(
            made / 1000, abs=0.0005
        )
    assert keeper.complete_until[str(PS_ID)] == plant.moment(0, 7)


async def test_the_keeper_starts_with_the_first_poll_and_imports_each_closed_hour(
    live: LivePlant, fake_ha: FakeHomeAssistant
) -> None:
    """run() waits for the plants, catches up, and wakes for an hour the polls close."""
    keeper, plant = live.keeper, live
    keeper.plants = []
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.Event().wait()  # only a poll wakes it

    keeper.sleep = sleep
    running = asyncio.create_task(keeper.run())
    await asyncio.sleep(0.05)
    assert fake_ha.statistics == {}

    async def settled(check: Callable[[], bool]) -> None:
        for _ in range(200):
            await asyncio.sleep(0.02)
            if check():
                return

    await plant.poll(0, 0, 3)
    await settled(lambda: keeper.complete_until.get(str(PS_ID)) == plant.moment(0, 0))
    assert keeper.done[str(PS_ID)]  # the finished days
    assert sleeps[-1] == 27 * 60  # 00:30: yesterday, imported just after midnight, settled

    keeper.plants.clear()  # as if the plant were new: its days at once, not after midnight
    keeper.done.clear()
    await plant.poll(0, 0, 8)
    await settled(lambda: bool(keeper.done))
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running

    assert keeper.done[str(PS_ID)]
