"""What live users of the Open API saw (REAL_WORLD.md), reproduced with the simulator's quirks."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from conftest import error_lines, health_check, make_poller, until
from const import HA_TOKEN, PS_ID

from sungrow.exceptions import CycleIncompleteError
from sungrow.health import GRACE, STEP_LIMIT, Heartbeat
from sungrow.publish.model import Sensor, SensorState
from sungrow.publish.rest import HomeAssistant
from sungrow.publish.watcher import CoreWatcher
from sungrow.service import supervised
from sungrow.simulator import (
    AUSTRALIAN_EXPIRY,
    EUROPEAN_EXPIRY,
    Fault,
    Quirks,
    RefreshRefusal,
)

if TYPE_CHECKING:
    from pathlib import Path

    import aiohttp
    from conftest import Clock, RunAddon, WallClock
    from fake_homeassistant import FakeHomeAssistant

    from sungrow.poller import Poller
    from sungrow.simulator import CloudSimulator

LOGIN = "/openapi/login"
PLANT_LIST = "/openapi/getPowerStationList"
DEVICE_LIST = "/openapi/getDeviceList"
REALTIME = "/openapi/getDeviceRealTimeData"
REFRESH = "/openapi/apiManage/refreshToken"
BATTERY_LEVEL = "sensor.sungrow_home_sbr064_battery_level"
PLANT_POWER = "sensor.sungrow_home_plant_power"
LOAD_TOTAL = "sensor.sungrow_home_total_load_consumption"
BATTERY_SOURCE = "Battery data (device type 43)"


@pytest.fixture(autouse=True)
def _log_info(caplog: pytest.LogCaptureFixture) -> None:
    """Capture the info lines too: recoveries are logged at info."""
    caplog.set_level(logging.INFO)


def later(clock: Clock, wall: WallClock, minutes: int) -> None:
    """Move the cloud's clock and the add-on's clock together."""
    clock.now += timedelta(minutes=minutes)
    wall.now += minutes * 60


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    """Return the levels of the log records above debug that contain `text`."""
    return [
        record.levelname
        for record in caplog.records
        if text in record.getMessage() and record.levelno > logging.DEBUG
    ]


# Item 3: a cycle is not all-or-nothing.


async def test_a_device_type_outside_the_plan_leaves_every_other_sensor_published(
    poller: Poller,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    clock: Clock,
    wall: WallClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """E900 for batteries only: the rest is published, logged once, and once on recovery."""
    simulator.quirks = Quirks(plan_excludes=frozenset({43}))

    for _ in range(2):
        with pytest.raises(CycleIncompleteError, match="does not allow this application"):
            await poller.run_once()
        later(clock, wall, 5)

    published = set(fake_ha.states)
    assert PLANT_POWER in published
    assert "sensor.sungrow_home_sh10rt_pv_power" in published
    assert "sensor.sungrow_home_dtsu666_active_power" in published
    assert "sensor.sungrow_home_winet_s_wireless_signal_strength" in published
    assert not [entity for entity in published if "_sbr064_" in entity]
    assert "Battery data" in fake_ha.states["sensor.sungrow_home_last_error"]["state"]
    assert messages(caplog, f"Cannot read the {BATTERY_SOURCE}") == ["WARNING"]
    assert len(simulator.calls_to(LOGIN)) == 1

    simulator.quirks = Quirks()
    report = await poller.run_once()

    assert report.sensors > 0
    assert BATTERY_LEVEL in fake_ha.states
    assert fake_ha.states["sensor.sungrow_home_last_error"]["state"] == "none"
    assert messages(caplog, f"{BATTERY_SOURCE} works again") == ["INFO"]


async def test_a_failing_device_type_turns_unavailable_after_the_staleness_limit(
    poller: Poller,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    clock: Clock,
    wall: WallClock,
) -> None:
    """Its sensors keep their last value for three refreshes, then turn unavailable."""
    await poller.run_once()
    level = fake_ha.states[BATTERY_LEVEL]["state"]
    simulator.quirks = Quirks(plan_excludes=frozenset({43}))

    seen = []
    for _ in range(4):
        later(clock, wall, 5)
        with pytest.raises(CycleIncompleteError):
            await poller.run_once()
        seen.append(fake_ha.states[BATTERY_LEVEL]["state"])

    assert seen == [level, level, level, "unavailable"]
    assert fake_ha.states[PLANT_POWER]["state"] != "unavailable"


async def test_a_timeout_after_the_retries_costs_only_that_device_type(
    poller: Poller,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three slow answers for the batteries: the others are published, the batteries missed."""
    poller.cloud.gateway.request_timeout = 0.2
    attempts = poller.cloud.gateway.attempts
    simulator.faults.extend(
        Fault(path=REALTIME, device_type=43, delay=0.5) for _ in range(attempts)
    )

    with pytest.raises(CycleIncompleteError, match="did not answer"):
        await poller.run_once()

    assert PLANT_POWER in fake_ha.states
    assert "sensor.sungrow_home_sh10rt_battery_level" in fake_ha.states
    assert BATTERY_LEVEL not in fake_ha.states
    assert messages(caplog, BATTERY_SOURCE) == ["WARNING"]


