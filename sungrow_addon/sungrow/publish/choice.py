"""Which way the states go: MQTT discovery when a broker is known, Home Assistant's REST API else.

`publish: auto` (the default) takes MQTT when the 'mqtt_url' option names a broker or the
Supervisor offers its MQTT service (the Mosquitto broker add-on), REST otherwise; `mqtt` and
`rest` force a mode. Going back from MQTT to REST removes the MQTT devices first (when a broker
can still be reached), so that no entity id is held by both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sungrow.exceptions import OptionsError
from sungrow.publish.broker import supervisor_broker
from sungrow.publish.rest import HomeAssistant
from sungrow.publish.watcher import CoreWatcher

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp import ClientSession

    from sungrow.logs import RedactingFormatter
    from sungrow.options import Options
    from sungrow.publish.broker import Broker
    from sungrow.publish.model import Publisher
    from sungrow.storage import DataFolder

_LOGGER = logging.getLogger(__name__)
MQTT_MEMORY = "mqtt.json"
WITHDRAW_TIMEOUT = 20.0


@dataclass(frozen=True, kw_only=True)
class Publishing:
    """The publisher, the task that keeps it connected, and what to do before exiting."""

    publisher: Publisher
    background: Callable[[], Awaitable[None]] | None
    ready: Callable[[], Awaitable[None]] | None = None
    close: Callable[[], Awaitable[None]] | None = None


@dataclass(frozen=True, kw_only=True)
class Place:
    """Where Home Assistant and the Supervisor are, and the token for both."""

    api_url: str
    supervisor_url: str
    token: str


async def choose(
    options: Options,
    place: Place,
    *,
    session: ClientSession,
    folder: DataFolder,
    formatter: RedactingFormatter,
) -> Publishing:
    """Return the publisher the options and the Supervisor call for; say which and why."""
    rest = HomeAssistant(session=session, token=place.token, api_url=place.api_url)
    broker, why_not = await _broker(options, place, session)
    if broker is not None:
        formatter.add_secret(broker.password)
    if options.publish == "rest" or (options.publish == "auto" and broker is None):
        reason = "the 'publish' option says rest" if options.publish == "rest" else why_not
        _LOGGER.info("Publishing through Home Assistant's REST API: %s", reason)
        await _withdraw_mqtt(broker, rest, folder)
        watcher = CoreWatcher(
            session=session,
            url=rest.websocket_url,
            token=rest.token,
            on_return=rest.restore_if_lost,
        )
        return Publishing(publisher=rest, background=watcher.run)
    if broker is None:
        msg = (
            f"Option 'publish' is mqtt, but there is no MQTT broker: {why_not}; install the "
            "Mosquitto broker add-on or set the 'mqtt_url' option"
        )
        raise OptionsError(msg)
    from sungrow.publish.mqtt import MqttPublisher  # noqa: PLC0415 - loaded in MQTT mode only

    _LOGGER.info(
        "Publishing through MQTT discovery: broker %s from %s", broker.address, broker.source
    )
    mqtt = MqttPublisher(broker=broker, rest=rest, memory=folder.file(MQTT_MEMORY))
    return Publishing(
        publisher=mqtt, background=mqtt.run, ready=mqtt.wait_connected, close=mqtt.close
    )


async def _broker(
    options: Options, place: Place, session: ClientSession
) -> tuple[Broker | None, str]:
    """Return the broker to use (or to remove an earlier MQTT mode's devices from), or why none."""
    if options.broker is not None:
        return options.broker, ""
    return await supervisor_broker(session, place.supervisor_url, place.token)


async def _withdraw_mqtt(broker: Broker | None, rest: HomeAssistant, folder: DataFolder) -> None:
    """Remove the MQTT devices an earlier MQTT mode announced, if there are any."""
    memory = folder.file(MQTT_MEMORY)
    if not memory.path.exists():
        return
    if broker is None:
        _LOGGER.warning(
            "The add-on announced MQTT devices before, and no broker is known now to remove "
            "them: delete them in Settings → Devices & services → MQTT, or the REST sensors "
            "may clash with them"
        )
        return
    from sungrow.publish.mqtt import MqttPublisher  # noqa: PLC0415 - loaded in MQTT mode only

    mqtt = MqttPublisher(broker=broker, rest=rest, memory=memory)
    connection = asyncio.create_task(mqtt.run())
    try:
        async with asyncio.timeout(WITHDRAW_TIMEOUT):
            await mqtt.wait_connected()
            await mqtt.withdraw()
        memory.delete()
        _LOGGER.info("Removed the MQTT devices of the earlier MQTT mode")
    except TimeoutError:
        _LOGGER.warning(
            "Could not reach the MQTT broker at %s to remove the MQTT devices of the earlier "
            "MQTT mode; the next start tries again",
            broker.address,
        )
    finally:
        connection.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connection
