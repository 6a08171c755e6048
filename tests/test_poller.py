"""Whole cycles against the simulator and a fake Home Assistant, and the loop's log and clock."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from conftest import account_cloud
from const import HA_TOKEN, PASSWORD, PS_ID

from sungrow.cloud.discovery import Discovery
from sungrow.exceptions import ISolarCloudResponseError
from sungrow.poller import CycleReport, Poller
from sungrow.publish.model import PublishReport, Sensor, SensorState
from sungrow.publish.rest import HomeAssistant
from sungrow.simulator import (
    CloudSimulator,
    Fault,
    SimPlant,
    hybrid_plant,
    micro_plant,
    pv_plant,
)
from sungrow.states.guard import CounterGuard
from sungrow.states.naming import EntityNames
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from pathlib import Path

    import aiohttp
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


def make_poller(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    *,
    password: str = PASSWORD,
    scan_interval: float = 300,
    **settings: Any,
) -> Poller:
    """Wire a poller like the service does."""
    return Poller(
        cloud=account_cloud(session, cloud_url, password=password),
        publisher=HomeAssistant(session=session, token=HA_TOKEN, api_url=ha_url),
        names=EntityNames(JsonFile(tmp_path / "names.json")),
        scan_interval=scan_interval,
        **settings,
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

    assert report.plants == 1
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


async def test_the_hybrid_plant_costs_at_most_10_calls_then_5_per_cycle(
    poller: Poller, simulator: CloudSimulator
) -> None:
    """From nothing: login, plant list, device list and one real-time call per device type."""
    await poller.run_once()
    first = [call.path for call in simulator.calls]
    simulator.calls.clear()
    await poller.run_once()

    assert first == [
        "/openapi/login",
        "/openapi/getPowerStationList",
        "/openapi/getDeviceList",
        *["/openapi/getDeviceRealTimeData"] * 5,
    ]
    assert [call.path for call in simulator.calls] == ["/openapi/getDeviceRealTimeData"] * 5
    types = [call.body["device_type"] for call in simulator.calls if call.body]
    assert types == [11, 14, 43, 7, 22]


async def test_the_hybrid_devices_are_published_with_their_classes(
    poller: Poller, fake_ha: FakeHomeAssistant
) -> None:
    """Battery level, charge and discharge power, temperature, meter voltage, battery totals."""
    report = await poller.run_once()

    expected = {
        "sensor.sungrow_home_sh10rt_battery_level": ("%", "battery", "measurement"),
        "sensor.sungrow_home_sh10rt_battery_charging_power": ("W", "power", "measurement"),
        "sensor.sungrow_home_sh10rt_battery_discharging_power": ("W", "power", "measurement"),
        "sensor.sungrow_home_sh10rt_battery_temperature": ("°C", "temperature", "measurement"),
        "sensor.sungrow_home_total_battery_charge": ("kWh", "energy", "total"),
        "sensor.sungrow_home_total_battery_discharge": ("kWh", "energy", "total"),
        "sensor.sungrow_home_sbr064_battery_level": ("%", "battery", "measurement"),
        "sensor.sungrow_home_sbr064_temperature": ("°C", "temperature", "measurement"),
        "sensor.sungrow_home_sbr064_voltage": ("V", "voltage", "measurement"),
        "sensor.sungrow_home_dtsu666_phase_a_voltage": ("V", "voltage", "measurement"),
        "sensor.sungrow_home_winet_s_wlan_signal_strength": (
            "dBm",
            "signal_strength",
            "measurement",
        ),
        "sensor.sungrow_home_winet_s_wireless_signal_strength": ("%", None, "measurement"),
    }
    for entity_id, (unit, device_class, state_class) in expected.items():
        attributes = fake_ha.states[entity_id]["attributes"]
        assert attributes.get("unit_of_measurement") == unit, entity_id
        assert attributes.get("device_class") == device_class, entity_id
        assert attributes.get("state_class") == state_class, entity_id
    name = fake_ha.states["sensor.sungrow_home_sh10rt_battery_level"]["attributes"]
    assert name["friendly_name"] == "Home SH10RT Battery level"
    assert fake_ha.states["sensor.sungrow_home_sh10rt_operating_status"]["state"] == (
        "Grid-connected"
    )
    assert (report.plants, report.devices) == (1, 4)
    assert report.sensors == len(fake_ha.states)


async def test_each_energy_total_has_one_place_on_a_new_installation(
    poller: Poller, fake_ha: FakeHomeAssistant
) -> None:
    """The plant carries the totals; the devices' copies of them are not published."""
    await poller.run_once()

    published = set(fake_ha.states)
    assert "sensor.sungrow_home_total_feed_in_energy" in published
    assert "sensor.sungrow_home_total_battery_charge" in published
    repeated = {
        entity
        for entity in published
        for device in ("_sh10rt_", "_dtsu666_", "_sbr064_")
        if device in entity and fake_ha.states[entity]["attributes"].get("device_class") == "energy"
    }
    assert repeated == set()


