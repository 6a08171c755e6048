"""End to end against a real Home Assistant Core: states, statistics, Energy dashboard, restart.

One Core (homeassistant 2025.4.4, on a Python 3.13 of this machine) serves the whole module; its
venv is installed once into a cache outside the repository (see `real_core.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import pytest_asyncio
from conftest import ADDON_DIR, living_at
from const import PS_ID
from real_core import RealCore, energy_prefs, find_python

from sungrow.history.hourly import FLOWS, HourRow
from sungrow.history.statistics import StatisticsImporter, statistic_id

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from pathlib import Path

    from conftest import Clock
    from mosquitto import Mosquitto

    from sungrow.simulator import CloudSimulator

pytestmark = [pytest.mark.slow]

PLANT = "sensor.sungrow_home_"
# entity_id: (unit, device_class, state_class), as Core reports them back.
SENSORS = {
    f"{PLANT}total_yield": ("kWh", "energy", "total"),
    f"{PLANT}daily_yield": ("kWh", "energy", "total_increasing"),
    f"{PLANT}plant_power": ("W", "power", "measurement"),
    f"{PLANT}sh10rt_battery_level": ("%", "battery", "measurement"),
}
GRID_IN = f"{PLANT}total_energy_purchased"
GRID_OUT = f"{PLANT}total_feed_in_energy"
SOLAR = f"{PLANT}total_yield"
BATTERY_IN = f"{PLANT}total_battery_charge"
BATTERY_OUT = f"{PLANT}total_battery_discharge"
ENERGY_SENSORS = (GRID_IN, GRID_OUT, SOLAR, BATTERY_IN, BATTERY_OUT, f"{PLANT}daily_yield")
ENERGY_PREFS = energy_prefs(PLANT)
# The entities of each source of ENERGY_PREFS, in order.
SOURCES = ({GRID_IN, GRID_OUT}, {SOLAR}, {BATTERY_IN, BATTERY_OUT})
PUBLISHED = re.compile(r" INFO Published \d+ sensors of 1 plant")
RESTART_GRACE = 10.0  # seconds after Core answers again until every sensor must be back


@pytest.fixture(scope="module")
def installed_core() -> RealCore:
    """A Core installed in the cache (skipped only when this machine has no Python 3.13)."""
    python = find_python()
    if python is None:
        pytest.skip(
            "no Python 3.13 found (pyenv's versions/3.13.*, python3.13 on PATH): "
            "homeassistant 2025.4.4 needs Python >=3.13.0"
        )
    core = RealCore(python)
    core.install()  # a failed install raises: the tests error, they are not skipped
    return core


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def core(installed_core: RealCore) -> AsyncIterator[RealCore]:
    """The running Core of this module, with a fresh config folder and an owner's token."""
    async with installed_core:
        yield installed_core


@contextlib.contextmanager
def explained(core: RealCore, addon_log: Path | None = None) -> Iterator[None]:
    """Add the end of Core's log, and of the add-on's, to any failure inside the block."""
    try:
        yield
    except Exception as err:
        err.add_note(core.log_tail(60))
        if addon_log is not None and addon_log.exists():
            lines = addon_log.read_text(encoding="utf-8", errors="replace").splitlines()
            err.add_note("--- last lines of the add-on's log ---\n" + "\n".join(lines[-40:]))
        raise


