"""Energy-dashboard-correct data through whole cycles: classes, derived values, freshness."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from conftest import make_poller
from const import PS_ID

from sungrow.simulator import Fault, micro_plant, pv_plant
from sungrow.states.catalog import load_catalog

if TYPE_CHECKING:
    from pathlib import Path

    import aiohttp
    from conftest import Clock, WallClock
    from fake_homeassistant import FakeHomeAssistant

    from sungrow.poller import Poller
    from sungrow.simulator import CloudSimulator

# Home Assistant's energy units (UnitOfEnergy) and the state classes its Energy dashboard takes.
ENERGY_UNITS = {"Wh", "kWh", "MWh", "GWh", "TWh", "J", "kJ", "MJ", "GJ", "cal", "kcal", "Mcal"}
ENERGY_STATE_CLASSES = {"total", "total_increasing"}


def energy_problems(state: dict[str, Any]) -> list[str]:
    """What Home Assistant's energy validation would say about a sensor used as a source."""
    attributes, problems = state["attributes"], []
    if attributes.get("device_class") != "energy":
        problems.append("device class is not energy")
    if attributes.get("unit_of_measurement") not in ENERGY_UNITS:
        problems.append(f"unit {attributes.get('unit_of_measurement')!r}")
    if attributes.get("state_class") not in ENERGY_STATE_CLASSES:
        problems.append(f"state class {attributes.get('state_class')!r}")
    try:
        value = float(state["state"])
    except ValueError:
        problems.append(f"state {state['state']!r} is not a number")
    else:
        if not math.isfinite(value) or value < 0:
            problems.append(f"state {value} is negative or not finite")
    return problems


def value(fake_ha: FakeHomeAssistant, entity_id: str) -> str:
    """Return the state Home Assistant holds for an entity."""
    return str(fake_ha.states[entity_id]["state"])


async def test_every_energy_sensor_passes_the_energy_dashboards_checks(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    wall: WallClock,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
) -> None:
    """Every energy sensor has class, unit, state class.

    Hybrid, PV and microinverter plants, every point of the catalog asked for.
    """
    simulator.plants += [pv_plant(1000001, "Cabin"), micro_plant(1000002, "Shed", count=2)]
    simulator.accounts[0].ps_ids = (PS_ID, 1000001, 1000002)
    catalog = load_catalog()

    await make_poller(
        session,
        cloud_url,
        ha_url,
        tmp_path,
        wall,
        extra_points=lambda kind: {point.point_id for point in catalog.get(kind).points},
    ).run_once()

    energy = {
        e: s for e, s in fake_ha.states.items() if s["attributes"].get("device_class") == "energy"
    }
    assert len(energy) > 30
    assert {e: energy_problems(s) for e, s in energy.items() if energy_problems(s)} == {}
    for state in fake_ha.states.values():
        if state["attributes"].get("device_class") == "power":
            assert state["attributes"]["unit_of_measurement"] == "W"
            assert state["attributes"]["state_class"] == "measurement"


async def test_derived_power_comes_from_simultaneous_readings(
    poller: Poller, simulator: CloudSimulator, fake_ha: FakeHomeAssistant, clock: Clock
) -> None:
    """Net grid is purchased minus feed-in power; net battery is charging minus discharging."""
    await poller.run_once()

    plant = simulator.plants[0]
    step = plant.household.snapshot(plant.local_time(clock())).step
    net_grid = round(step.grid_import, 1) - round(step.grid_export, 1)
    net_battery = round(step.charge, 1) - round(step.discharge, 1)
    assert value(fake_ha, "sensor.sungrow_home_sh10rt_net_grid_power") == f"{net_grid:.0f}"
    assert value(fake_ha, "sensor.sungrow_home_sh10rt_net_battery_power") == f"{net_battery:.0f}"
    attributes = fake_ha.states["sensor.sungrow_home_sh10rt_net_grid_power"]["attributes"]
    assert (attributes["device_class"], attributes["unit_of_measurement"]) == ("power", "W")


