"""The program as the container runs it: `python3 -m sungrow`, its exit codes and its log."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from conftest import (
    ADDON_DIR,
    LIST_IMPORTS,
    RunAddon,
    dockerfile_healthcheck,
    error_lines,
    health_check,
    imported_modules,
    imported_packages,
    living_at,
    quiet_moment,
    start_service,
    stop_service,
    until,
)
from const import HA_TOKEN, PASSWORD, PS_ID, SECRET_KEY

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Clock
    from fake_homeassistant import FakeHomeAssistant

    from sungrow.simulator import CloudSimulator

# Real subprocesses: about a second each (aiohttp builds its TLS contexts at import).
pytestmark = pytest.mark.slow

PLANT_SENSORS = {
    "sensor.sungrow_home_daily_yield",
    "sensor.sungrow_home_total_yield",
    "sensor.sungrow_home_plant_power",
    "sensor.sungrow_home_load_power",
    "sensor.sungrow_home_energy_purchased_today",
    "sensor.sungrow_home_total_energy_purchased",
    "sensor.sungrow_home_feed_in_energy_today",
    "sensor.sungrow_home_total_feed_in_energy",
    "sensor.sungrow_home_daily_load_consumption",
    "sensor.sungrow_home_total_load_consumption",
    "sensor.sungrow_home_battery_level",
}


async def test_once_publishes_the_plant_and_exits_0(
    run_addon: RunAddon, options: dict[str, Any], fake_ha: FakeHomeAssistant
) -> None:
    """--once logs in, discovers, polls, publishes the plant sensors and exits 0."""
    result = await run_addon("--once", options=options)

    assert result.returncode == 0, result.stderr
    assert set(fake_ha.states) >= PLANT_SENSORS
    daily = fake_ha.states["sensor.sungrow_home_daily_yield"]["attributes"]
    assert daily["device_class"] == "energy"
    assert daily["state_class"] == "total_increasing"
    assert daily["unit_of_measurement"] == "kWh"
    assert re.search(r"Published \d+ sensors of 1 plant\(s\) and 4 device\(s\)", result.stderr)


async def test_a_poll_loads_only_what_the_configuration_needs(
    run_addon: RunAddon, options: dict[str, Any], fake_ha: FakeHomeAssistant
) -> None:
    """No encryption library without an RSA key, no YAML, no MQTT or controls in REST mode."""
    result = await run_addon("--once", options=options, env=LIST_IMPORTS)

    assert result.returncode == 0, result.stderr
    assert fake_ha.states
    imported = imported_packages(result.stderr)
    assert {"aiohttp", "sungrow"} <= imported
    assert not imported & {"cryptography", "yaml", "paho", "aiomqtt"}
    modules = imported_modules(result.stderr)
    assert "sungrow.publish.rest" in modules
    assert not modules & {"sungrow.publish.mqtt", "sungrow.controls.panel", "sungrow.cloud.control"}


async def test_two_runs_log_in_once(
    run_addon: RunAddon, options: dict[str, Any], simulator: CloudSimulator, tmp_path: Path
) -> None:
    """The token is kept in the data folder: a second run does not log in again."""
    first = await run_addon("--once", options=options)
    second = await run_addon("--once", options=options)

    assert (first.returncode, second.returncode) == (0, 0)
    assert len(simulator.calls_to("/openapi/login")) == 1
    assert (tmp_path / "data" / "token.json").exists()


async def test_an_expired_token_costs_exactly_one_login(
    run_addon: RunAddon, options: dict[str, Any], simulator: CloudSimulator
) -> None:
    """After the cloud forgets the token, the next run logs in once and carries on."""
    await run_addon("--once", options=options)
    simulator.expire_tokens()
    simulator.calls.clear()

    result = await run_addon("--once", options=options)

    assert result.returncode == 0, result.stderr
    # The plants and devices found by the first run are still fresh: no discovery calls.
    assert [(call.path, call.result_code) for call in simulator.calls] == [
        ("/openapi/getDeviceRealTimeData", "E00003"),
        ("/openapi/login", "1"),
        *[("/openapi/getDeviceRealTimeData", "1")] * 5,
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"appkey": None}, "Option 'appkey' is missing"),
        ({"password": None}, "Option 'password' is missing"),
        ({"scan_interval": 5}, "Option 'scan_interval' is 5, outside 60..3600"),
        ({"server": "moon"}, "Option 'server' is 'moon'"),
        ({"server_url": "ftp://x"}, "Option 'server_url' is not an http(s) URL"),
    ],
)
async def test_bad_options_exit_2_with_one_clear_line(
    run_addon: RunAddon, options: dict[str, Any], changes: dict[str, Any], message: str
) -> None:
    """A missing or invalid option: exit 2, one ERROR line naming it, no traceback."""
    options = {k: v for k, v in {**options, **changes}.items() if v is not None}

    result = await run_addon("--once", options=options)

    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert message in line
    assert "Traceback" not in result.stderr


async def test_missing_options_file(run_addon: RunAddon) -> None:
    """No options file at all is one clear line too."""
    result = await run_addon("--once", env={"SUNGROW_OPTIONS": "/nonexistent/options.json"})

    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "/nonexistent/options.json not found" in line


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password": "wrong-password"}, "check the 'password' option"),
        ({"username": "nobody@example.org"}, "no such account on 127.0.0.1"),
        ({"appkey": "0" * 32}, "check the 'appkey' option"),
        ({"secret_key": "wrong-secret"}, "check the 'secret_key' option"),
    ],
)
async def test_rejected_credentials_exit_3_after_a_single_attempt(
    run_addon: RunAddon,
    options: dict[str, Any],
    simulator: CloudSimulator,
    changes: dict[str, Any],
    message: str,
) -> None:
    """A credential the cloud rejects: exit 3, one line saying what to check, one login try."""
    result = await run_addon("--once", options={**options, **changes})

    assert result.returncode == 3
    (line,) = error_lines(result.stderr)
    assert message in line
    assert "Traceback" not in result.stderr
    assert len(simulator.calls_to("/openapi/login")) == 1


async def test_home_assistant_unreachable_exits_1(
    run_addon: RunAddon, options: dict[str, Any]
) -> None:
    """Home Assistant not answering fails the cycle with one line."""
    result = await run_addon(
        "--once", options=options, env={"HA_API_URL": "http://127.0.0.1:9/api"}
    )

    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "Cannot reach Home Assistant at http://127.0.0.1:9/api" in line


async def test_home_assistant_refusing_the_token_exits_1(
    run_addon: RunAddon, options: dict[str, Any]
) -> None:
    """A wrong SUPERVISOR_TOKEN is reported with the fix."""
    result = await run_addon("--once", options=options, env={"SUPERVISOR_TOKEN": "wrong"})

    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "Home Assistant refused the token (HTTP 401)" in line


async def test_without_supervisor_token_the_program_says_how_to_run_it(
    run_addon: RunAddon, options: dict[str, Any]
) -> None:
    """Outside the Supervisor the missing token is explained."""
    result = await run_addon("--once", options=options, env={"SUPERVISOR_TOKEN": ""})

    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "SUPERVISOR_TOKEN is not set" in line


async def test_no_secret_reaches_the_debug_log(
    run_addon: RunAddon, options: dict[str, Any], simulator: CloudSimulator, tmp_path: Path
) -> None:
    """At debug level, across a login, a token renewal and a failure, no secret is written."""
    await run_addon("--once", options=options)
    simulator.expire_tokens()
    renewed = await run_addon("--once", options=options)
    failed = await run_addon("--once", options={**options, "password": PASSWORD + "x"})
    token = json.loads((tmp_path / "data" / "token.json").read_text())["token"]

    output = renewed.stdout + renewed.stderr + failed.stdout + failed.stderr
    assert " DEBUG " in output
    for secret in (PASSWORD, SECRET_KEY, HA_TOKEN, token, token.partition("_")[2]):
        assert secret not in output


async def test_demo_once_prints_the_sensors(tmp_path: Path) -> None:
    """`--demo --once` needs no account and no Home Assistant: it prints the sensors."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUNGROW_", "SUPERVISOR"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sungrow",
        "--demo",
        "--once",
        env={**env, "PYTHONPATH": str(ADDON_DIR)},
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 0, stderr.decode()
    header, *lines = stdout.decode().splitlines()
    assert re.fullmatch(rf"\d\d:\d\d:\d\d  {len(lines)} sensors", header)
    assert len(lines) >= 10
    assert all(line.startswith("sensor.sungrow_demo_home_") for line in lines)
    assert any(line.endswith(" kWh") for line in lines)
    assert list(tmp_path.iterdir()) == []


