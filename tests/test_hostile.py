"""Hostile input, full disks and reconnect storms: nothing wrong published, nothing crashed."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from conftest import error_lines, make_poller, oauth_cloud, serve
from const import HA_TOKEN, PASSWORD, PS_ID

from sungrow.publish.model import Sensor, SensorState
from sungrow.publish.rest import HomeAssistant
from sungrow.publish.watcher import CoreWatcher
from sungrow.simulator import Quirks, micro_plant
from sungrow.states.freshness import Freshness
from sungrow.storage import DataFolder

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import aiohttp
    from conftest import Clock, RunAddon, WallClock
    from fake_homeassistant import FakeHomeAssistant

    from sungrow.poller import Poller
    from sungrow.simulator import CloudSimulator

REDIRECT = "https://example.com/callback"
MICRO_ENERGY = "yield_today"


def later(clock: Clock, wall: WallClock, minutes: int) -> None:
    """Move the cloud's clock and the add-on's clock together."""
    clock.now += timedelta(minutes=minutes)
    wall.now += minutes * 60


# Identity that moves.


async def test_a_lost_names_file_and_another_order_keep_every_id_on_its_device(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    wall: WallClock,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
) -> None:
    """names.json lost, the cloud lists the microinverters backwards: same ids, same values."""
    plant = micro_plant(PS_ID, "Home", count=4)
    simulator.plants[:] = [plant]
    await make_poller(session, cloud_url, ha_url, tmp_path, wall).run_once()
    before = {
        entity: state["state"]
        for entity, state in fake_ha.states.items()
        if entity.endswith(MICRO_ENERGY) and "s450s" in entity
    }
    (tmp_path / "names.json").unlink()
    (tmp_path / "discovery.json").unlink(missing_ok=True)
    simulator.plants[:] = [
        type(plant)(
            ps_id=plant.ps_id,
            name=plant.name,
            timezone=plant.timezone,
            household=plant.household,
            devices=(plant.devices[0], *reversed(plant.devices[1:])),
        )
    ]
    fake_ha.states.clear()

    await make_poller(session, cloud_url, ha_url, tmp_path, wall).run_once()

    after = {entity: fake_ha.states[entity]["state"] for entity in before}
    assert len(before) == 4
    assert after == before


# Wrong energy made permanent.


@pytest.mark.parametrize("value", [1e300, 4294967295.0, -1e20])
async def test_an_absurd_reading_is_never_published(
    poller: Poller, simulator: CloudSimulator, fake_ha: FakeHomeAssistant, value: float
) -> None:
    """1e300 (a 301-character state), an overflow value: nothing Home Assistant would refuse."""
    simulator.quirks = Quirks(point_values={(11, 83033): value, (11, 83024): value})

    await poller.run_once()

    assert "sensor.sungrow_home_plant_power" not in fake_ha.states
    assert "sensor.sungrow_home_total_yield" not in fake_ha.states
    assert "sensor.sungrow_home_load_power" in fake_ha.states
    assert all(len(str(p.body["state"])) <= 255 for p in fake_ha.posted)


# Stale values shown as live.


@pytest.fixture
def oauth_poller(
    session: aiohttp.ClientSession,
    simulator: CloudSimulator,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    wall: WallClock,
) -> Poller:
    """A poller of an OAuth2 application: its plant rows carry no data time."""
    poller = make_poller(session, cloud_url, ha_url, tmp_path, wall)
    poller.cloud = oauth_cloud(session, cloud_url, simulator, wall)
    return poller


async def test_plant_rows_without_a_data_time_go_stale_with_their_devices(
    oauth_poller: Poller, fake_ha: FakeHomeAssistant, wall: WallClock
) -> None:
    """OAuth2's plant rows have no time: when the devices' time stops, the plant goes stale."""
    await oauth_poller.run_once()
    assert fake_ha.states["sensor.sungrow_home_plant_power"]["state"] != "unavailable"

    for _ in range(4):  # the cloud's clock stands still: 20 minutes without new data
        wall.now += 300
        await oauth_poller.run_once()

    assert fake_ha.states["sensor.sungrow_home_plant_power"]["state"] == "unavailable"
    assert fake_ha.states["sensor.sungrow_home_sh10rt_active_power"]["state"] == "unavailable"


async def test_a_value_the_cloud_stopped_sending_goes_unavailable_after_a_restart(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    wall: WallClock,
    clock: Clock,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
) -> None:
    """The add-on restarts; the charger's points never come back: unavailable on schedule."""
    folder = DataFolder(tmp_path)

    def restarted() -> Poller:
        freshness_file = folder.file("freshness.json")
        freshness = Freshness.from_dict(
            freshness_file, freshness_file.load() or {}, scan_interval=300
        )
        return make_poller(session, cloud_url, ha_url, tmp_path, wall, freshness=freshness)

    await restarted().run_once()
    battery = "sensor.sungrow_home_sbr064_battery_level"
    assert fake_ha.states[battery]["state"] != "unavailable"
    simulator.plants[0] = type(simulator.plants[0])(
        ps_id=PS_ID,
        name="Home",
        timezone=simulator.plants[0].timezone,
        household=simulator.plants[0].household,
        devices=tuple(d for d in simulator.plants[0].devices if d.device_type != 43),
    )
    (tmp_path / "discovery.json").unlink(missing_ok=True)
    poller = restarted()

    seen = []
    for _ in range(4):
        later(clock, wall, 5)
        await poller.run_once()
        seen.append(fake_ha.states[battery]["state"])

    assert seen[-1] == "unavailable"
    assert seen[0] != "unavailable"


