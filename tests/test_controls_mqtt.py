"""Controls over a real Mosquitto broker: announced as entities, commanded, confirmed, shown."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import aiomqtt
import pytest
from conftest import make_poller
from const import PS_ID
from test_control import FakeTime
from test_mqtt import config, publisher_for

from sungrow.cloud.control import DeviceSettings
from sungrow.controls.panel import ControlPanel
from sungrow.simulator.quirks import Quirks
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import aiohttp
    from conftest import WallClock
    from mosquitto import Listener, Mosquitto

    from sungrow.poller import Poller
    from sungrow.simulator import CloudSimulator

HYBRID = f"sungrow_{PS_ID}_{PS_ID}_14_1_1"
VALUES = f"sungrow_isolarcloud/{HYBRID}/controls"


@pytest.fixture
async def controlled(
    mosquitto: Mosquitto,
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    wall: WallClock,
) -> AsyncIterator[tuple[Poller, ControlPanel]]:
    """The add-on in MQTT mode with controls on, wired as the service wires it."""
    publisher = publisher_for(mosquitto, session, ha_url, tmp_path)
    poller = make_poller(session, cloud_url, ha_url, tmp_path, wall, publisher=publisher)
    quick = FakeTime()
    panel = ControlPanel.from_dict(
        DeviceSettings(cloud=poller.cloud, sleep=quick.sleep, clock=quick),
        JsonFile(tmp_path / "controls.json"),
        {},
        on_change=publisher.refresh,
    )
    publisher.controls = poller.controls = panel
    connection = asyncio.create_task(publisher.run())
    await asyncio.wait_for(publisher.wait_connected(), 10)
    await poller.run_once()
    await panel.maintain()
    yield poller, panel
    await publisher.close()
    connection.cancel()
    await asyncio.gather(connection, return_exceptions=True)


async def values(listener: Listener, wanted: dict[str, Any]) -> dict[str, Any]:
    """Wait until the controls' values on the broker include `wanted`; return them."""
    async with asyncio.timeout(10):
        while True:
            raw = listener.retained.get(VALUES)
            shown = json.loads(raw) if raw else {}
            if wanted.items() <= shown.items():
                return shown
            await asyncio.sleep(0.05)


async def command(mosquitto: Mosquitto, key: str, payload: str) -> None:
    """Send a command as Home Assistant does (QoS 1, not retained)."""
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        await client.publish(f"sungrow_isolarcloud/{HYBRID}/set/{key}", payload, qos=1)


@pytest.mark.usefixtures("controlled")
async def test_each_control_is_an_entity_of_the_inverter(
    listener: Listener,
) -> None:
    """Number, select and switch components with command topics; never retained commands."""
    await values(listener, {"forced_command": "Stop"})
    components = config(listener, HYBRID)["cmps"]

    soc = components["soc_upper_limit"]
    assert soc["p"] == "number"
    assert soc["default_entity_id"] == "number.sungrow_home_sh10rt_soc_upper_limit"
    assert (soc["min"], soc["max"], soc["unit_of_measurement"]) == (70, 100, "%")
    assert soc["command_topic"] == f"sungrow_isolarcloud/{HYBRID}/set/soc_upper_limit"
    assert soc["retain"] is False
    assert components["forced_command"]["options"] == ["Charge", "Discharge", "Stop"]
    assert components["feed_in_limitation"]["p"] == "switch"
    assert components["forced_duration"]["unit_of_measurement"] == "min"
    controls = {key for key, c in components.items() if c["p"] != "sensor"}
    assert controls == {
        "soc_upper_limit",
        "soc_lower_limit",
        "energy_management_mode",
        "forced_command",
        "forced_power",
        "forced_duration",
        "feed_in_limitation",
        "feed_in_limit",
    }


@pytest.mark.parametrize(
    ("key", "payload", "sent"),
    [
        ("soc_upper_limit", "90", {"10001": "900"}),
        ("soc_lower_limit", "20", {"10002": "200"}),
        ("energy_management_mode", "Forced", {"10003": "2"}),
        ("forced_command", "Charge", {"10004": "170", "10003": "2", "10005": "100"}),
        ("forced_power", "2500", {"10005": "250"}),
        ("forced_duration", "90", None),
        ("feed_in_limitation", "ON", {"10012": "170"}),
    ],
)
@pytest.mark.usefixtures("controlled")
async def test_a_command_from_home_assistant_shows_once_confirmed(
    listener: Listener,
    mosquitto: Mosquitto,
    simulator: CloudSimulator,
    key: str,
    payload: str,
    sent: dict[str, str] | None,
) -> None:
    """Each control: the device gets the raw values, then the entity shows the new value."""
    await values(listener, {"forced_command": "Stop"})

    await command(mosquitto, key, payload)
    await values(listener, {key: payload})

    tasks = [
        {p["param_code"]: p["set_value"] for p in (call.body or {})["param_list"]}
        for call in simulator.calls_to("/openapi/paramSetting")
        if (call.body or {}).get("set_type") == 0
    ]
    assert tasks == ([sent] if sent else [])


@pytest.mark.usefixtures("controlled")
async def test_the_feed_in_limit_once_the_limitation_is_on(
    listener: Listener, mosquitto: Mosquitto
) -> None:
    """The limit follows the switch: both confirmed and shown."""
    await values(listener, {"feed_in_limitation": "OFF"})

    await command(mosquitto, "feed_in_limitation", "ON")
    await values(listener, {"feed_in_limitation": "ON"})
    await command(mosquitto, "feed_in_limit", "3000")

    await values(listener, {"feed_in_limit": "3000"})


@pytest.mark.usefixtures("controlled")
async def test_without_the_permission_the_controls_are_unavailable(
    listener: Listener,
    mosquitto: Mosquitto,
    simulator: CloudSimulator,
) -> None:
    """E900 on a command: the controls' availability topic says offline."""
    availability = f"sungrow_isolarcloud/{HYBRID}/controls/availability"
    assert await listener.wait_for(availability) == b"online"
    simulator.quirks = Quirks(control_denied=True)

    await command(mosquitto, "soc_upper_limit", "90")

    async with asyncio.timeout(10):
        while listener.retained.get(availability) != b"offline":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