async def test_the_demo_takes_the_options_file_and_home_assistants_time_zone(
    run_addon: RunAddon, fake_ha: FakeHomeAssistant
) -> None:
    """Interval and log level come from SUNGROW_OPTIONS, the account stays the demo's.

    The plant's clock is Home Assistant's, not the add-on's.
    """
    fake_ha.time_zone = "Pacific/Kiritimati"  # UTC+14: a plant kept in UTC would be 14 h off
    options = {"scan_interval": 120, "log_level": "debug", "appkey": "not-the-demo's"}

    result = await run_addon("--demo", "--once", options=options, env={"TZ": "UTC"})

    assert result.returncode == 0, result.stderr
    assert "polling every 120 s" in result.stderr
    assert " DEBUG Daily counters restart at midnight in Pacific/Kiritimati" in result.stderr
    data_time = fake_ha.states["sensor.sungrow_demo_home_data_time"]["state"]
    assert abs(datetime.fromisoformat(data_time) - datetime.now(UTC)) < timedelta(minutes=15)


async def test_the_demo_refuses_a_bad_options_file_in_one_line(run_addon: RunAddon) -> None:
    """An options file the demo cannot use: exit 2 and the option's name, as in the add-on."""
    result = await run_addon("--demo", "--once", options={"scan_interval": 5})

    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line.endswith(
        "ERROR Option 'scan_interval' is 5, outside 60..3600: set it to a whole number of "
        "seconds from 60 to 3600"
    )