async def start_addon(
    core: RealCore,
    options: dict[str, Any],
    tmp_path: Path,
    *args: str,
    extra_env: dict[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """Start `python3 -m sungrow` against Core, logging to tmp_path/addon.log."""
    options_file = tmp_path / "options.json"
    options_file.write_text(json.dumps(options), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUNGROW_", "HA_"))}
    with (tmp_path / "addon.log").open("ab") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sungrow",
            *args,
            env={
                **env,
                "PYTHONPATH": str(ADDON_DIR),
                "SUNGROW_OPTIONS": str(options_file),
                "SUNGROW_DATA_DIR": str(tmp_path / "data"),
                "HA_API_URL": core.api_url,
                "SUPERVISOR_URL": core.base_url,  # no MQTT service there: the REST mode
                "SUPERVISOR_TOKEN": core.token,
                **(extra_env or {}),
            },
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )


async def run_once(
    core: RealCore,
    options: dict[str, Any],
    tmp_path: Path,
    extra_env: dict[str, str] | None = None,
) -> int:
    """Run `python3 -m sungrow --once` against Core; return its exit code."""
    process = await start_addon(core, options, tmp_path, "--once", extra_env=extra_env)
    try:
        return await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def missing_states(core: RealCore, entity_ids: set[str], seconds: float) -> set[str]:
    """Wait up to `seconds` for every entity to have a state in Core; return those without."""
    deadline = time.monotonic() + seconds
    while True:
        missing = {e for e in entity_ids if await core.get_state(e) is None}
        if not missing or time.monotonic() > deadline:
            return missing
        await asyncio.sleep(0.2)


async def logged(log: Path, pattern: re.Pattern[str], seconds: float) -> bool:
    """Wait up to `seconds` for a line matching `pattern` in a log file; tell if it came."""
    deadline = time.monotonic() + seconds
    while not (log.exists() and pattern.search(log.read_text(encoding="utf-8", errors="replace"))):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def compiled(core: RealCore, entity_ids: set[str]) -> set[str]:
    """Return the entities the recorder has compiled statistics for (every 5 minutes)."""
    statistics = await core.ws_command(
        "recorder/statistics_during_period",
        start_time=datetime(2000, 1, 1, tzinfo=UTC).isoformat(),
        statistic_ids=sorted(entity_ids),
        period="5minute",
        types=["sum"],
    )
    return set(statistics)


async def test_once_publishes_sensors_that_core_keeps_with_their_attributes(
    core: RealCore, options: dict[str, Any], tmp_path: Path
) -> None:
    """--once against a real Core: exit 0, and Core serves each sensor with unit and classes."""
    with explained(core, tmp_path / "addon.log"):
        assert await run_once(core, options, tmp_path) == 0

        for entity_id, (unit, device_class, state_class) in SENSORS.items():
            state = await core.get_state(entity_id)
            assert state is not None, f"{entity_id} is not in Core"
            assert float(state["state"]) >= 0, entity_id
            attributes = state["attributes"]
            assert attributes["unit_of_measurement"] == unit, entity_id
            assert attributes["device_class"] == device_class, entity_id
            assert attributes["state_class"] == state_class, entity_id
            assert attributes["friendly_name"].startswith("Home "), entity_id


async def test_the_energy_sensors_get_statistics_and_pass_energy_validation(
    core: RealCore, options: dict[str, Any], tmp_path: Path
) -> None:
    """The recorder keeps sums in kWh; the Energy dashboard's validation finds nothing wrong."""
    with explained(core, tmp_path / "addon.log"):
        assert await run_once(core, options, tmp_path) == 0

        sums = {
            item["statistic_id"]: item
            for item in await core.ws_command("recorder/list_statistic_ids", statistic_type="sum")
        }
        for entity_id in ENERGY_SENSORS:
            assert entity_id in sums, f"{entity_id} has no long-term statistics"
            assert sums[entity_id]["statistics_unit_of_measurement"] == "kWh"
            assert sums[entity_id]["unit_class"] == "energy"
            assert sums[entity_id]["has_sum"] is True
            assert sums[entity_id]["source"] == "recorder"
        means = {
            item["statistic_id"]: item
            for item in await core.ws_command("recorder/list_statistic_ids", statistic_type="mean")
        }
        assert means[f"{PLANT}plant_power"]["statistics_unit_of_measurement"] == "W"
        assert f"{PLANT}plant_power" not in sums

        issues = await core.ws_command("recorder/validate_statistics")
        assert {k: v for k, v in issues.items() if k.startswith("sensor.sungrow_")} == {}

        saved = await core.ws_command("energy/save_prefs", **ENERGY_PREFS)
        assert saved["energy_sources"][1] == ENERGY_PREFS["energy_sources"][1]
        # Until the recorder's first 5-minute compile the entities have no statistics metadata
        # in the database yet: `statistics_not_defined` is then the one issue Core reports, and
        # no other (unit, device class, state class, numeric state, recorded: all accepted).
        # Ask which have been compiled before and after, so that a compile in between is seen.
        all_energy = set().union(*SOURCES)
        for _ in range(3):
            before = await compiled(core, all_energy)
            validation = await core.ws_command("energy/validate")
            if await compiled(core, all_energy) == before:
                break
        expected = [
            [
                {
                    "type": "statistics_not_defined",
                    "affected_entities": [[e, None] for e in sorted(source - before)],
                    "translation_placeholders": None,
                }
            ]
            if source - before
            else []
            for source in SOURCES
        ]
        for issues_of_source in validation["energy_sources"]:
            for issue in issues_of_source:
                issue["affected_entities"].sort()
        assert validation == {"energy_sources": expected, "device_consumption": []}


async def test_sensors_are_back_within_seconds_of_a_core_restart(
    core: RealCore, options: dict[str, Any], tmp_path: Path
) -> None:
    """The running service sends every sensor again when Core restarts, and stops on SIGTERM."""
    for left in await core.states():  # left by the other tests: this run must publish its own
        if left["entity_id"].startswith("sensor.sungrow_"):
            await core.remove_state(left["entity_id"])
    addon_log = tmp_path / "addon.log"
    process = await start_addon(core, {**options, "scan_interval": 3600}, tmp_path)
    try:
        with explained(core, addon_log):
            # The whole first cycle, not only some of its parallel posts, before Core stops.
            assert await logged(addon_log, PUBLISHED, 30), "the first poll published nothing"
            assert await missing_states(core, set(SENSORS), 0) == set()

            restarted = datetime.now(UTC)
            await core.restart()  # returns as soon as Core's API answers again
            answering = time.monotonic()
            missing = await missing_states(core, set(SENSORS), RESTART_GRACE)
            back_after = time.monotonic() - answering

            assert missing == set(), f"not back {back_after:.1f} s after Core answered again"
            for entity_id, (unit, _device_class, _state_class) in SENSORS.items():
                state = await core.get_state(entity_id)
                assert state is not None
                assert datetime.fromisoformat(state["last_updated"]) > restarted, entity_id
                assert state["attributes"]["unit_of_measurement"] == unit, entity_id
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 5) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def mqtt_entities(core: RealCore) -> dict[str, dict[str, Any]]:
    """Return the registry's MQTT entities of the add-on, by entity id."""
    entries = await core.ws_command("config/entity_registry/list")
    return {
        entry["entity_id"]: entry
        for entry in entries
        if entry["platform"] == "mqtt" and entry["entity_id"].startswith("sensor.sungrow_")
    }


async def until_true(check: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    """Poll an async condition for up to `seconds`; tell whether it came true."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)
    return True


async def stop(process: asyncio.subprocess.Process) -> None:
    """Stop the add-on with SIGTERM (a clean exit, which says offline)."""
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_a_rest_installation_switched_to_mqtt_gets_devices_and_keeps_its_ids(
    core: RealCore, options: dict[str, Any], tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Registry entries with unique ids and devices, the same ids, names kept, unavailable offline.

    Runs last in this module: from here on the ids belong to MQTT entities.
    """
    addon_log = tmp_path / "addon.log"
    with explained(core, addon_log):
        started = datetime.now(UTC)
        assert await run_once(core, options, tmp_path) == 0  # the REST installation
        rest_ids = {
            state["entity_id"]
            for state in await core.states()
            if state["entity_id"].startswith("sensor.sungrow_home_")
        }
        await core.setup_mqtt(mosquitto.port)
        mqtt_options = {
            **options,
            "publish": "mqtt",
            "mqtt_url": mosquitto.url,
            "scan_interval": 3600,
        }
        switched = datetime.now(UTC)
        process = await start_addon(core, mqtt_options, tmp_path)
        try:
            assert await until_true(lambda: _all_registered(core, rest_ids), 60), (
                "not every sensor became an MQTT entity"
            )
            await assert_devices_and_ids(core, rest_ids)
            assert await until_true(lambda: _has_value(core, SOLAR), 30)
            await assert_one_history(core, started, switched)
            issues = await core.ws_command("recorder/validate_statistics")
            assert {k: v for k, v in issues.items() if k.startswith("sensor.sungrow_")} == {}
            validation = await core.ws_command("energy/validate")
            for issues_of_source in validation["energy_sources"]:
                assert {issue["type"] for issue in issues_of_source} <= {"statistics_not_defined"}

            await core.ws_command("config/entity_registry/update", entity_id=SOLAR, name="My yield")
            await stop(process)
            addon_log.unlink()
            process = await start_addon(core, mqtt_options, tmp_path)
            assert await logged(addon_log, PUBLISHED, 30)
            renamed = (await mqtt_entities(core))[SOLAR]
            assert renamed["name"] == "My yield"
            state = await core.get_state(SOLAR)
            assert state is not None
            assert state["attributes"]["friendly_name"] == "My yield"
        finally:
            if process.returncode is None:
                await stop(process)

        await core.restart()  # while the add-on is stopped
        assert await until_true(lambda: _all_unavailable(core, set(SENSORS)), 30)
        assert rest_ids <= set(await mqtt_entities(core))


async def assert_devices_and_ids(core: RealCore, rest_ids: set[str]) -> None:
    """Every sensor is an MQTT entity with the REST mode's id, a unique id and a device."""
    entities = await mqtt_entities(core)
    devices = {d["id"]: d for d in await core.ws_command("config/device_registry/list")}
    assert rest_ids <= set(entities)  # the same ids …
    assert not [entity for entity in entities if entity.endswith("_2")]  # … no `_2`
    plant = next(d for d in devices.values() if ["mqtt", f"sungrow_{PS_ID}"] in d["identifiers"])
    for entity_id, entry in entities.items():
        assert entry["unique_id"].startswith(f"sungrow_{PS_ID}"), entity_id
        device = devices[entry["device_id"]]
        assert device["manufacturer"] == "Sungrow"
        if device["id"] != plant["id"]:
            assert device["via_device_id"] == plant["id"], entity_id
    for entity_id, (unit, device_class, state_class) in SENSORS.items():
        state = await core.get_state(entity_id)
        assert state is not None
        assert state["attributes"]["unit_of_measurement"] == unit
        assert state["attributes"].get("device_class") == device_class
        assert state["attributes"]["state_class"] == state_class


async def assert_one_history(core: RealCore, started: datetime, switched: datetime) -> None:
    """The REST-era and the MQTT-era values of the solar total are one entity's history."""

    async def numbers() -> list[datetime]:
        rows = await core.history(SOLAR, started)
        return [datetime.fromisoformat(r["last_changed"]) for r in rows if _is_number(r["state"])]

    async def both_eras() -> bool:
        changed = await numbers()
        return any(at < switched for at in changed) and any(at >= switched for at in changed)

    # The recorder commits every second: the newest rows may not be in the database yet.
    assert await until_true(both_eras, 15), f"not one history across the switch: {await numbers()}"


async def _has_value(core: RealCore, entity_id: str) -> bool:
    state = await core.get_state(entity_id)
    return state is not None and _is_number(state["state"])


async def _all_registered(core: RealCore, entity_ids: set[str]) -> bool:
    return entity_ids <= set(await mqtt_entities(core))


async def _all_unavailable(core: RealCore, entity_ids: set[str]) -> bool:
    states = [await core.get_state(entity_id) for entity_id in entity_ids]
    return all(state is not None and state["state"] == "unavailable" for state in states)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def hours_once(
    core: RealCore,
    start: datetime,
    idents: list[str],
    types: list[str],
    ready: Callable[[dict[str, list[dict[str, Any]]]], bool],
) -> dict[str, list[dict[str, Any]]]:
    """Return the hourly rows from `start` on once `ready` holds (the recorder queues imports)."""
    async with asyncio.timeout(30):
        while True:
            found: dict[str, list[dict[str, Any]]] = await core.ws_command(
                "recorder/statistics_during_period",
                start_time=start.isoformat(),
                statistic_ids=idents,
                period="hour",
                types=types,
            )
            if ready(found):
                return found
            await asyncio.sleep(0.2)


async def test_imported_hours_come_back_from_the_recorder_exactly_once(core: RealCore) -> None:
    """Imported into Core 2025.4.4 (which refuses 2026's metadata), read back hour by hour."""
    ident = statistic_id(str(PS_ID), "solar_production")
    start = datetime(2026, 1, 10, 8, tzinfo=UTC)
    rows = [
        HourRow(start=start + timedelta(hours=hour), state=1000 + 1.5 * hour, sum=1.5 * hour)
        for hour in range(6)
    ]
    async with aiohttp.ClientSession() as session:
        importer = StatisticsImporter(
            session=session, url=f"{core.api_url}/websocket", token=core.token
        )
        await importer.import_hours([(ident, "Home solar production", rows)])
        await importer.import_hours([(ident, "Home solar production", rows[2:])])

    found = await hours_once(
        core,
        start,
        [ident],
        ["sum", "state", "change"],
        lambda found: len(found.get(ident, [])) == len(rows),
    )
    hours = found[ident]
    assert [row["start"] for row in hours] == [row.start.timestamp() * 1000 for row in rows]
    assert [row["sum"] for row in hours] == [row.sum for row in rows]
    assert [row["state"] for row in hours] == [row.state for row in rows]
    assert [row["change"] for row in hours][1:] == [1.5] * 5
    (metadata,) = await core.ws_command("recorder/get_statistics_metadata", statistic_ids=[ident])
    assert (metadata["source"], metadata["statistics_unit_of_measurement"]) == (
        "sungrow_isolarcloud",
        "kWh",
    )


FLOW_POINTS = {flow.key: int(flow.point_id) for flow in FLOWS}
HISTORY_IDS = [statistic_id(str(PS_ID), flow) for flow in FLOW_POINTS]
IMPORTED = re.compile(r"Imported the hourly energy of (\d+) finished day\(s\) and (\d+) hour")


class PlantTime:
    """The simulated plant's wall time, its true counters, and the program living in it."""

    def __init__(self, simulator: CloudSimulator, clock: Clock) -> None:
        """Count days back from the plant's yesterday (always in the past, also just after 0:00)."""
        self.plant, self.clock = simulator.plants[0], clock
        self.zone = self.plant.timezone
        today = datetime.now(self.zone).date()
        self.last_day = datetime(today.year, today.month, today.day) - timedelta(days=1)  # noqa: DTZ001

    def at(self, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
        """Return a plant-local moment `day` days after the last day (<= 0), aware, in UTC."""
        naive = self.last_day + timedelta(days=day, hours=hour, minutes=minute, seconds=second)
        return naive.replace(tzinfo=self.zone).astimezone(UTC)

    def counter(self, moment: datetime, flow: str) -> float:
        """Return a flow's lifetime counter (kWh) at a moment: the simulator's truth."""
        snapshot = self.plant.household.snapshot(moment.astimezone(self.zone))
        return float(self.plant.devices[0].points[FLOW_POINTS[flow]](snapshot)) / 1000  # type: ignore[arg-type]

    def living_at(self, moment: datetime) -> dict[str, str]:
        """Set the cloud's clock to `moment`; return the environment that sets the program's."""
        return living_at(self.clock, moment)


async def hourly_changes(
    core: RealCore, start: datetime, last_start: datetime | None = None
) -> dict[str, dict[datetime, float]]:
    """Return each history statistic's hourly change (kWh) by hour start, from `start` on.

    With `last_start`, once every statistic has that hour's row.
    """
    found = await hours_once(
        core,
        start,
        HISTORY_IDS,
        ["change"],
        lambda found: (
            last_start is None
            or (
                len(found) == len(HISTORY_IDS)
                and all(
                    any(row["start"] == last_start.timestamp() * 1000 for row in rows)
                    for rows in found.values()
                )
            )
        ),
    )
    return {
        ident: {datetime.fromtimestamp(row["start"] / 1000, UTC): row["change"] for row in rows}
        for ident, rows in found.items()
    }


async def recorder_caught_up(core: RealCore, marker: int) -> None:
    """Import a marker row and wait for it: every import queued before it is in by then."""
    ident = statistic_id("0", "test_marker")
    start = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(hours=marker)
    async with aiohttp.ClientSession() as session:
        importer = StatisticsImporter(
            session=session, url=f"{core.api_url}/websocket", token=core.token
        )
        await importer.import_hours([(ident, "marker", [HourRow(start, 0.0, float(marker))])])
    await hours_once(core, start, [ident], ["sum"], lambda found: bool(found.get(ident)))


async def test_the_energy_dashboards_hours_are_the_plants_from_the_first_day_and_across_outages(
    core: RealCore,
    options: dict[str, Any],
    simulator: CloudSimulator,
    clock: Clock,
    tmp_path: Path,
) -> None:
    """history_days 7, then a 6-hour outage: every hour as the simulator made it, none twice.

    The program runs at chosen moments of past days (libfaketime), the cloud with it; the
    statistics come back from Core's recorder.
    """
    days = PlantTime(simulator, clock)
    settings = {**options, "history_days": 7}
    log = tmp_path / "addon.log"

    async def live_at(moment: datetime) -> tuple[int, int]:
        assert await run_once(core, settings, tmp_path, days.living_at(moment)) == 0
        found = IMPORTED.findall(log.read_text(encoding="utf-8"))
        return int(found[-1][0]), int(found[-1][1])

    with explained(core, log):
        # First start just after midnight: the last 7 days, and the hour that just ended.
        assert await live_at(days.at(-2, 0, 0, 20)) == (7, 1)
        changes = await hourly_changes(core, days.at(-9, 0), days.at(-3, 23))
        for flow in FLOW_POINTS:
            hours = changes[statistic_id(str(PS_ID), flow)]
            for hour in range(7 * 24):
                start = days.at(-9, hour)
                made = days.counter(start + timedelta(hours=1), flow) - days.counter(start, flow)
                assert hours[start] == pytest.approx(made, rel=0.001, abs=0.001), (flow, start)

        # Away from 00:00 to 06:00: the hours after the gap wait instead of a spike at 06:00.
        assert await live_at(days.at(-2, 6, 0, 20)) == (1, 0)  # the day before, settled now
        await recorder_caught_up(core, 1)
        assert max((await hourly_changes(core, days.at(-3, 0)))[HISTORY_IDS[0]]) == days.at(-3, 23)

        # After midnight the day's minute history gives every hour, the missed ones too; the
        # next day's gives its last hour.
        assert await live_at(days.at(-1, 0, 30, 20)) == (1, 0)
        assert await live_at(days.at(0, 0, 30, 20)) == (1, 0)
        changes = await hourly_changes(core, days.at(-2, 0), days.at(-2, 23))
        for flow in FLOW_POINTS:
            hours = changes[statistic_id(str(PS_ID), flow)]
            for hour in range(24):
                start = days.at(-2, hour)
                made = days.counter(start + timedelta(hours=1), flow) - days.counter(start, flow)
                assert hours[start] == pytest.approx(made, rel=0.01, abs=0.001), (flow, hour)
            day = days.counter(days.at(-1, 0), flow) - days.counter(days.at(-2, 0), flow)
            total = sum(hours[days.at(-2, hour)] for hour in range(24))
            assert total == pytest.approx(day, abs=0.0015), flow

        # A second start imports nothing again, and asks the cloud for no history.
        minute_calls = len(simulator.calls_to("/openapi/getDevicePointMinuteDataList"))
        before = await hourly_changes(core, days.at(-9, 0))
        assert await live_at(days.at(0, 0, 30, 20)) == (0, 0)
        assert len(simulator.calls_to("/openapi/getDevicePointMinuteDataList")) == minute_calls
        await recorder_caught_up(core, 2)
        assert await hourly_changes(core, days.at(-9, 0)) == before

        issues = await core.ws_command("recorder/validate_statistics")
        assert not {ident: found for ident, found in issues.items() if ident in HISTORY_IDS}
        await core.ws_command("energy/save_prefs", **history_energy_prefs())
        validation = await core.ws_command("energy/validate")
        assert validation["energy_sources"] == [[], [], []]


def history_energy_prefs() -> dict[str, Any]:
    """Return Energy dashboard preferences with the history statistics, as DOCS.md names them."""
    prefs = energy_prefs(PLANT)
    grid, solar, battery = prefs["energy_sources"]
    grid["flow_from"][0]["stat_energy_from"] = statistic_id(str(PS_ID), "grid_import")
    grid["flow_to"][0]["stat_energy_to"] = statistic_id(str(PS_ID), "grid_export")
    solar["stat_energy_from"] = statistic_id(str(PS_ID), "solar_production")
    battery["stat_energy_from"] = statistic_id(str(PS_ID), "battery_discharge")
    battery["stat_energy_to"] = statistic_id(str(PS_ID), "battery_charge")
    return prefs