async def test_an_upgraded_installation_keeps_the_device_totals_it_published(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    fake_ha: FakeHomeAssistant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Counters an earlier version published stay (they may be in the Energy dashboard)."""
    remembered = {"counters": {f"{PS_ID}/{PS_ID}_14_1_1/total_pv_yield": [1.0, "2026-06-01"]}}
    guard = CounterGuard.from_dict(JsonFile(tmp_path / "counters.json"), remembered)
    caplog.set_level(logging.INFO)

    await make_poller(session, cloud_url, ha_url, tmp_path, guard=guard).run_once()

    published = set(fake_ha.states)
    assert "sensor.sungrow_home_sh10rt_total_pv_yield" in published
    assert "sensor.sungrow_home_sh10rt_total_feed_in_energy" not in published
    assert "sensor.sungrow_home_dtsu666_total_feed_in_energy" not in published
    kept = [r.message for r in caplog.records if "repeat the plant's" in r.message]
    assert kept == [
        (
            "Publishing the Hybrid inverter counters total_pv_yield, which repeat the plant's, "
            "because this installation published them before; new installations get them "
            "only through 'extra_points'"
        )
    ]


async def test_a_plant_without_data_fails_the_cycle_after_publishing_the_others(
    poller: Poller, simulator: CloudSimulator, fake_ha: FakeHomeAssistant
) -> None:
    """A plant the cloud has no real-time data for is an error; the other plant is published."""
    broken = hybrid_plant(1000001, "Cabin")
    simulator.plants.append(
        SimPlant(ps_id=broken.ps_id, name="Cabin", timezone=broken.timezone, devices=())
    )
    simulator.accounts[0].ps_ids = (PS_ID, 1000001)

    with pytest.raises(ISolarCloudResponseError, match="no real-time data for Cabin"):
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
        return CycleReport(plants=1, devices=0, sensors=1)

    poller.run_once = slow_cycle  # type: ignore[method-assign]
    poller.scan_interval = 0.25

    await run_for(poller, 0.9)

    assert len(starts) == 4
    offsets = [start - starts[0] - index * 0.25 for index, start in enumerate(starts)]
    assert max(abs(offset) for offset in offsets) < 0.06


class WallClock:
    """The poller's wall clock, moved by the test."""

    def __init__(self) -> None:
        """Start at an arbitrary fixed time."""
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        """Return the current time."""
        return self.now


async def test_discovery_is_refreshed_hourly_and_finds_a_new_device(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
) -> None:
    """The device list is read again after an hour: a new charger appears without a restart."""
    wall = WallClock()
    poller = make_poller(session, cloud_url, ha_url, tmp_path, clock=wall)
    await poller.run_once()
    simulator.plants[0] = hybrid_plant(PS_ID, "Home", charger=True)

    wall.now += 1800
    await poller.run_once()
    half_hour = len(simulator.calls_to("/openapi/getDeviceList"))
    wall.now += 1801
    await poller.run_once()

    assert half_hour == 1
    assert len(simulator.calls_to("/openapi/getDeviceList")) == 2
    assert "sensor.sungrow_home_ac011e_01_charging_power" in fake_ha.states


@dataclass
class RecordingPublisher:
    """A publisher that keeps what it was told: each describe(), each poll's states."""

    described: list[list[Sensor]] = field(default_factory=list)
    published: list[list[SensorState]] = field(default_factory=list)

    async def describe(self, sensors: Sequence[Sensor]) -> None:
        """Record the sensors of a discovery."""
        self.described.append(list(sensors))

    async def publish(self, states: Sequence[SensorState]) -> PublishReport:
        """Record the states of a poll."""
        self.published.append(list(states))
        return PublishReport(sent=len(states), restored=False)

    async def time_zone(self) -> str | None:
        """Return no zone: the plants' own."""
        return None


async def test_sensors_are_built_once_per_discovery_that_finds_something_new(
    session: aiohttp.ClientSession, cloud_url: str, tmp_path: Path, simulator: CloudSimulator
) -> None:
    """Polls, and hourly discoveries that find the same, reuse each sensor as built."""
    wall, publisher = WallClock(), RecordingPublisher()
    poller = make_poller(session, cloud_url, "http://unused", tmp_path, clock=wall)
    poller.publisher = publisher
    for _ in range(14):  # past the hourly discovery
        await poller.run_once()
        wall.now += 300
    simulator.plants[0] = hybrid_plant(PS_ID, "Home", charger=True)
    wall.now += 3600
    await poller.run_once()

    assert len(simulator.calls_to("/openapi/getDeviceList")) == 3
    assert len(publisher.described) == 2  # the first discovery, and the one with a charger
    first = {id(sensor) for sensor in publisher.described[0]}
    for states in publisher.published[:14]:
        assert {id(state.sensor) for state in states} <= first
    charger = {id(s) for s in publisher.described[1] if s.device and "AC011E" in s.device.name}
    assert charger
    assert charger <= {id(state.sensor) for state in publisher.published[-1]}


async def test_a_stored_discovery_saves_the_calls_after_a_restart(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    simulator: CloudSimulator,
) -> None:
    """A discovery less than an hour old, handed to a new poller, is not asked for again."""
    stored: list[Discovery] = []
    first = make_poller(session, cloud_url, ha_url, tmp_path, on_discovery=stored.append)
    await first.run_once()
    restored = Discovery.from_dict(stored[0].to_dict())
    simulator.calls.clear()

    second = make_poller(session, cloud_url, ha_url, tmp_path, discovery=restored)
    await second.run_once()

    paths = {call.path for call in simulator.calls}
    assert paths == {"/openapi/login", "/openapi/getDeviceRealTimeData"}


async def test_plants_without_device_list_permission_still_publish_the_plant(
    poller: Poller,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """E900 on getDeviceList leaves the plant's own sensors, with a warning."""
    simulator.faults.append(Fault(path="/openapi/getDeviceList", code="E900"))

    report = await poller.run_once()

    assert report.devices == 0
    assert "sensor.sungrow_home_plant_power" in fake_ha.states
    assert "Cannot list the devices of plant Home" in caplog.text


async def test_the_plants_option_narrows_and_names_unknown_ids(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
) -> None:
    """Only the listed plant is published; an id the account lacks is reported with the ids."""
    simulator.plants.append(pv_plant(1000001, "Cabin"))
    simulator.accounts[0].ps_ids = (PS_ID, 1000001)

    await make_poller(session, cloud_url, ha_url, tmp_path, wanted_plants=("1000001",)).run_once()
    wrong = make_poller(session, cloud_url, ha_url, tmp_path / "2", wanted_plants=("42",))

    assert any(entity.startswith("sensor.sungrow_cabin_") for entity in fake_ha.states)
    assert not any(entity.startswith("sensor.sungrow_home_") for entity in fake_ha.states)
    with pytest.raises(ISolarCloudResponseError, match=r"Plant 42 .* 5694969 \(Home\)"):
        await wrong.run_once()


async def test_two_plants_cost_one_call_per_device_type(
    poller: Poller, simulator: CloudSimulator, fake_ha: FakeHomeAssistant
) -> None:
    """A hybrid plant and a PV plant: each device type is read once, for both plants."""
    simulator.plants.append(pv_plant(1000001, "Cabin"))
    simulator.accounts[0].ps_ids = (PS_ID, 1000001)

    await poller.run_once()

    realtime = simulator.calls_to("/openapi/getDeviceRealTimeData")
    types = [call.body["device_type"] for call in realtime if call.body]
    assert sorted(types) == sorted(set(types))
    plant_call = next(call for call in realtime if call.body and call.body["device_type"] == 11)
    assert plant_call.body is not None
    assert sorted(plant_call.body["ps_key_list"]) == ["1000001_11_0_0", f"{PS_ID}_11_0_0"]
    assert "sensor.sungrow_cabin_plant_power" in fake_ha.states
    assert any(entity.startswith("sensor.sungrow_cabin_sg5_0rs_") for entity in fake_ha.states)


async def test_extra_points_are_asked_for_and_published(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
) -> None:
    """A point that is off by default is requested and published once listed."""
    extra = {14: {"13158"}}
    poller = make_poller(
        session, cloud_url, ha_url, tmp_path, extra_points=lambda t: extra.get(t, set())
    )

    await poller.run_once()

    ess = next(
        call
        for call in simulator.calls_to("/openapi/getDeviceRealTimeData")
        if call.body and call.body["device_type"] == 14
    )
    assert ess.body is not None
    assert "13158" in ess.body["point_id_list"]
    voltage = fake_ha.states["sensor.sungrow_home_sh10rt_phase_b_voltage"]
    assert voltage["attributes"]["unit_of_measurement"] == "V"


async def test_devices_of_the_same_model_get_distinct_ids_and_share_a_call(
    poller: Poller, simulator: CloudSimulator, fake_ha: FakeHomeAssistant
) -> None:
    """Three microinverters: one real-time call with three keys, three sets of sensors."""
    simulator.plants.append(micro_plant(1000002, "Shed", count=3))
    simulator.accounts[0].ps_ids = (PS_ID, 1000002)

    await poller.run_once()

    micro = [
        call
        for call in simulator.calls_to("/openapi/getDeviceRealTimeData")
        if call.body and call.body["device_type"] == 55
    ]
    assert len(micro) == 1
    assert micro[0].body is not None
    assert len(micro[0].body["ps_key_list"]) == 3
    powers = sorted(e for e in fake_ha.states if e.startswith("sensor.sungrow_shed_s450s"))
    assert [e for e in powers if e.endswith("_active_power")] == [
        "sensor.sungrow_shed_s450s_2_active_power",
        "sensor.sungrow_shed_s450s_3_active_power",
        "sensor.sungrow_shed_s450s_active_power",
    ]
    name = fake_ha.states["sensor.sungrow_shed_s450s_2_active_power"]["attributes"]
    assert name["friendly_name"] == "Shed S450S 2 Active power"


async def test_each_plants_own_reading_is_handed_to_the_history_with_its_data_time(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    simulator: CloudSimulator,
    clock: Clock,
) -> None:
    """The plant's lifetime counters and the time of its data, once per cycle; no device's."""
    seen: list[tuple[str, datetime, dict[str, float | None]]] = []
    poller = make_poller(
        session,
        cloud_url,
        ha_url,
        tmp_path,
        on_plant_reading=lambda plant, at, values: seen.append((plant.ps_id, at, values)),
        clock=lambda: clock.now.timestamp(),  # noqa: PLW0108 - the clock moves: read it late
    )
    clock.now = clock.now.replace(minute=3, second=0)  # between two 5-minute reports

    await poller.run_once()

    assert len(seen) == 1
    ps_id, at, values = seen[0]
    assert ps_id == str(PS_ID)
    assert at == clock.now.replace(minute=0)  # the data's time, not the poll's
    assert values["83024"] == expected_value(simulator, clock, 83024)
