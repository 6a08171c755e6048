"""Publishing through MQTT discovery: devices and entities Home Assistant's users can own.

Every plant and every device of it is a Home Assistant device, announced with device-based
discovery (`homeassistant/device/<id>/config`, retained), its sensors as components with a
unique id derived from plant, ps_key and point, and with the entity id the REST mode uses
(`object_id` for Home Assistant up to 2026.3, `default_entity_id` from 2025.10 on). Each device
sends one retained JSON of its sensors' values. Availability is twofold: the add-on's status
(`online`, and `offline` as the broker's last will or before a clean exit) and each device's
own (`offline` when all its data is stale). On Home Assistant's birth message, on every
reconnection and when the sensors change, everything is sent again; what Home Assistant
already has is not. Devices and sensors that are gone are removed (an empty retained config).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import ssl
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sungrow import __version__
from sungrow.exceptions import HomeAssistantConnectionError, HomeAssistantError, StateFileError
from sungrow.publish.model import UNAVAILABLE, PublishReport
from sungrow.publish.mqtt_client import Message, MqttConnection, MqttError, MqttRefusedError
from sungrow.storage import SaveResult

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from sungrow.controls.panel import ControlPanel
    from sungrow.controls.specs import ControlSpec
    from sungrow.publish.broker import Broker
    from sungrow.publish.model import DeviceInfo, Sensor, SensorState
    from sungrow.publish.rest import HomeAssistant
    from sungrow.storage import JsonFile

_LOGGER = logging.getLogger(__name__)
BASE = "sungrow_isolarcloud"
STATUS_TOPIC = f"{BASE}/status"
ONLINE, OFFLINE = "online", "offline"
_ONLINE, _OFFLINE = ONLINE.encode(), OFFLINE.encode()
_NONE: frozenset[str] = frozenset()
ORIGIN = {"name": "Sungrow iSolarCloud add-on", "sw": __version__}
MANUFACTURER = "Sungrow"
RECONNECT_FIRST = 1.0
RECONNECT_MAX = 60.0
REFUSED_RETRY = 300.0
# Home Assistant's advice: answer its birth message after a random delay.
BIRTH_DELAY = (1.0, 5.0)
CONNECT_TIMEOUT = 10.0
# MQTT CONNACK codes of a refused account: 4 bad user name or password, 5 not authorized.
_REFUSED_CODES = frozenset({4, 5})


@dataclass(kw_only=True)
class MqttPublisher:
    """Keeps Home Assistant's MQTT devices and sensors in step with the plants.

    `run()` holds the connection (a background task); `publish()` hands it the states. While
    the broker is away the states are kept, and sent when it is back.
    """

    broker: Broker
    rest: HomeAssistant
    memory: JsonFile | None = None
    prefix: str = "homeassistant"
    controls: ControlPanel | None = None

    # The devices as last described (None: not yet), and each sensor's device and key.
    _devices: dict[str, _Device] | None = field(default=None, init=False)
    _where: dict[str, tuple[_Device, str]] = field(default_factory=dict, init=False)
    _announced: dict[str, frozenset[str]] = field(default_factory=dict, init=False)
    _remembered: dict[str, Any] = field(default_factory=dict, init=False)
    _rest_states_removed: bool = field(default=False, init=False)
    _sent: dict[str, bytes] = field(default_factory=dict, init=False)
    _client: MqttConnection | None = field(default=None, init=False, repr=False)
    _connected: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _birth: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _failing: str | None = field(default=None, init=False)
    _closing: bool = field(default=False, init=False)
    _commands: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        """Recall what was announced before (to remove what is gone)."""
        data = self._load()
        devices = data.get("devices")
        for device, keys in devices.items() if isinstance(devices, dict) else ():
            if isinstance(keys, list) and all(isinstance(key, str) for key in keys):
                self._announced[str(device)] = frozenset(keys)
        self._rest_states_removed = data.get("rest_states_removed") is True
        self._remembered = self._memory_data()

    @property
    def connected(self) -> bool:
        """Return True while the broker is connected."""
        return self._connected.is_set()

    async def describe(self, sensors: Sequence[Sensor]) -> None:
        """Learn every sensor there is: announced with the next states (the rest removed)."""
        known = self._devices or {}
        devices: dict[str, _Device] = {}
        for sensor in sensors:
            if sensor.device is None:
                continue
            device = devices.get(sensor.device.identifier)
            earlier = known.get(sensor.device.identifier)
            if device is None:
                device = devices[sensor.device.identifier] = _Device(sensor.device)
                device.touched = earlier.touched if earlier else False
            device.members.append(sensor)
            device.values[sensor.key] = earlier.values.get(sensor.key) if earlier else None
        for identifier, device in devices.items():
            device.controls = self._control_specs(identifier)
        self._devices = devices
        self._where = {
            sensor.entity_id: (device, sensor.key)
            for device in devices.values()
            for sensor in device.members
        }

    async def publish(self, states: Sequence[SensorState]) -> PublishReport:
        """Send the states that changed; raise while the broker is away (they are kept)."""
        where = self._where
        for sensor, text in states:
            found = where.get(sensor.entity_id)
            if found is not None:
                device, key = found
                device.take(key, None if text == UNAVAILABLE else text)
        if not self.connected:
            msg = (
                f"The MQTT broker at {self.broker.address} is not connected: the states are "
                "sent as soon as it is back"
            )
            raise HomeAssistantConnectionError(msg)
        sent = await self._send_changes()
        return PublishReport(sent=sent, restored=False)

    async def refresh(self) -> None:
        """Send what changed outside a poll (the controls' values); raise while away."""
        await self._send_changes()

    async def time_zone(self) -> str | None:
        """Return Home Assistant's time zone (asked over its REST API)."""
        return await self.rest.time_zone()

    async def wait_connected(self) -> None:
        """Wait until the broker is connected."""
        await self._connected.wait()

    async def run(self) -> None:
        """Hold the connection until cancelled: reconnect with a backoff, re-send on return."""
        delay = RECONNECT_FIRST
        while True:
            client = None
            try:
                client = await MqttConnection.open(
                    self.broker.host,
                    self.broker.port,
                    client_id=f"{BASE}_{uuid.uuid4().hex[:12]}",
                    username=self.broker.username,
                    password=self.broker.password,
                    will=Message(STATUS_TOPIC, OFFLINE.encode(), qos=1, retain=True),
                    tls=ssl.create_default_context() if self.broker.tls else None,
                    timeout=CONNECT_TIMEOUT,
                )
                await self._connected_with(client)
                delay = RECONNECT_FIRST
                await self._listen(client)
            except MqttRefusedError as err:
                if err.code not in _REFUSED_CODES:
                    self._failed(f"The MQTT broker at {self.broker.address} failed ({err})")
                else:
                    self._failed(
                        f"The MQTT broker at {self.broker.address} refused the user name or "
                        f"password ({err}): check the 'mqtt_url' option, or the broker's users",
                        level=logging.ERROR,
                    )
                    delay = max(delay, REFUSED_RETRY)
            except MqttError as err:
                self._failed(
                    f"The MQTT broker at {self.broker.address} is unreachable ({err}); "
                    "connecting again, the states are kept meanwhile"
                )
            finally:
                self._connected.clear()
                self._client = None
                if client is not None:
                    await client.close()
            await asyncio.sleep(delay * random.uniform(1.0, 1.5))  # noqa: S311 - timing
            delay = min(delay * 2, RECONNECT_MAX)

    async def withdraw(self) -> None:
        """Remove every device announced before (going back to REST), then say offline."""
        self._devices = {}
        await self._send_changes()
        await self.close()

    async def close(self) -> None:
        """Say `offline` (retained) before a clean exit: the last will only covers a crash."""
        self._closing = True
        client = self._client
        if client is not None and self.connected:
            with contextlib.suppress(MqttError):
                await client.publish_all([Message(STATUS_TOPIC, OFFLINE.encode(), 1, retain=True)])

    async def _connected_with(self, client: MqttConnection) -> None:
        self._client = client
        self._sent.clear()  # a new connection: everything once more
        topics = [f"{self.prefix}/status", STATUS_TOPIC]
        if self.controls is not None:
            topics.append(f"{BASE}/+/set/+")
        await client.subscribe(*topics)
        self._connected.set()
        with contextlib.suppress(HomeAssistantError):  # the next poll tries again
            await self._send_changes()
        if self._failing is not None:
            _LOGGER.info("The MQTT broker at %s works again", self.broker.address)
            self._failing = None
        else:
            _LOGGER.debug("Connected to the MQTT broker at %s", self.broker.address)

    async def _listen(self, client: MqttConnection) -> None:
        async for message in client.messages():
            text = message.payload.decode("utf-8", "replace")
            if message.topic == f"{self.prefix}/status" and text == ONLINE:
                self._answer_birth()
            elif message.topic == STATUS_TOPIC and text == OFFLINE and not self._closing:
                # The last will of an earlier connection, arriving late: we are here. (A
                # broker that stops sends ours too: then the connection ends right after.)
                self._sent.pop(STATUS_TOPIC, None)
                with contextlib.suppress(HomeAssistantError):
                    await self._send_changes()
            elif self.controls is not None and (command := _command(message.topic)):
                # Not awaited here: a setting takes seconds, the connection must go on.
                task = asyncio.create_task(self.controls.command(*command, text))
                self._commands.add(task)
                task.add_done_callback(self._commands.discard)

    def _answer_birth(self) -> None:
        """Send everything again a few seconds after Home Assistant (re)started, once."""
        if self._birth is not None and not self._birth.done():
            return

        async def later() -> None:
            await asyncio.sleep(random.uniform(*BIRTH_DELAY))  # noqa: S311 - timing
            self._sent.clear()
            with contextlib.suppress(HomeAssistantError):  # the next poll tries again
                await self._send_changes()

        self._birth = asyncio.create_task(later())

    async def _send_changes(self) -> int:
        """Publish every message whose content Home Assistant does not have yet.

        The messages are worked out at once from one view of the devices: `describe()` may
        run while a message is on its way.
        """
        async with self._lock:
            client, devices = self._client, self._devices
            if client is None:
                return 0
            if not self._rest_states_removed and devices:
                await self._remove_rest_states(devices)
            changed = [
                message
                for message in self._messages(devices)
                if self._sent.get(message.topic) != message.payload
            ]
            try:
                await client.publish_all(changed)
            except MqttError as err:
                msg = f"The MQTT broker at {self.broker.address} dropped a message ({err})"
                raise HomeAssistantConnectionError(msg) from err
            self._sent.update((message.topic, message.payload) for message in changed)
            self._remember(devices)
            return len(changed)

    def _messages(self, devices: dict[str, _Device] | None) -> Iterable[Message]:
        """Yield what Home Assistant must hold: status, configs, availability, states.

        All retained; the states at QoS 0: a new connection sends them all again anyway.
        """
        yield Message(STATUS_TOPIC, ONLINE.encode(), 1, retain=True)
        if devices is None:
            return  # nothing known yet: what the broker retained stays as it is
        for identifier in sorted(set(self._announced) - set(devices)):
            for topic in (
                self._config_topic(identifier),
                *_data_topics(identifier),
                *_control_topics(identifier),
            ):
                yield Message(topic, b"", 1, retain=True)
        for identifier, device in devices.items():
            announced = self._announced.get(identifier, device.keys)
            gone = _NONE if announced is device.keys else announced - device.keys
            payload = device.config(self._config, gone)
            yield Message(self._config_topic(identifier), payload, 1, retain=True)
        for identifier, device in devices.items():
            if device.touched:  # the others keep what the broker retained from the last run
                availability_topic, state_topic = _data_topics(identifier)
                availability = _ONLINE if device.available else _OFFLINE
                yield Message(availability_topic, availability, 1, retain=True)
                yield Message(state_topic, device.state(), 0, retain=True)
        if self.controls is not None:
            panel = self.controls
            allowed = _ONLINE if panel.permitted else _OFFLINE
            for identifier, device in devices.items():
                if device.controls and identifier in panel.devices:
                    values_topic, allowed_topic = _control_topics(identifier)
                    yield Message(allowed_topic, allowed, 1, retain=True)
                    yield Message(values_topic, _dumps(panel.state(identifier)), 1, retain=True)

    @staticmethod
    def _config(device: _Device, gone: frozenset[str]) -> dict[str, Any]:
        """Return the device's discovery payload (`{"p": <platform>}` removes a component)."""
        info = device.info
        availability_topic, state_topic = _data_topics(info.identifier)
        components: dict[str, Any] = {}
        for key in sorted(gone):
            platform, _, name = key.rpartition("/")  # a control's key is <platform>/<key>
            components[name] = {"p": platform or "sensor"}
        components |= {sensor.key: _component(sensor) for sensor in device.members}
        components |= {
            spec.key: _control_component(device, spec, availability_topic)
            for spec in device.controls
        }
        return {
            "dev": _without_none(
                {
                    "ids": [info.identifier],
                    "name": info.name,
                    "mf": MANUFACTURER,
                    "mdl": info.model,
                    "sn": info.serial_number,
                    "via_device": info.via,
                }
            ),
            "o": ORIGIN,
            "state_topic": state_topic,
            "availability": [{"topic": STATUS_TOPIC}, {"topic": availability_topic}],
            "availability_mode": "all",
            "cmps": components,
        }

    def _config_topic(self, identifier: str) -> str:
        return _config_topic(self.prefix, identifier)

    def _control_specs(self, identifier: str) -> tuple[ControlSpec, ...]:
        controlled = self.controls.devices.get(identifier) if self.controls else None
        return controlled.specs if controlled is not None else ()

    async def _remove_rest_states(self, devices: dict[str, _Device]) -> None:
        """Free the entity ids the REST mode held, once: else Core would append `_2`."""
        entity_ids = [sensor.entity_id for device in devices.values() for sensor in device.members]
        _LOGGER.info("Taking over from the REST mode: removing its %d states", len(entity_ids))
        for entity_id in entity_ids:
            try:
                await self.rest.remove_state(entity_id)
            except HomeAssistantError as err:
                msg = f"Cannot take over the REST mode's sensors yet ({err}); trying again later"
                raise HomeAssistantConnectionError(msg) from err
        self._rest_states_removed = True

    def _remember(self, devices: dict[str, _Device] | None) -> None:
        """Keep what is announced in the data folder, to remove it when it is gone."""
        if devices is not None:
            announced = {identifier: device.keys for identifier, device in devices.items()}
            if announced == self._announced and self._remembered.get("rest_states_removed") is (
                self._rest_states_removed
            ):
                return  # the same key sets as before: nothing to write
            self._announced = announced
        data = self._memory_data()
        if self.memory is not None and data != self._remembered:
            if self.memory.save(data) is SaveResult.FAILED:
                return
            self._remembered = data

    def _memory_data(self) -> dict[str, Any]:
        devices = {identifier: sorted(keys) for identifier, keys in self._announced.items()}
        return {"devices": devices, "rest_states_removed": self._rest_states_removed}

    def _load(self) -> dict[str, Any]:
        if self.memory is None:
            return {}
        try:
            return self.memory.load() or {}
        except StateFileError as err:
            _LOGGER.warning("The stored MQTT devices cannot be used (%s); starting anew", err)
            return {}

    def _failed(self, message: str, *, level: int = logging.WARNING) -> None:
        """Log a broker failure once when it starts; later ones at debug."""
        _LOGGER.log(level if self._failing is None else logging.DEBUG, "%s", message)
        self._failing = message


@dataclass(eq=False)
class _Device:
    """One Home Assistant device: its sensors, their latest values, its cached payloads."""

    info: DeviceInfo
    members: list[Sensor] = field(default_factory=list)
    values: dict[str, str | None] = field(default_factory=dict)
    touched: bool = False  # got states in this run
    controls: tuple[ControlSpec, ...] = ()
    _config: tuple[frozenset[str], bytes] | None = None
    _state: bytes | None = None
    _keys: frozenset[str] | None = None

    @property
    def keys(self) -> frozenset[str]:
        """Return the keys of its sensors (fixed once described)."""
        if self._keys is None:
            controls = {f"{spec.platform}/{spec.key}" for spec in self.controls}
            self._keys = frozenset(self.values) | controls
        return self._keys

    @property
    def available(self) -> bool:
        """Return False when none of its sensors has a value (all its data is stale)."""
        return any(value is not None for value in self.values.values())

    def take(self, key: str, value: str | None) -> None:
        """Take a sensor's value of this poll."""
        self.touched = True
        if self.values.get(key) != value:
            self.values[key] = value
            self._state = None

    def state(self) -> bytes:
        """Return the state payload: every sensor's value (null: unknown)."""
        if self._state is None:
            # In the order of the sensors, which is fixed: no sorting needed for equal bytes.
            self._state = _encode(self.values).encode()
        return self._state

    def config(
        self, build: Callable[[_Device, frozenset[str]], dict[str, Any]], gone: frozenset[str]
    ) -> bytes:
        """Return the discovery payload, built again only when the components changed."""
        if self._config is None or self._config[0] != gone:
            self._config = (gone, _dumps(build(self, gone)))
        return self._config[1]


@functools.lru_cache(maxsize=4096)
def _config_topic(prefix: str, identifier: str) -> str:
    return f"{prefix}/device/{identifier}/config"


@functools.lru_cache(maxsize=4096)
def _data_topics(identifier: str) -> tuple[str, str]:
    return f"{BASE}/{identifier}/availability", f"{BASE}/{identifier}/state"


@functools.lru_cache(maxsize=4096)
def _control_topics(identifier: str) -> tuple[str, str]:
    return f"{BASE}/{identifier}/controls", f"{BASE}/{identifier}/controls/availability"


def _command(topic: str) -> tuple[str, str] | None:
    """Return (device identifier, control key) of a command topic, None for another topic."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == BASE and parts[2] == "set":  # noqa: PLR2004
        return parts[1], parts[3]
    return None


def _control_component(device: _Device, spec: ControlSpec, availability: str) -> dict[str, Any]:
    """Return one control as a component: the entity id shares its device's sensors' prefix."""
    identifier = device.info.identifier
    values_topic, allowed_topic = _control_topics(identifier)
    sensor = device.members[0]
    object_id = sensor.entity_id.partition(".")[2].removesuffix(sensor.key) + spec.key
    component: dict[str, Any] = {
        "p": spec.platform,
        "unique_id": f"{identifier}_{spec.key}",
        "name": spec.name,
        "object_id": object_id,
        "default_entity_id": f"{spec.platform}.{object_id}",
        "icon": spec.icon,
        "entity_category": "config",
        "command_topic": f"{BASE}/{identifier}/set/{spec.key}",
        "state_topic": values_topic,
        "value_template": f"{{{{ value_json.{spec.key} }}}}",
        "availability": [
            {"topic": STATUS_TOPIC},
            {"topic": availability},
            {"topic": allowed_topic},
        ],
        "availability_mode": "all",
        "qos": 1,
        "retain": False,  # a command is never replayed
    }
    if spec.platform == "number":
        component |= {"min": spec.minimum, "max": spec.maximum, "step": spec.step, "mode": "box"}
        if spec.unit:
            component["unit_of_measurement"] = spec.unit
    elif spec.platform == "select":
        component["options"] = [option for option, _ in spec.options]
    else:
        component |= {"payload_on": "ON", "payload_off": "OFF"}
    return component


def _component(sensor: Sensor) -> dict[str, Any]:
    """Return one sensor as a component of its device's discovery payload."""
    attributes = sensor.attributes
    object_id = sensor.entity_id.partition(".")[2]
    return _without_none(
        {
            "p": "sensor",
            "unique_id": sensor.unique_id,
            "name": sensor.name,
            "object_id": object_id,
            "default_entity_id": sensor.entity_id,
            "value_template": f"{{{{ value_json.{sensor.key} }}}}",
            "unit_of_measurement": attributes.get("unit_of_measurement"),
            "device_class": attributes.get("device_class"),
            "state_class": attributes.get("state_class"),
            "icon": attributes.get("icon"),
            "options": attributes.get("options"),
            "suggested_display_precision": sensor.precision,
            "entity_category": "diagnostic" if sensor.diagnostic else None,
            "qos": 1,
        }
    )


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


# One encoder each: json.dumps() with options builds a new one per call.
_encode_sorted = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _dumps(value: Any) -> bytes:
    return _encode_sorted(value).encode()
