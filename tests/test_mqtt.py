"""The MQTT mode against a real Mosquitto broker: discovery, states, availability, faults."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import pytest
from conftest import make_poller
from const import HA_TOKEN, PS_ID
from mosquitto import Listener, Mosquitto

from sungrow import __version__
from sungrow.exceptions import HomeAssistantConnectionError
from sungrow.publish.broker import broker_from_url
from sungrow.publish.mqtt import STATUS_TOPIC, MqttPublisher
from sungrow.publish.rest import HomeAssistant
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import aiohttp
    from conftest import WallClock
    from fake_homeassistant import FakeHomeAssistant

    from sungrow.poller import Poller
    from sungrow.simulator import CloudSimulator

PLANT = f"sungrow_{PS_ID}"
HYBRID = f"{PLANT}_{PS_ID}_14_1_1"
BATTERY = f"{PLANT}_{PS_ID}_43_1_1"


def publisher_for(
    broker: Mosquitto, session: aiohttp.ClientSession, ha_url: str, tmp_path: Path
) -> MqttPublisher:
    """An MQTT publisher of the test broker, with the fake Home Assistant beside it."""
    return MqttPublisher(
        broker=broker_from_url(broker.url),
        rest=HomeAssistant(session=session, token=HA_TOKEN, api_url=ha_url),
        memory=JsonFile(tmp_path / "mqtt.json"),
    )


@pytest.fixture
async def mqtt(
    mosquitto: Mosquitto, session: aiohttp.ClientSession, ha_url: str, tmp_path: Path
) -> AsyncIterator[MqttPublisher]:
    """A connected MQTT publisher; offline and disconnected after the test."""
    publisher = publisher_for(mosquitto, session, ha_url, tmp_path)
    connection = asyncio.create_task(publisher.run())
    await asyncio.wait_for(publisher.wait_connected(), 10)
    yield publisher
    await publisher.close()
    connection.cancel()
    await asyncio.gather(connection, return_exceptions=True)


@pytest.fixture
def mqtt_poller(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    wall: WallClock,
    mqtt: MqttPublisher,
) -> Poller:
    """A poller that publishes through MQTT."""
    return make_poller(session, cloud_url, ha_url, tmp_path, wall, publisher=mqtt)


def config(listener: Listener, device: str) -> dict[str, Any]:
    """Return a device's retained discovery payload."""
    loaded: dict[str, Any] = json.loads(listener.retained[f"homeassistant/device/{device}/config"])
    return loaded


async def settle(listener: Listener) -> None:
    """Wait until the broker has been quiet for a moment."""
    count = -1
    while count != len(listener.seen):
        count = len(listener.seen)
        await asyncio.sleep(0.3)


async def test_every_sensor_is_a_device_component_with_the_rest_modes_entity_id(
    poller: Poller,
    mqtt_poller: Poller,
    fake_ha: FakeHomeAssistant,
    listener: Listener,
) -> None:
    """Same entity ids, classes and units as REST; unique ids from identity; devices by plant."""
    await poller.run_once()  # the REST mode, for comparison
    rest = {entity: state["attributes"] for entity, state in fake_ha.states.items()}

    await mqtt_poller.run_once()
    await settle(listener)

    devices = {
        topic.split("/")[2]: json.loads(payload)
        for topic, payload in listener.retained.items()
        if topic.startswith("homeassistant/device/")
    }
    components = {
        component["default_entity_id"]: (device, key, component)
        for device, payload in devices.items()
        for key, component in payload["cmps"].items()
    }
    assert set(components) == set(rest)
    for entity_id, (device, key, component) in components.items():
        assert component["p"] == "sensor"
        assert component["object_id"] == entity_id.removeprefix("sensor.")
        assert component["unique_id"] == f"{device}_{key}"
        assert component["value_template"] == f"{{{{ value_json.{key} }}}}"
        for attribute in ("unit_of_measurement", "device_class", "state_class", "icon"):
            assert component.get(attribute) == rest[entity_id].get(attribute), entity_id
        assert (
            f"{devices[device]['dev']['name']} {component['name']}"
            == (rest[entity_id]["friendly_name"])
        )
    plant = devices[PLANT]["dev"]
    assert plant == {"ids": [PLANT], "name": "Home", "mf": "Sungrow", "mdl": "iSolarCloud plant"}
    hybrid = devices[HYBRID]["dev"]
    assert hybrid["via_device"] == PLANT
    assert hybrid["mdl"] == "SH10RT"
    assert hybrid["sn"].startswith("A")
    assert devices[HYBRID]["o"] == {"name": "Sungrow iSolarCloud add-on", "sw": __version__}
    assert devices[PLANT]["cmps"]["last_error"]["entity_category"] == "diagnostic"
    assert "entity_category" not in devices[PLANT]["cmps"]["total_yield"]
    assert devices[PLANT]["cmps"]["total_yield"]["suggested_display_precision"] == 2


