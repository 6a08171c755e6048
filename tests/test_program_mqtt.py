"""The program in MQTT mode, as the container runs it: mode choice, last will, switching back."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import TYPE_CHECKING, Any

import aiomqtt
import pytest
from conftest import error_lines, living_at, quiet_moment, start_service, stop_service
from const import PS_ID

from sungrow.simulator import pv_plant

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Clock, RunAddon
    from fake_homeassistant import FakeHomeAssistant
    from mosquitto import Listener, Mosquitto

    from sungrow.simulator import CloudSimulator

pytestmark = pytest.mark.slow

PLANT_CONFIG = f"homeassistant/device/sungrow_{PS_ID}/config"
STATUS = "sungrow_isolarcloud/status"
SERVICE_PASSWORD = "broker-service-password-0123456789"


@pytest.fixture
def mqtt_service(fake_ha: FakeHomeAssistant, mosquitto: Mosquitto) -> dict[str, Any]:
    """The Supervisor offers the test broker as its MQTT service (as Mosquitto's add-on does)."""
    fake_ha.mqtt_service = {
        "host": "127.0.0.1",
        "port": mosquitto.port,
        "ssl": False,
        "protocol": "3.1.1",
        "username": "addons",
        "password": SERVICE_PASSWORD,
        "addon": "core_mosquitto",
    }
    return fake_ha.mqtt_service


def first_lines(stderr: str) -> str:
    """Return the start of the log, where the mode is said."""
    return "\n".join(stderr.splitlines()[:6])


async def test_auto_takes_the_supervisors_broker_and_announces_the_devices(
    run_addon: RunAddon,
    options: dict[str, Any],
    mqtt_service: dict[str, Any],
    listener: Listener,
    fake_ha: FakeHomeAssistant,
) -> None:
    """With a broker add-on: MQTT, said at start; the devices are there; no REST state posted."""
    result = await run_addon("--once", options=options)
    await asyncio.sleep(0.5)

    assert result.returncode == 0, result.stderr
    assert (
        f"Publishing through MQTT discovery: broker 127.0.0.1:{mqtt_service['port']} from the "
        "Supervisor's MQTT service (core_mosquitto)"
    ) in first_lines(result.stderr)
    assert PLANT_CONFIG in listener.retained
    assert fake_ha.posted == []
    assert SERVICE_PASSWORD not in result.stderr


async def test_in_mqtt_mode_the_history_still_goes_through_the_websocket_api(
    run_addon: RunAddon,
    options: dict[str, Any],
    mqtt_service: dict[str, Any],
    fake_ha: FakeHomeAssistant,
    simulator: CloudSimulator,
    clock: Clock,
) -> None:
    """States over MQTT, statistics over Core's websocket API with the supervisor token."""
    assert mqtt_service
    at_noon = living_at(clock, quiet_moment(simulator))

    result = await run_addon("--once", options={**options, "history_days": 1}, env=at_noon)

    assert result.returncode == 0, result.stderr
    assert "Publishing through MQTT discovery" in first_lines(result.stderr)
    assert fake_ha.posted == []
    assert len(fake_ha.statistics[f"sungrow_isolarcloud:{PS_ID}_solar_production"]) >= 23


async def test_auto_without_a_broker_publishes_over_rest_and_says_why(
    run_addon: RunAddon, options: dict[str, Any], fake_ha: FakeHomeAssistant
) -> None:
    """No broker add-on: REST, with the reason in the log."""
    result = await run_addon("--once", options=options)

    assert result.returncode == 0, result.stderr
    assert (
        "Publishing through Home Assistant's REST API: the Supervisor has no MQTT service"
    ) in first_lines(result.stderr)
    assert "sensor.sungrow_home_total_yield" in fake_ha.states


async def test_mqtt_asked_for_without_a_broker_is_a_configuration_error(
    run_addon: RunAddon, options: dict[str, Any]
) -> None:
    """publish: mqtt and no broker: exit 2, one line saying what to install or set."""
    result = await run_addon("--once", options={**options, "publish": "mqtt"})

    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "Option 'publish' is mqtt, but there is no MQTT broker" in line
    assert "Mosquitto broker add-on" in line


async def test_the_mqtt_url_option_names_the_broker(
    run_addon: RunAddon, options: dict[str, Any], mosquitto: Mosquitto, listener: Listener
) -> None:
    """mqtt_url wins over the Supervisor; its password never reaches the log."""
    url = f"mqtt://user:url-password-not-logged@127.0.0.1:{mosquitto.port}"

    result = await run_addon("--once", options={**options, "mqtt_url": url, "log_level": "debug"})

    assert result.returncode == 0, result.stderr
    assert "from the 'mqtt_url' option" in first_lines(result.stderr)
    assert "url-password-not-logged" not in result.stderr
    assert PLANT_CONFIG in listener.retained


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["crash", "stop"])
async def test_a_stopped_or_crashed_add_on_turns_offline_within_seconds(
    tmp_path: Path,
    options: dict[str, Any],
    ha_url: str,
    mqtt_service: dict[str, Any],  # noqa: ARG001 - the broker add-on is there
    listener: Listener,
    stop: signal.Signals,
) -> None:
    """The last will (a crash) or the goodbye (a stop) makes every entity unavailable."""
    process = await start_service(
        tmp_path, {**options, "scan_interval": 3600}, {"HA_API_URL": ha_url}
    )
    try:
        await listener.wait_for(PLANT_CONFIG, timeout=20)
        assert listener.retained[STATUS] == b"online"
        process.send_signal(stop)
        loop = asyncio.get_running_loop()
        stopped = loop.time()
        async with asyncio.timeout(5):
            while listener.retained.get(STATUS) != b"offline":  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        offline_after = loop.time() - stopped
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()

    assert offline_after < 5
    assert PLANT_CONFIG in listener.retained  # the devices stay, shown unavailable