async def test_the_service_stops_on_sigterm_with_exit_0(
    tmp_path: Path, options: dict[str, Any], ha_url: str, fake_ha: FakeHomeAssistant
) -> None:
    """The service publishes at once, beats its heart, and exits 0 within seconds of SIGTERM."""
    process = await start_service(tmp_path, options, {"HA_API_URL": ha_url})
    try:
        await asyncio.wait_for(fake_ha.wait_for_state("sensor.sungrow_home_plant_power"), 15)
        assert (tmp_path / "data" / "heartbeat").exists()
    finally:
        log = await stop_service(process)

    assert log.rstrip().endswith("INFO Stopped")
    assert not (tmp_path / "data" / "heartbeat").exists()


async def test_the_service_keeps_the_history_beside_the_polls(
    tmp_path: Path,
    options: dict[str, Any],
    ha_url: str,
    fake_ha: FakeHomeAssistant,
    simulator: CloudSimulator,
    clock: Clock,
) -> None:
    """In the loop, the history task imports the finished day and stops with the service."""
    at_noon = living_at(clock, quiet_moment(simulator))
    solar = f"sungrow_isolarcloud:{PS_ID}_solar_production"
    process = await start_service(
        tmp_path, {**options, "history_days": 1}, {"HA_API_URL": ha_url, **at_noon}
    )
    try:
        progress = tmp_path / "data" / "history.json"
        await until(lambda: progress.exists() and '"done":["' in progress.read_text(), 20)
    finally:
        log = await stop_service(process)

    assert len(fake_ha.statistics[solar]) >= 23
    assert "Imported the hourly energy of 1 day(s) into the statistics" in log
    assert log.rstrip().endswith("INFO Stopped")


async def test_a_dip_and_a_null_are_held_across_a_restart(
    run_addon: RunAddon,
    options: dict[str, Any],
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
) -> None:
    """The counter memory in the data folder holds a nudged total and skips a null, next run."""
    await run_addon("--once", options=options)
    total = fake_ha.states["sensor.sungrow_home_total_yield"]["state"]
    daily = fake_ha.states["sensor.sungrow_home_daily_yield"]["state"]
    points = simulator.plants[0].devices[0].points
    original = points[83024]
    points[83024] = lambda snapshot: (original(snapshot) or 0) - 50.0
    points[83022] = lambda _snapshot: None
    fake_ha.posted.clear()

    result = await run_addon("--once", options=options)

    assert result.returncode == 0, result.stderr
    sent = {p.entity_id: p.body["state"] for p in fake_ha.posted}
    assert sent["sensor.sungrow_home_total_yield"] == total
    assert "sensor.sungrow_home_daily_yield" not in sent
    assert fake_ha.states["sensor.sungrow_home_daily_yield"]["state"] == daily


async def test_after_a_core_restart_every_sensor_is_back_within_seconds(
    tmp_path: Path, options: dict[str, Any], ha_url: str, fake_ha: FakeHomeAssistant
) -> None:
    """States gone, 502 for 3 s, socket closed: the service sends everything again at once."""
    process = await start_service(
        tmp_path, {**options, "scan_interval": 3600}, {"HA_API_URL": ha_url}
    )
    try:
        await asyncio.wait_for(fake_ha.wait_for_state("sensor.sungrow_home_last_update"), 15)
        await until(lambda: fake_ha.websocket_logins == 1, 10)
        await asyncio.sleep(0.5)
        count = len(fake_ha.states)
        await fake_ha.restart(down_for=3.0)
        await asyncio.sleep(3.0)
        loop = asyncio.get_running_loop()
        returned = loop.time()
        await until(lambda: len(fake_ha.states) == count, 10)
        assert loop.time() - returned < 10
    finally:
        log = await stop_service(process)

    assert "Home Assistant is back without the sensors: publishing every one again" in log
    assert fake_ha.websocket_logins == 2