async def test_each_device_sends_one_retained_json_of_its_values(
    poller: Poller,
    mqtt_poller: Poller,
    fake_ha: FakeHomeAssistant,
    listener: Listener,
) -> None:
    """The values are the REST mode's; the add-on and each device say online, retained."""
    await poller.run_once()
    rest = {entity: state["state"] for entity, state in fake_ha.states.items()}
    await mqtt_poller.run_once()
    await settle(listener)

    values = json.loads(listener.retained[f"sungrow_isolarcloud/{PLANT}/state"])
    assert values["total_yield"] == rest["sensor.sungrow_home_total_yield"]
    battery = json.loads(listener.retained[f"sungrow_isolarcloud/{BATTERY}/state"])
    assert battery["battery_level"] == rest["sensor.sungrow_home_sbr064_battery_level"]
    assert listener.retained[STATUS_TOPIC] == b"online"
    assert listener.retained[f"sungrow_isolarcloud/{HYBRID}/availability"] == b"online"
    retained = {topic for topic, _, flag in listener.seen if flag}
    assert not retained - {topic for topic, _, _ in listener.seen}


async def test_only_what_changed_is_sent_again(
    mqtt_poller: Poller, listener: Listener, wall: WallClock
) -> None:
    """A second poll with the same data sends the diagnostics that moved, nothing else."""
    await mqtt_poller.run_once()
    await settle(listener)
    before = len(listener.seen)

    wall.now += 60  # the cloud's data has not changed yet
    await mqtt_poller.run_once()
    await settle(listener)

    topics = {topic for topic, _, _ in listener.seen[before:]}
    assert topics <= {f"sungrow_isolarcloud/{PLANT}/state"}


@pytest.mark.slow
async def test_home_assistants_birth_brings_everything_again(
    mqtt_poller: Poller, listener: Listener, mosquitto: Mosquitto
) -> None:
    """Core says online on homeassistant/status: configs and states are sent again, once."""
    await mqtt_poller.run_once()
    await settle(listener)
    before = len(listener.seen)

    async with mqtt_client(mosquitto) as client:
        await client.publish("homeassistant/status", "online")
        await client.publish("homeassistant/status", "online")
    await asyncio.sleep(5.5)
    await settle(listener)

    again = [topic for topic, _, _ in listener.seen[before:] if topic.endswith("/config")]
    assert sorted(again) == sorted(
        topic for topic in listener.retained if topic.startswith("homeassistant/device/")
    )


async def test_a_clean_exit_says_offline(
    mqtt_poller: Poller, mqtt: MqttPublisher, listener: Listener
) -> None:
    """Before a clean exit the add-on's status turns offline (retained): entities unavailable."""
    await mqtt_poller.run_once()

    await mqtt.close()
    await asyncio.sleep(0.5)

    assert listener.retained[STATUS_TOPIC] == b"offline"


async def test_a_device_gone_from_the_account_is_removed(
    mqtt_poller: Poller,
    simulator: CloudSimulator,
    listener: Listener,
    wall: WallClock,
    tmp_path: Path,
) -> None:
    """The charger leaves the account: its retained config is emptied, the others stay."""
    await mqtt_poller.run_once()
    await settle(listener)
    assert f"homeassistant/device/{BATTERY}/config" in listener.retained
    plant = simulator.plants[0]
    simulator.plants[0] = type(plant)(
        ps_id=plant.ps_id,
        name=plant.name,
        timezone=plant.timezone,
        household=plant.household,
        devices=tuple(device for device in plant.devices if device.device_type != 43),
    )

    wall.now += 3700  # the hourly rediscovery
    await mqtt_poller.run_once()
    await settle(listener)

    assert f"homeassistant/device/{BATTERY}/config" not in listener.retained
    assert f"sungrow_isolarcloud/{BATTERY}/state" not in listener.retained
    assert f"homeassistant/device/{HYBRID}/config" in listener.retained
    memory = json.loads((tmp_path / "mqtt.json").read_text())
    assert BATTERY not in memory["devices"]


