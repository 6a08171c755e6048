"""Whole cycles against the simulator and a fake Home Assistant, and the loop's log and clock."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import aiohttp
import pytest
from const import APPKEY, HA_TOKEN, PASSWORD, PS_ID, SECRET_KEY, USERNAME

from sungrow.exceptions import ISolarCloudResponseError
from sungrow.homeassistant import HomeAssistant
from sungrow.isolarcloud import ISolarCloud
from sungrow.naming import EntityNames
from sungrow.poller import CycleReport, Poller
from sungrow.simulator import CloudSimulator, Fault, SimPlant, hybrid_plant
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from conftest import Clock
    from fake_homeassistant import FakeHomeAssistant

PLANT_SENSORS = {
    "sensor.sungrow_home_plant_power": ("W", "power", "measurement", "83033"),
    "sensor.sungrow_home_load_power": ("W", "power", "measurement", "83106"),
    "sensor.sungrow_home_daily_yield": ("kWh", "energy", "total_increasing", "83022"),
    "sensor.sungrow_home_total_yield": ("kWh", "energy", "total", "83024"),
    "sensor.sungrow_home_energy_purchased_today": ("kWh", "energy", "total_increasing", "83102"),
    "sensor.sungrow_home_total_energy_purchased": ("kWh", "energy", "total", "83105"),
    "sensor.sungrow_home_feed_in_energy_today": ("kWh", "energy", "total_increasing", "83072"),
    "sensor.sungrow_home_total_feed_in_energy": ("kWh", "energy", "total", "83075"),
    "sensor.sungrow_home_daily_load_consumption": ("kWh", "energy", "total_increasing", "83118"),
    "sensor.sungrow_home_total_load_consumption": ("kWh", "energy", "total", "83124"),
    "sensor.sungrow_home_battery_level": ("%", "battery", "measurement", "83252"),
}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The one HTTP session both clients share."""
    async with aiohttp.ClientSession() as session:
        yield session


def make_poller(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    *,
    password: str = PASSWORD,
    scan_interval: float = 300,
) -> Poller:
    """Wire a poller like the service does."""
    return Poller(
        cloud=ISolarCloud(
            session=session,
            gateway=cloud_url,
            appkey=APPKEY,
            secret_key=SECRET_KEY,
            username=USERNAME,
            password=password,
        ),
        publisher=HomeAssistant(session=session, token=HA_TOKEN, api_url=ha_url),
        names=EntityNames(JsonFile(tmp_path / "names.json")),
        scan_interval=scan_interval,
    )


@pytest.fixture
def poller(session: aiohttp.ClientSession, cloud_url: str, ha_url: str, tmp_path: Path) -> Poller:
    """A poller against the simulator and the fake Home Assistant."""
    return make_poller(session, cloud_url, ha_url, tmp_path)


def expected_value(simulator: CloudSimulator, clock: Clock, point_id: int) -> float:
    """Return what the simulated plant reports for a point right now."""
    plant = simulator.plants[0]
    snapshot = plant.household.snapshot(plant.local_time(clock()))
    return plant.devices[0].points[point_id](snapshot)  # type: ignore[return-value]


async def test_a_cycle_publishes_the_plant_sensors_with_their_classes(
    poller: Poller, simulator: CloudSimulator, fake_ha: FakeHomeAssistant, clock: Clock
) -> None:
    """One cycle publishes every promised plant sensor, converted, with unit and classes."""
    report = await poller.run_once()

    assert report == CycleReport(plants=1, sensors=12)
    for entity_id, (unit, device_class, state_class, point_id) in PLANT_SENSORS.items():
        state = fake_ha.states[entity_id]
        attributes = state["attributes"]
        assert attributes["unit_of_measurement"] == unit
        assert attributes["device_class"] == device_class
        assert attributes["state_class"] == state_class
        assert attributes["friendly_name"].startswith("Home ")
        raw = expected_value(simulator, clock, int(point_id))
        wire = round(raw, 3 if unit == "%" else 1)
        factor, precision = {"kWh": (0.001, 2), "%": (100, 1), "W": (1, 0)}[unit]
        assert state["state"] == f"{wire * factor:.{precision}f}"
    assert {p.authorization for p in fake_ha.posted} == {f"Bearer {HA_TOKEN}"}


async def test_a_cycle_costs_login_plant_list_and_one_realtime_call(
    poller: Poller, simulator: CloudSimulator
) -> None:
    """The first cycle makes three calls; the next one only the real-time call."""
    await poller.run_once()
    await poller.run_once()

    assert [call.path for call in simulator.calls] == [
        "/openapi/login",
        "/openapi/getPowerStationList",
        "/openapi/getDeviceRealTimeData",
        "/openapi/getDeviceRealTimeData",
    ]