async def test_todays_shares_are_computed_and_defined_before_sunrise(
    poller: Poller, fake_ha: FakeHomeAssistant, clock: Clock, wall: WallClock
) -> None:
    """At noon the shares follow today's energy; at 00:02, with nothing yet, both are 100 %."""
    await poller.run_once()
    noon_consumption = float(value(fake_ha, "sensor.sungrow_home_self_consumption_today"))
    noon_sufficiency = float(value(fake_ha, "sensor.sungrow_home_self_sufficiency_today"))
    clock.now = datetime(2026, 6, 21, 22, 2, tzinfo=UTC)  # 00:02 in Berlin
    wall.now = clock.now.timestamp()

    await poller.run_once()

    assert 0 < noon_consumption < 100
    assert 0 < noon_sufficiency <= 100
    assert value(fake_ha, "sensor.sungrow_home_self_consumption_today") == "100.0"
    assert value(fake_ha, "sensor.sungrow_home_self_sufficiency_today") == "100.0"


async def test_a_dip_and_a_null_never_reach_home_assistant_across_a_restart(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    wall: WallClock,
) -> None:
    """After a restart, a nudged-down total and a null daily value are neither drop nor 0."""
    await make_poller(session, cloud_url, ha_url, tmp_path, wall).run_once()
    total_before = value(fake_ha, "sensor.sungrow_home_total_yield")
    daily_before = value(fake_ha, "sensor.sungrow_home_daily_yield")
    points = simulator.plants[0].devices[0].points
    original = points[83024]
    points[83024] = lambda snapshot: (original(snapshot) or 0) - 100.0
    points[83022] = lambda _snapshot: None
    fake_ha.posted.clear()

    await make_poller(session, cloud_url, ha_url, tmp_path, wall).run_once()

    assert value(fake_ha, "sensor.sungrow_home_total_yield") == total_before
    assert value(fake_ha, "sensor.sungrow_home_daily_yield") == daily_before
    posted = {p.entity_id: p.body["state"] for p in fake_ha.posted}
    assert posted["sensor.sungrow_home_total_yield"] == total_before
    assert "sensor.sungrow_home_daily_yield" not in posted


async def test_a_device_whose_data_time_stops_turns_unavailable_then_recovers(
    poller: Poller, fake_ha: FakeHomeAssistant, clock: Clock, wall: WallClock
) -> None:
    """The cloud repeats an old device_time for over 3 refreshes: unavailable until it moves."""
    entity = "sensor.sungrow_home_sh10rt_battery_level"
    await poller.run_once()
    fresh = value(fake_ha, entity)
    wall.now += 600
    await poller.run_once()
    still_fresh = value(fake_ha, entity)
    wall.now += 400
    await poller.run_once()
    stale = value(fake_ha, entity)
    clock.now += timedelta(minutes=5)
    wall.now += 300
    await poller.run_once()

    assert fresh == still_fresh != "unavailable"
    assert stale == "unavailable"
    assert value(fake_ha, entity) != "unavailable"
    attributes = fake_ha.states[entity]["attributes"]
    assert attributes["unit_of_measurement"] == "%"


async def test_a_value_missing_for_too_long_turns_unavailable(
    poller: Poller,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    clock: Clock,
    wall: WallClock,
) -> None:
    """A point the cloud stops sending keeps its value for a while, then is unavailable."""
    entity = "sensor.sungrow_home_sh10rt_battery_temperature"
    await poller.run_once()
    del simulator.plants[0].devices[1].points[13143]
    for _ in range(4):
        clock.now += timedelta(minutes=5)
        wall.now += 300
        await poller.run_once()

    assert value(fake_ha, entity) == "unavailable"


async def test_diagnostics_tell_when_what_and_how_many(
    poller: Poller, simulator: CloudSimulator, fake_ha: FakeHomeAssistant, wall: WallClock
) -> None:
    """Last update, cloud data time (plant zone), calls in the last hour, last error."""
    await poller.run_once()

    updated = datetime.fromisoformat(value(fake_ha, "sensor.sungrow_home_last_update"))
    assert updated == datetime.fromtimestamp(wall.now, UTC)
    assert value(fake_ha, "sensor.sungrow_home_data_time") == "2026-06-21T12:00:00+02:00"
    assert value(fake_ha, "sensor.sungrow_home_api_calls_last_hour") == str(len(simulator.calls))
    assert value(fake_ha, "sensor.sungrow_home_last_error") == "none"
    assert fake_ha.states["sensor.sungrow_home_data_time"]["attributes"]["device_class"] == (
        "timestamp"
    )

    simulator.faults.append(Fault(path="/openapi/getDeviceRealTimeData", code="011"))
    wall.now += 300
    assert await poller._guarded_cycle() == 0.0

    assert "getDeviceRealTimeData with 011" in value(fake_ha, "sensor.sungrow_home_last_error")
    assert datetime.fromisoformat(value(fake_ha, "sensor.sungrow_home_last_update")) == updated