async def test_corrupt_state_files_are_reported_and_replaced(
    run_addon: RunAddon, options: dict[str, Any], tmp_path: Path
) -> None:
    """Truncated files (a power cut mid-write on another system) are logged, then rewritten."""
    await run_addon("--once", options=options)
    data = tmp_path / "data"
    names = ("token.json", "names.json", "discovery.json", "counters.json")
    for name in names:
        (data / name).write_text('{"truncat', encoding="utf-8")

    result = await run_addon("--once", options=options)

    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if " WARNING " in line]
    assert len(warnings) == len(names)
    assert all("is corrupt (not JSON); moved aside to" in line for line in warnings), warnings
    assert all(line.endswith("; starting without it") for line in warnings), warnings
    for name in names:
        assert isinstance(json.loads((data / name).read_text(encoding="utf-8")), dict), name
        assert (data / f"{name}.corrupt").read_text(encoding="utf-8") == '{"truncat', name


async def test_the_health_check_stays_healthy_while_core_and_cloud_are_down(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    """The heartbeat follows the loop, not Home Assistant or the cloud; it stops with it."""
    down = {**options, "server_url": "http://127.0.0.1:9"}
    process = await start_service(tmp_path, down, {"HA_API_URL": "http://127.0.0.1:9/api"})
    heartbeat = tmp_path / "data" / "heartbeat"
    try:
        await until(heartbeat.exists, 10)
        await asyncio.sleep(1.0)
        healthy = health_check(heartbeat)
    finally:
        log = await stop_service(process)

    assert healthy
    assert not health_check(heartbeat)
    assert "127.0.0.1:9" in log


async def test_the_add_on_reports_started_within_seconds(
    tmp_path: Path, options: dict[str, Any], ha_url: str
) -> None:
    """Docker's first check after the start finds the add-on healthy, on every Docker.

    Docker from 25 on checks every --start-interval during the start period, older ones
    every --interval: the Supervisor shows "started" at the first healthy check.
    """
    flags: dict[str, str] = dict(re.findall(r"--([a-z-]+)=(\d+)s", dockerfile_healthcheck()))
    started = time.monotonic()
    process = await start_service(tmp_path, options, {"HA_API_URL": ha_url})
    heartbeat = tmp_path / "data" / "heartbeat"
    try:
        await until(heartbeat.exists, 10)
        first_beat = time.monotonic() - started
        healthy = health_check(heartbeat)
    finally:
        await stop_service(process)

    first_check = int(flags.get("start-interval", flags["interval"]))
    assert healthy
    assert first_beat <= first_check
    # "Started" within 10 s, also on a Docker before 25 (no start interval).
    assert first_check <= 10
    assert int(flags["interval"]) <= 10


async def test_once_imports_the_last_days_of_history_once(
    run_addon: RunAddon,
    options: dict[str, Any],
    fake_ha: FakeHomeAssistant,
    simulator: CloudSimulator,
    clock: Clock,
) -> None:
    """history_days 2: both finished days in the statistics; a second run asks for no day again."""
    at_noon = living_at(clock, quiet_moment(simulator))
    today = simulator.plants[0].local_time(clock.now).strftime("%Y%m%d")
    minutes = "/openapi/getDevicePointMinuteDataList"

    first = await run_addon("--once", options={**options, "history_days": 2}, env=at_noon)

    assert first.returncode == 0, first.stderr
    assert "Imported the hourly energy of 2 finished day(s)" in first.stderr
    assert set(fake_ha.statistics) == {
        f"sungrow_isolarcloud:{PS_ID}_{flow}"
        for flow in (
            "solar_production",
            "grid_import",
            "grid_export",
            "battery_charge",
            "battery_discharge",
        )
    }
    assert all(len(rows) >= 47 for rows in fake_ha.statistics.values())
    imported = json.loads(json.dumps(fake_ha.statistics))
    asked = len(simulator.calls_to(minutes))

    second = await run_addon("--once", options={**options, "history_days": 2}, env=at_noon)

    assert second.returncode == 0, second.stderr
    assert "Imported the hourly energy of 0 finished day(s)" in second.stderr
    again = simulator.calls_to(minutes)[asked:]
    assert all(call.body and call.body["start_time_stamp"] >= today for call in again)
    for ident, rows in imported.items():  # every hour imported before is as it was
        assert {start: fake_ha.statistics[ident][start] for start in rows} == rows
