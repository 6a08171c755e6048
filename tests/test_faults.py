"""Fault injection: every fault is recovered, nothing is lost and nothing is pushed as 0."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from conftest import account_cloud, until
from const import HA_TOKEN, PASSWORD, USERNAME

from sungrow.poller import Poller
from sungrow.publish.rest import HomeAssistant
from sungrow.publish.watcher import CoreWatcher
from sungrow.simulator import Fault
from sungrow.states.naming import EntityNames
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from pathlib import Path

    import aiohttp
    from fake_homeassistant import FakeHomeAssistant

    from sungrow.simulator import CloudSimulator

PLANT_POWER = "sensor.sungrow_home_plant_power"
REALTIME = "/openapi/getDeviceRealTimeData"
LIFETIME_TOTALS = ("total_yield", "total_energy_purchased", "total_feed_in_energy")


class WallClock:
    """The poller's wall clock, moved by the test."""

    def __init__(self) -> None:
        """Start on 2026-06-21 at 10:20 UTC."""
        self.now = datetime(2026, 6, 21, 10, 20, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        """Return the current time."""
        return self.now


@pytest.fixture
def wall() -> WallClock:
    """The poller's wall clock."""
    return WallClock()


@pytest.fixture
def publisher(session: aiohttp.ClientSession, ha_url: str) -> HomeAssistant:
    """The Home Assistant publisher, as the service builds it."""
    return HomeAssistant(session=session, token=HA_TOKEN, api_url=ha_url)


@pytest.fixture
def poller(
    session: aiohttp.ClientSession,
    cloud_url: str,
    publisher: HomeAssistant,
    tmp_path: Path,
    wall: WallClock,
) -> Poller:
    """A poller whose next poll is an hour away, with quick retries and a short timeout."""
    return Poller(
        cloud=account_cloud(session, cloud_url, request_timeout=0.3),
        publisher=publisher,
        names=EntityNames(JsonFile(tmp_path / "names.json")),
        scan_interval=3600,
        clock=wall,
    )


async def settled(fake_ha: FakeHomeAssistant) -> None:
    """Wait until no state has been posted for a little while (a poll has finished)."""
    count = -1
    while count != len(fake_ha.posted):
        count = len(fake_ha.posted)
        await asyncio.sleep(0.2)


def no_zero_totals(fake_ha: FakeHomeAssistant) -> None:
    """Assert that no lifetime total was ever posted as 0."""
    for posted in fake_ha.posted:
        if posted.entity_id.rsplit("home_", 1)[-1] in LIFETIME_TOTALS:
            assert float(posted.body["state"]) > 0, posted


async def test_core_restart_brings_every_sensor_back_within_seconds(
    poller: Poller,
    publisher: HomeAssistant,
    session: aiohttp.ClientSession,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
) -> None:
    """States gone, 502 for 1 s, socket closed: all back soon after Core, with no new poll."""
    watcher = CoreWatcher(
        session=session,
        url=publisher.websocket_url,
        token=HA_TOKEN,
        on_return=publisher.republish,
        retry_min=0.1,
        retry_max=0.5,
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(poller.run(stop)), asyncio.create_task(watcher.run())]
    try:
        await until(lambda: fake_ha.websocket_logins == 1 and PLANT_POWER in fake_ha.states, 10)
        await settled(fake_ha)
        before = dict(fake_ha.states)
        polls = len(simulator.calls_to(REALTIME))

        await fake_ha.restart(down_for=1.0)
        assert fake_ha.states == {}
        await until(lambda: not fake_ha.down, 5)
        back_after = await until(lambda: len(fake_ha.states) == len(before), 10)
    finally:
        stop.set()
        tasks[1].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    assert back_after < 2.0
    assert fake_ha.states == before
    assert len(simulator.calls_to(REALTIME)) == polls
    assert fake_ha.websocket_logins == 2


async def test_an_unexpected_201_republishes_everything(
    poller: Poller, fake_ha: FakeHomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Core lost the states without the socket noticing: a 201 at the next poll says so."""
    await poller.run_once()
    before = set(fake_ha.states)
    fake_ha.states.clear()
    caplog.set_level(logging.INFO)

    await poller.run_once()

    assert set(fake_ha.states) == before
    assert "Home Assistant had lost the sensors" in caplog.text


async def test_a_502_while_publishing_keeps_the_data_for_later(
    poller: Poller,
    publisher: HomeAssistant,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
) -> None:
    """While Core answers 502 the cycle fails; the states it fetched are sent once Core is back."""
    fake_ha.status_override = 502
    assert await poller._guarded_cycle() == 0.0
    assert fake_ha.states == {}
    fake_ha.status_override = None
    polls = len(simulator.calls_to(REALTIME))

    report = await publisher.republish()

    assert report.sent > 50
    assert PLANT_POWER in fake_ha.states
    assert len(simulator.calls_to(REALTIME)) == polls
    no_zero_totals(fake_ha)


@pytest.mark.parametrize(
    "fault",
    [
        Fault(path=REALTIME, delay=1.0),
        Fault(path=REALTIME, disconnect=True),
        Fault(path=REALTIME, http_status=503, text="Service Unavailable"),
        Fault(path=REALTIME, text="<html>upstream error</html>"),
        Fault(path=REALTIME, code="-1"),
    ],
    ids=["timeout", "connection-reset", "http-503", "not-json", "internal-error"],
)
async def test_a_passing_cloud_fault_is_retried_within_the_cycle(
    poller: Poller, simulator: CloudSimulator, fake_ha: FakeHomeAssistant, fault: Fault
) -> None:
    """The call is tried again at once (with backoff); the cycle succeeds and nothing is lost."""
    await poller.run_once()
    before = dict(fake_ha.states)
    simulator.faults.append(fault)

    report = await poller.run_once()

    assert report.sensors >= len(before)
    diagnostics = ("last_update", "api_calls_last_hour")
    assert {e: s["state"] for e, s in fake_ha.states.items() if not e.endswith(diagnostics)} == {
        e: s["state"] for e, s in before.items() if not e.endswith(diagnostics)
    }
    assert len(simulator.calls_to("/openapi/login")) == 1
    no_zero_totals(fake_ha)


async def test_a_lasting_cloud_fault_fails_the_cycle_keeps_the_states_and_recovers(
    poller: Poller,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three 503s in a row: logged once, states kept, last_error set; the next poll recovers."""
    await poller.run_once()
    before = fake_ha.states[PLANT_POWER]["state"]
    simulator.faults.extend(Fault(path=REALTIME, http_status=503, text="") for _ in range(3))

    assert await poller._guarded_cycle() == 0.0
    failed_error = fake_ha.states["sensor.sungrow_home_last_error"]["state"]
    assert await poller._guarded_cycle() == 0.0

    assert "HTTP 503" in failed_error
    assert fake_ha.states[PLANT_POWER]["state"] == before
    assert fake_ha.states["sensor.sungrow_home_last_error"]["state"] == "none"
    assert [r.levelname for r in caplog.records if "HTTP 503" in r.getMessage()] == ["WARNING"]
    no_zero_totals(fake_ha)


async def test_an_unknown_error_code_is_not_repeated_within_the_cycle(
    poller: Poller, simulator: CloudSimulator
) -> None:
    """An error the gateway meant (011) is not retried at once; the next poll tries again."""
    await poller.run_once()
    simulator.faults.append(Fault(path=REALTIME, code="011"))
    calls = len(simulator.calls)

    assert await poller._guarded_cycle() == 0.0

    asked = [(call.body or {}).get("device_type") for call in simulator.calls[calls:]]
    assert len(asked) == len(set(asked)), "a device type was asked twice"
    assert simulator.calls[calls].result_code == "011"
    await poller.run_once()


async def test_the_hourly_quota_waits_for_the_next_hour_without_login_or_zero(
    poller: Poller,
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """E999 at 10:20: no login, no 0, no call until 11:01; logged once with its meaning."""
    await poller.run_once()
    before = {entity: state["state"] for entity, state in fake_ha.states.items()}
    simulator.faults.append(Fault(path=REALTIME, code="E999"))

    pause = await poller._guarded_cycle()

    assert pause == 40 * 60 + 60
    assert len(simulator.calls_to("/openapi/login")) == 1
    for entity in (PLANT_POWER, "sensor.sungrow_home_total_yield"):
        assert fake_ha.states[entity]["state"] == before[entity]
    no_zero_totals(fake_ha)
    (line,) = [r.getMessage() for r in caplog.records if "E999" in r.getMessage()]
    assert "hourly call quota" in line
    assert "no calls until 2026-06-21 13:01" in line  # Berlin time, Home Assistant's zone


async def test_the_monthly_quota_waits_for_the_next_month_and_says_so(
    poller: Poller, simulator: CloudSimulator, caplog: pytest.LogCaptureFixture, wall: WallClock
) -> None:
    """E998 on 21 June: the add-on waits until 1 July."""
    await poller.run_once()
    simulator.faults.append(Fault(path=REALTIME, code="E998"))

    pause = await poller._guarded_cycle()

    assert wall.now + pause == datetime(2026, 7, 1, tzinfo=UTC).timestamp() + 60
    assert "monthly call quota" in caplog.text
    assert "no calls until 2026-07-01" in caplog.text


async def test_calls_too_frequent_back_off_longer_each_time(
    poller: Poller, simulator: CloudSimulator
) -> None:
    """E901 doubles the pause from 5 minutes up to an hour; a good poll resets it."""
    await poller.run_once()
    pauses = []
    for _ in range(6):
        simulator.faults.append(Fault(path=REALTIME, code="E901"))
        pauses.append(await poller._guarded_cycle())
    await poller._guarded_cycle()
    simulator.faults.append(Fault(path=REALTIME, code="E901"))

    assert pauses == [300, 600, 1200, 2400, 3600, 3600]
    assert await poller._guarded_cycle() == 300


async def test_logins_too_frequent_wait_half_an_hour(
    poller: Poller, simulator: CloudSimulator
) -> None:
    """E916 on the login keeps the add-on from logging in for 30 minutes."""
    simulator.faults.append(Fault(path="/openapi/login", code="E916"))

    assert await poller._guarded_cycle() == 1800
    assert len(simulator.calls_to("/openapi/login")) == 1


async def test_a_password_changed_later_is_not_hammered(
    poller: Poller, simulator: CloudSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Token expired, password changed: one login per attempt, then 1 h, 2 h, 4 h apart."""
    await poller.run_once()
    simulator.accounts[0].password = PASSWORD + "-changed"
    simulator.expire_tokens()

    pauses = [await poller._guarded_cycle() for _ in range(3)]

    assert pauses == [3600, 7200, 14400]
    assert len(simulator.calls_to("/openapi/login")) == 1 + 3
    assert simulator.accounts[0].login_state == "1"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "check the 'password' option" in errors[0].getMessage()
    assert USERNAME not in caplog.text


async def test_a_high_call_rate_is_warned_about_once(
    poller: Poller, caplog: pytest.LogCaptureFixture
) -> None:
    """At 80 % of the hourly budget (1600 of about 2000 calls) one warning says what to do."""
    import time  # noqa: PLC0415

    for _ in range(1600):
        poller.cloud.gateway.calls.add(time.time())

    await poller._guarded_cycle()
    await poller._guarded_cycle()

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "80 % of the hourly budget" in warnings[0]
    assert "raise 'scan_interval'" in warnings[0]


async def test_a_refused_websocket_token_is_warned_once_and_retried_slowly(
    session: aiohttp.ClientSession, ha_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A token the websocket refuses: one warning, then a try every `refused_retry`."""
    calls: list[int] = []

    async def back() -> None:
        calls.append(1)

    watcher = CoreWatcher(
        session=session,
        url=ha_url.replace("http", "ws") + "/websocket",
        token="wrong",
        on_return=back,
        refused_retry=0.15,
    )
    task = asyncio.create_task(watcher.run())
    await asyncio.sleep(0.4)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("Home Assistant's websocket refused the token")
    assert calls == []