async def test_a_plant_dropped_from_the_options_is_removed_from_home_assistant(
    run_addon: RunAddon,
    options: dict[str, Any],
    simulator: CloudSimulator,
    mqtt_service: dict[str, Any],  # noqa: ARG001 - the broker add-on is there
    listener: Listener,
) -> None:
    """Two plants, then only one in 'plants': the other's devices get empty retained configs."""
    simulator.plants.append(pv_plant(7000001, "Barn"))
    simulator.accounts[0].ps_ids = (PS_ID, 7000001)
    assert (await run_addon("--once", options=options)).returncode == 0
    await asyncio.sleep(0.5)
    barn = {topic for topic in listener.retained if "sungrow_7000001" in topic}
    assert any(topic.endswith("/config") for topic in barn)

    narrowed = await run_addon("--once", options={**options, "plants": [str(PS_ID)]})
    await asyncio.sleep(0.5)

    assert narrowed.returncode == 0, narrowed.stderr
    assert not {topic for topic in listener.retained if "sungrow_7000001" in topic}
    assert PLANT_CONFIG in listener.retained


async def test_going_back_to_rest_removes_the_mqtt_devices_first(
    run_addon: RunAddon,
    options: dict[str, Any],
    tmp_path: Path,
    mqtt_service: dict[str, Any],  # noqa: ARG001 - the broker add-on is there
    listener: Listener,
    fake_ha: FakeHomeAssistant,
) -> None:
    """publish: rest after MQTT: the devices are removed, then the sensors go over REST."""
    assert (await run_addon("--once", options=options)).returncode == 0
    await asyncio.sleep(0.5)
    assert PLANT_CONFIG in listener.retained

    result = await run_addon("--once", options={**options, "publish": "rest"})
    await asyncio.sleep(0.5)

    assert result.returncode == 0, result.stderr
    assert "Removed the MQTT devices of the earlier MQTT mode" in result.stderr
    assert not [topic for topic in listener.retained if topic.startswith("homeassistant/")]
    assert "sensor.sungrow_home_total_yield" in fake_ha.states
    assert not (tmp_path / "data" / "mqtt.json").exists()


@pytest.mark.usefixtures("mqtt_service")
async def test_controls_on_a_forced_charge_from_home_assistant(
    tmp_path: Path,
    options: dict[str, Any],
    ha_url: str,
    listener: Listener,
    mosquitto: Mosquitto,
    simulator: CloudSimulator,
) -> None:
    """Announced, commanded, confirmed, shown; the end kept in the data folder; all logged."""
    simulator.controls.confirm_after = 0  # the device answers at the first look (2 s)
    hybrid = f"sungrow_{PS_ID}_{PS_ID}_14_1_1"
    values = f"sungrow_isolarcloud/{hybrid}/controls"

    async def shown(text: bytes) -> None:
        async with asyncio.timeout(30):
            while text not in listener.retained.get(values, b""):  # noqa: ASYNC110
                await asyncio.sleep(0.1)

    process = await start_service(
        tmp_path, {**options, "scan_interval": 3600, "controls": True}, {"HA_API_URL": ha_url}
    )
    try:
        await shown(b'"forced_command":"Stop"')
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.publish(f"sungrow_isolarcloud/{hybrid}/set/forced_command", "Charge")
        await shown(b'"forced_command":"Charge"')
    finally:
        log = await stop_service(process)

    assert simulator.controls.forced(simulator.plants[0]) == ("170", 1000.0)
    ends = json.loads((tmp_path / "data" / "controls.json").read_text(encoding="utf-8"))["ends"]
    assert list(ends) == [str(PS_ID * 100 + 14)]
    assert "Setting Home SH10RT Forced charge or discharge from Stop to Charge" in log
    assert "goes back to self-consumption at" in log
    assert error_lines(log) == []