# Files never kill the loop.


async def test_a_full_disk_leaves_the_add_on_polling_and_publishing(
    poller: Poller,
    fake_ha: FakeHomeAssistant,
    clock: Clock,
    wall: WallClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every write fails for three cycles: states still go out; one warning, one recovery."""
    caplog.set_level(logging.INFO)
    await poller.run_once()
    real_fsync = os.fsync

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    published = []
    for _ in range(3):
        later(clock, wall, 5)
        await poller._guarded_cycle()
        published.append(fake_ha.states["sensor.sungrow_home_total_yield"]["state"])
    monkeypatch.setattr(os, "fsync", real_fsync)
    later(clock, wall, 5)
    await poller.run_once()

    assert len(set(published)) == 3, "the total went on rising while the disk was full"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings if "data folder" in r.getMessage()] == [
        warnings[0].getMessage()
    ]
    assert "No space left on device" in warnings[0].getMessage()
    assert any("works again" in r.getMessage() for r in caplog.records)
    assert "Traceback" not in caplog.text


@pytest.mark.slow
async def test_broken_state_files_are_replaced_and_the_add_on_runs(
    run_addon: RunAddon, options: dict[str, Any], tmp_path: Path, fake_ha: FakeHomeAssistant
) -> None:
    """Invalid UTF-8, deep nesting, wrong shapes: one warning each, published, replaced."""
    data = tmp_path / "data"
    data.mkdir()
    broken = {
        "names.json": b"\xff\xfe not utf-8",
        "counters.json": b"[" * 100_000 + b"]" * 100_000,
        "discovery.json": json.dumps({"account": 1, "plants": "x"}).encode(),
        "token.json": json.dumps({"token": 5, "account": [1]}).encode(),
        "freshness.json": json.dumps({"sensors": {"a": "b"}}).encode(),
        "backoff.json": json.dumps({"until": "x"}).encode(),
    }
    for name, content in broken.items():
        (data / name).write_bytes(content)

    result = await run_addon("--once", options=options)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "sensor.sungrow_home_total_yield" in fake_ha.states
    for name in ("names.json", "counters.json"):
        assert (data / f"{name}.corrupt").exists()
        json.loads((data / name).read_text(encoding="utf-8"))


# Input is data, never a path or a command.


@asynccontextmanager
async def hostile_cloud(plant: dict[str, Any]) -> AsyncIterator[str]:
    """Serve a gateway whose only plant is `plant`, with no devices and no data."""

    def envelope(data: Any) -> web.Response:
        return web.json_response({"result_code": "1", "result_msg": "success", "result_data": data})

    async def answer(request: web.Request) -> web.Response:
        if request.path == "/openapi/login":
            return envelope({"login_state": "1", "token": "1_" + "a" * 32})
        if request.path == "/openapi/getPowerStationList":
            return envelope({"pageList": [plant], "rowCount": 1})
        if request.path == "/openapi/getDeviceList":
            return envelope({"pageList": [], "rowCount": 0})
        body = await request.json()
        rows = [
            {"device_point": {"ps_key": key, "p83033": "100.0"}}
            for key in body.get("ps_key_list", [])
        ]
        return envelope({"device_point_list": rows})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with serve(app) as url:
        yield url


@pytest.mark.parametrize(
    "plant",
    [
        {"ps_id": "x/../../services/homeassistant/stop?", "ps_name": "阳光"},
        {"ps_id": "12/../../services/homeassistant/stop", "ps_name": ""},
        {"ps_id": 7, "ps_name": "../../services/homeassistant/stop?"},
        {"ps_id": 8, "ps_name": "Home\n2026-01-01 ERROR forged line\x1b[31m"},
    ],
)
async def test_no_request_ever_leaves_the_states_api(
    session: aiohttp.ClientSession,
    ha_url: str,
    tmp_path: Path,
    wall: WallClock,
    fake_ha: FakeHomeAssistant,
    caplog: pytest.LogCaptureFixture,
    plant: dict[str, Any],
) -> None:
    """A ps_id or name made to look like a path never reaches a URL; names never forge lines."""
    async with hostile_cloud(plant) as url:
        poller = make_poller(session, url, ha_url, tmp_path, wall)
        await poller._guarded_cycle()

    paths = [path for method, path in fake_ha.requests if method == "POST"]
    assert all(path.startswith("/api/states/sensor.sungrow_") for path in paths)
    assert all(".." not in path and "?" not in path for path in paths)
    assert "\n2026-01-01 ERROR" not in caplog.text
    assert "\x1b" not in caplog.text


# Never hammer.


async def test_a_websocket_that_closes_at_once_is_not_reconnected_in_a_storm(
    session: aiohttp.ClientSession, ha_url: str, fake_ha: FakeHomeAssistant
) -> None:
    """Closed right after auth_ok: reconnections back off from a second, and nothing is re-sent."""
    publisher = HomeAssistant(session=session, token=HA_TOKEN, api_url=ha_url)
    await publisher.publish([SensorState(Sensor(entity_id="sensor.sungrow_x", attributes={}), "1")])
    posted = len(fake_ha.posted)
    fake_ha.close_after_login = True
    watcher = CoreWatcher(
        session=session,
        url=publisher.websocket_url,
        token=HA_TOKEN,
        on_return=publisher.restore_if_lost,
    )
    task = asyncio.create_task(watcher.run())
    await asyncio.sleep(3.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert 2 <= fake_ha.websocket_logins <= 3
    assert len(fake_ha.posted) == posted
    assert fake_ha.fetched == ["sensor.sungrow_x"]


async def test_a_reconnection_resends_only_when_core_lost_the_states(
    session: aiohttp.ClientSession, ha_url: str, fake_ha: FakeHomeAssistant
) -> None:
    """The proxy dropped the socket: nothing sent; Core restarted: everything sent once."""
    publisher = HomeAssistant(session=session, token=HA_TOKEN, api_url=ha_url)
    state = SensorState(Sensor(entity_id="sensor.sungrow_x", attributes={}), "1")
    await publisher.publish([state])

    kept = await publisher.restore_if_lost()
    publisher._restore_check_due = 0.0
    fake_ha.states.clear()
    restored = await publisher.restore_if_lost()
    again = await publisher.restore_if_lost()  # within the minute: not even asked

    assert kept is None
    assert restored is not None
    assert restored.sent == 1
    assert again is None
    assert fake_ha.fetched == ["sensor.sungrow_x", "sensor.sungrow_x"]
    assert "sensor.sungrow_x" in fake_ha.states


@pytest.mark.slow
async def test_the_wrong_password_pause_survives_restarts(
    run_addon: RunAddon, options: dict[str, Any], simulator: CloudSimulator, tmp_path: Path
) -> None:
    """A watchdog restart loop cannot lock the account; saving the options tries at once."""
    wrong = {**options, "password": "wrong-" + PASSWORD}

    first = await run_addon("--once", options=wrong)
    second = await run_addon("--once")
    third = await run_addon("--once")
    fixed = await run_addon("--once", options=options)

    assert [r.returncode for r in (first, second, third, fixed)] == [3, 3, 3, 0]
    assert len(simulator.calls_to("/openapi/login")) == 2
    (line,) = error_lines(second.stderr)
    assert "restarting the add-on does not bring it closer" in line
    assert "login_state 0" in line
    assert not (tmp_path / "data" / "backoff.json").exists()