async def test_a_failed_rediscovery_keeps_the_devices_found_before(
    poller: Poller,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    clock: Clock,
    wall: WallClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The hourly plant list fails: the cached devices are read, the list asked again later."""
    await poller.run_once()
    later(clock, wall, 61)
    fake_ha.states.clear()
    simulator.faults.append(Fault(path=PLANT_LIST, code="011"))

    with pytest.raises(CycleIncompleteError, match="011"):
        await poller.run_once()
    assert BATTERY_LEVEL in fake_ha.states
    later(clock, wall, 5)
    simulator.calls.clear()
    with pytest.raises(CycleIncompleteError):
        await poller.run_once()
    assert simulator.calls_to(PLANT_LIST) == []
    later(clock, wall, 15)
    await poller.run_once()

    assert len(simulator.calls_to(PLANT_LIST)) == 1
    assert messages(caplog, "keeping the plants and devices found before") == ["WARNING"]
    assert messages(caplog, "Finding the plants and devices works again") == ["INFO"]


async def test_a_credential_verdict_still_stops_the_cycle(
    poller: Poller, simulator: CloudSimulator
) -> None:
    """A token the cloud refuses right after issuing it ends the cycle: nothing half-read."""
    await poller.run_once()
    simulator.expire_tokens()
    simulator.faults.extend(Fault(path=REALTIME, code="E00003") for _ in range(2))
    simulator.calls.clear()

    assert await poller._guarded_cycle() == 3600

    assert [call.path for call in simulator.calls] == [REALTIME, LOGIN, REALTIME]


# Item 4: impossible counter values.


async def test_a_negative_lifetime_total_is_never_published_nor_remembered(
    poller: Poller,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    clock: Clock,
    wall: WallClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A live plant reported -478739.743 Wh of total load consumption: held out, logged once."""
    simulator.quirks = Quirks(point_values={(11, 83124): -478739.743})
    await poller.run_once()
    later(clock, wall, 5)
    await poller.run_once()

    assert LOAD_TOTAL not in fake_ha.states
    assert not any(p.entity_id == LOAD_TOTAL for p in fake_ha.posted)
    counters = json.loads((tmp_path / "counters.json").read_text())["counters"]
    assert LOAD_TOTAL not in counters
    assert messages(caplog, "cannot be negative") == ["WARNING"]

    simulator.quirks = Quirks()
    later(clock, wall, 5)
    await poller.run_once()
    good = float(fake_ha.states[LOAD_TOTAL]["state"])
    simulator.quirks = Quirks(point_values={(11, 83124): -478739.743})
    later(clock, wall, 5)
    await poller.run_once()

    assert float(fake_ha.states[LOAD_TOTAL]["state"]) == good > 0
    assert all(float(p.body["state"]) > 0 for p in fake_ha.posted if p.entity_id == LOAD_TOTAL)


# Item 7: defects found in review.


async def test_last_update_does_not_advance_on_a_cycle_that_failed_to_publish(
    poller: Poller,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    clock: Clock,
    wall: WallClock,
) -> None:
    """A cycle Home Assistant refused is not a successful update, later reports included."""
    await poller.run_once()
    first = fake_ha.states["sensor.sungrow_home_last_update"]["state"]
    later(clock, wall, 5)
    fake_ha.status_override = 500
    await poller._guarded_cycle()
    fake_ha.status_override = None
    later(clock, wall, 5)
    simulator.faults.append(Fault(path=REALTIME, code="E999"))
    await poller._guarded_cycle()

    assert "E999" in fake_ha.states["sensor.sungrow_home_last_error"]["state"]
    assert fake_ha.states["sensor.sungrow_home_last_update"]["state"] == first
    assert first == datetime.fromtimestamp(wall.now - 600, UTC).isoformat()


async def test_a_refused_device_list_is_warned_about_once(
    poller: Poller,
    simulator: CloudSimulator,
    clock: Clock,
    wall: WallClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """E900 for the device list at every hourly discovery: one warning, not one an hour."""
    for hour in range(1, 4):
        simulator.faults.append(Fault(path=DEVICE_LIST, code="E900"))
        await poller.run_once()
        later(clock, wall, 61)
        assert len(simulator.calls_to(DEVICE_LIST)) == hour

    assert messages(caplog, "Cannot list the devices of plant Home") == ["WARNING"]
    # The refusal came with a fresh token: a verdict at once, and believed in later hours.
    assert len(simulator.calls_to(LOGIN)) == 1


async def test_the_watcher_survives_a_500_while_republishing_and_sees_the_next_restart(
    session: aiohttp.ClientSession,
    ha_url: str,
    fake_ha: FakeHomeAssistant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Home Assistant answers 500 to the re-publish: logged, and the next restart still seen."""
    publisher = HomeAssistant(session=session, token=HA_TOKEN, api_url=ha_url)
    await publisher.publish([SensorState(Sensor(entity_id=PLANT_POWER, attributes={}), "42")])
    watcher = CoreWatcher(
        session=session,
        url=publisher.websocket_url,
        token=HA_TOKEN,
        on_return=publisher.republish,
        retry_min=0.05,
        retry_max=0.1,
    )
    task = asyncio.create_task(supervised("Watching", watcher.run))
    try:
        await until(lambda: fake_ha.websocket_logins == 1, 5)
        fake_ha.status_override = 500
        posted = len(fake_ha.posted)
        await fake_ha.restart(down_for=0.2)
        await until(lambda: len(fake_ha.posted) > posted, 5)
        fake_ha.status_override = None
        await fake_ha.restart(down_for=0.2)
        await until(lambda: PLANT_POWER in fake_ha.states, 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert fake_ha.states[PLANT_POWER]["state"] == "42"
    assert fake_ha.websocket_logins == 3
    assert messages(caplog, "Publishing after the restart failed") == ["WARNING"]
    assert "Traceback" not in caplog.text


async def test_a_crashed_background_task_is_restarted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in a helper task: one ERROR line with the traceback, then it runs again."""
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("bug")

    await supervised("The helper", flaky, retry_first=0.01)

    assert len(runs) == 3
    assert messages(caplog, "The helper stopped (RuntimeError: bug)") == ["ERROR"]


async def test_the_heartbeat_follows_the_poll_loop(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    wall: WallClock,
    simulator: CloudSimulator,
) -> None:
    """Healthy through an hour's backoff on purpose; unhealthy when a call hangs too long."""
    heartbeat = Heartbeat(tmp_path / "heartbeat")
    poller = make_poller(
        session, cloud_url, ha_url, tmp_path, wall, expect_progress=heartbeat.expect_within
    )
    simulator.accounts[0].password = "changed-in-the-app"
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    await until(lambda: len(simulator.calls_to(LOGIN)) == 1, 5)
    await asyncio.sleep(0.1)
    backing_off = [health_check(heartbeat.path, seconds_later=m * 60) for m in (1, 30, 59, 70)]
    overdue = health_check(heartbeat.path, seconds_later=3600 + STEP_LIMIT + GRACE + 60)
    stop.set()
    await task

    poller = make_poller(
        session, cloud_url, ha_url, tmp_path, wall, expect_progress=heartbeat.expect_within
    )
    simulator.faults.append(Fault(path=LOGIN, delay=30))
    stuck = asyncio.create_task(poller.run_once())
    await until(lambda: not simulator.faults, 5)
    hanging = [health_check(heartbeat.path, seconds_later=m * 60) for m in (1, 10, 12)]
    stuck.cancel()
    await asyncio.gather(stuck, return_exceptions=True)

    assert backing_off == [True, True, True, True]
    assert not overdue
    assert hanging == [True, True, False]


# The program, as the container runs it.


@pytest.mark.slow
@pytest.mark.parametrize("expiry", [AUSTRALIAN_EXPIRY, EUROPEAN_EXPIRY], ids=["E900", "010"])
async def test_a_saved_token_refused_under_another_code_costs_one_login(
    run_addon: RunAddon,
    options: dict[str, Any],
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    expiry: tuple[str, str],
) -> None:
    """The token from an earlier run is refused as E900 or 010: one login more, exit 0."""
    first = await run_addon("--once", options=options)
    simulator.expire_tokens()
    simulator.quirks = Quirks(expired_token=expiry)
    simulator.calls.clear()
    fake_ha.states.clear()

    second = await run_addon("--once", options=options)

    assert (first.returncode, second.returncode) == (0, 0), second.stderr
    assert len(simulator.calls_to(LOGIN)) == 1
    assert [call.result_code for call in simulator.calls[:3]] == [expiry[0], "1", "1"]
    assert BATTERY_LEVEL in fake_ha.states
    assert error_lines(second.stderr) == []


@pytest.mark.slow
@pytest.mark.parametrize("shape", list(RefreshRefusal), ids=str)
async def test_a_dead_refresh_token_says_to_authorize_again_and_exits_3(
    run_addon: RunAddon,
    oauth_options: dict[str, Any],
    simulator: CloudSimulator,
    clock: Clock,
    shape: RefreshRefusal,
) -> None:
    """Each recorded shape: one ERROR line with the authorization link, and no refresh after."""
    assert (await run_addon("--once", options=oauth_options)).returncode == 0
    simulator.quirks = Quirks(refresh_refusal=shape)
    clock.now += timedelta(days=31)  # both the access and the refresh token have ended

    dead = await run_addon("--once", options=oauth_options)
    again = await run_addon("--once", options=oauth_options)

    assert (dead.returncode, again.returncode) == (3, 3)
    (line,) = error_lines(dead.stderr)
    assert "authorize the add-on again" in line
    assert "https://web3.isolarcloud.eu/#/authorized-app?cloudId=3&applicationId=4711" in line
    assert "Traceback" not in dead.stderr
    assert len(simulator.calls_to(REFRESH)) == 1


@pytest.mark.slow
async def test_one_device_type_outside_the_plan_exits_1_with_the_rest_published(
    run_addon: RunAddon,
    options: dict[str, Any],
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
) -> None:
    """--once publishes every other sensor, says which source failed, and exits 1."""
    simulator.quirks = Quirks(plan_excludes=frozenset({43}))

    result = await run_addon("--once", options=options)

    assert result.returncode == 1
    assert PLANT_POWER in fake_ha.states
    assert "sensor.sungrow_home_sh10rt_battery_level" in fake_ha.states
    assert BATTERY_LEVEL not in fake_ha.states
    (line,) = error_lines(result.stderr)
    assert BATTERY_SOURCE in line
    assert str(PS_ID) not in line