async def test_a_sensor_no_longer_published_is_removed_from_its_device(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    wall: WallClock,
    mqtt: MqttPublisher,
    listener: Listener,
) -> None:
    """An extra point dropped from the options: its component is sent as {"p": "sensor"}."""
    with_extra = make_poller(
        session,
        cloud_url,
        ha_url,
        tmp_path,
        wall,
        publisher=mqtt,
        extra_points=lambda _t: {"83019"},
    )
    await with_extra.run_once()
    await settle(listener)
    assert "point_83019" in config(listener, PLANT)["cmps"]
    before = len(listener.seen)

    without_extra = make_poller(session, cloud_url, ha_url, tmp_path, wall, publisher=mqtt)
    await without_extra.run_once()
    await settle(listener)
    sent = [json.loads(p) for t, p, _ in listener.seen[before:] if t.endswith(f"{PLANT}/config")]
    await without_extra.run_once()
    await settle(listener)

    assert sent[0]["cmps"]["point_83019"] == {"p": "sensor"}
    # The next announcement no longer needs the removal.
    assert "point_83019" not in config(listener, PLANT)["cmps"]


async def test_rest_states_are_removed_once_before_the_devices_are_announced(
    poller: Poller, mqtt_poller: Poller, fake_ha: FakeHomeAssistant
) -> None:
    """Switching from REST: each REST-created state is deleted first, so no `_2` ids appear."""
    await poller.run_once()
    rest_states = set(fake_ha.states)

    await mqtt_poller.run_once()
    await mqtt_poller.run_once()

    deleted = [path for method, path in fake_ha.requests if method == "DELETE"]
    assert sorted(deleted) == sorted(f"/api/states/{entity}" for entity in rest_states)
    assert fake_ha.states == {}


@pytest.mark.slow
async def test_the_broker_away_keeps_the_states_and_sends_them_on_return(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    wall: WallClock,
    mosquitto: Mosquitto,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Broker down at start: polling goes on, one warning; back: everything is sent."""
    caplog.set_level(logging.INFO)
    mosquitto.stop()
    publisher = publisher_for(mosquitto, session, ha_url, tmp_path)
    poller = make_poller(session, cloud_url, ha_url, tmp_path, wall, publisher=publisher)
    connection = asyncio.create_task(publisher.run())
    try:
        with pytest.raises(HomeAssistantConnectionError, match="not connected"):
            await poller.run_once()
        await asyncio.sleep(1.5)
        mosquitto.start()
        await asyncio.wait_for(publisher.wait_connected(), 10)
        listener = Listener(mosquitto)
        await listener.start()
        await settle(listener)
    finally:
        await publisher.close()
        connection.cancel()
        await asyncio.gather(connection, return_exceptions=True)
    await listener.stop()

    values = json.loads(listener.retained[f"sungrow_isolarcloud/{PLANT}/state"])
    assert float(values["total_yield"]) > 0
    unreachable = [r for r in caplog.records if "is unreachable" in r.getMessage()]
    assert [r.levelname for r in unreachable] == ["WARNING"]
    assert any("works again" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
async def test_a_refused_broker_account_is_said_once_and_not_hammered(
    session: aiohttp.ClientSession, ha_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Wrong password: one ERROR line naming the option, and minutes before the next try."""
    folder = tmp_path / "secured"
    folder.mkdir()
    broker = Mosquitto(folder, users={"addons": "right-password-123"})
    broker.start()
    try:
        publisher = MqttPublisher(
            broker=broker_from_url(f"mqtt://addons:wrong-password-456@127.0.0.1:{broker.port}"),
            rest=HomeAssistant(session=session, token=HA_TOKEN, api_url=ha_url),
        )
        connection = asyncio.create_task(publisher.run())
        await asyncio.sleep(3)
        connection.cancel()
        await asyncio.gather(connection, return_exceptions=True)
    finally:
        broker.stop()

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "refused the user name or password" in errors[0]
    assert "'mqtt_url'" in errors[0]
    assert "wrong-password-456" not in caplog.text


def mqtt_client(broker: Mosquitto) -> Any:
    """Return a plain client of the test broker."""
    import aiomqtt  # noqa: PLC0415

    return aiomqtt.Client("127.0.0.1", broker.port)


@pytest.mark.slow
async def test_a_broker_restart_brings_everything_back(
    mqtt_poller: Poller, mqtt: MqttPublisher, mosquitto: Mosquitto
) -> None:
    """The broker restarts and forgets its retained messages: all is sent again, unasked."""
    await mqtt_poller.run_once()
    mosquitto.stop()
    await asyncio.sleep(0.5)
    mosquitto.start()
    await asyncio.wait_for(mqtt.wait_connected(), 15)
    listener = Listener(mosquitto)
    await listener.start()
    try:
        await settle(listener)
    finally:
        await listener.stop()

    assert f"homeassistant/device/{BATTERY}/config" in listener.retained
    assert json.loads(listener.retained[f"sungrow_isolarcloud/{PLANT}/state"])["total_yield"]
    assert listener.retained[STATUS_TOPIC] == b"online"