async def test_all_plants_are_read_in_one_call(
    poller: Poller, simulator: CloudSimulator, fake_ha: FakeHomeAssistant
) -> None:
    """Two plants: one real-time call with both plant keys, and sensors for both."""
    simulator.plants.append(hybrid_plant(1000001, "Cabin"))
    simulator.accounts[0].ps_ids = (PS_ID, 1000001)

    report = await poller.run_once()

    (call,) = simulator.calls_to("/openapi/getDeviceRealTimeData")
    assert call.body is not None
    assert sorted(call.body["ps_key_list"]) == ["1000001_11_0_0", f"{PS_ID}_11_0_0"]
    assert report.plants == 2
    assert "sensor.sungrow_cabin_plant_power" in fake_ha.states
    assert "sensor.sungrow_home_plant_power" in fake_ha.states


async def test_a_plant_without_data_fails_the_cycle_after_publishing_the_others(
    poller: Poller, simulator: CloudSimulator, fake_ha: FakeHomeAssistant
) -> None:
    """A plant the cloud has no real-time data for is an error; the other plant is published."""
    broken = hybrid_plant(1000001, "Cabin")
    simulator.plants.append(
        SimPlant(ps_id=broken.ps_id, name="Cabin", timezone=broken.timezone, devices=())
    )
    simulator.accounts[0].ps_ids = (PS_ID, 1000001)

    with pytest.raises(ISolarCloudResponseError, match="no real-time data for plant Cabin"):
        await poller.run_once()

    assert "sensor.sungrow_home_plant_power" in fake_ha.states


async def test_an_account_without_plants_says_what_to_check(
    poller: Poller, simulator: CloudSimulator
) -> None:
    """No plant visible to the account is an error that says where to look."""
    simulator.accounts[0].ps_ids = ()

    with pytest.raises(ISolarCloudResponseError, match="sees no plant"):
        await poller.run_once()


async def test_a_missing_value_is_not_published(
    poller: Poller, simulator: CloudSimulator, fake_ha: FakeHomeAssistant
) -> None:
    """A point the cloud sends as null is left out of the cycle, not published as 0."""
    del simulator.plants[0].devices[0].points[83252]

    await poller.run_once()

    assert "sensor.sungrow_home_battery_level" not in fake_ha.states
    assert all(p.entity_id != "sensor.sungrow_home_battery_level" for p in fake_ha.posted)


async def run_for(poller: Poller, seconds: float) -> None:
    """Run the loop for a while, then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, 2)


async def test_failing_is_logged_once_and_recovery_once(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    simulator: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three failed cycles give one warning; the first good one after them one info line."""
    poller = make_poller(session, cloud_url, ha_url, tmp_path, scan_interval=0.05)
    simulator.faults.extend(
        Fault(path="/openapi/login", http_status=502, text="Bad Gateway") for _ in range(3)
    )
    caplog.set_level(logging.DEBUG, logger="sungrow")

    await run_for(poller, 0.4)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "iSolarCloud answered /openapi/login with HTTP 502; trying again at the next poll"
    ]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos.count("iSolarCloud works again") == 1
    assert len(simulator.calls_to("/openapi/getDeviceRealTimeData")) >= 2


async def test_rejected_credentials_are_not_tried_again_soon(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    simulator: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A wrong password is tried once, logged once as an error, and not retried for hours."""
    poller = make_poller(session, cloud_url, ha_url, tmp_path, password="wrong", scan_interval=0.02)

    await run_for(poller, 0.3)

    assert len(simulator.calls_to("/openapi/login")) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "check the 'password' option" in errors[0]
    assert "Next attempt in 1 h" in errors[0]


async def test_sigterm_style_stop_interrupts_a_cycle_in_progress(
    poller: Poller, simulator: CloudSimulator
) -> None:
    """Setting stop ends the loop at once, even while a call hangs."""
    simulator.faults.append(Fault(path=None, delay=30))
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    await asyncio.sleep(0.1)

    stop.set()

    await asyncio.wait_for(task, 0.5)


async def test_cycles_keep_to_the_interval_without_drift(poller: Poller) -> None:
    """Cycles that take time do not push the schedule: starts stay on the interval grid."""
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def slow_cycle() -> CycleReport:
        starts.append(loop.time())
        await asyncio.sleep(0.1)
        return CycleReport(plants=1, sensors=1)

    poller.run_once = slow_cycle  # type: ignore[method-assign]
    poller.scan_interval = 0.25

    await run_for(poller, 0.9)

    assert len(starts) == 4
    offsets = [start - starts[0] - index * 0.25 for index, start in enumerate(starts)]
    assert max(abs(offset) for offset in offsets) < 0.06
