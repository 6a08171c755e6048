"""The Home Assistant publisher: what it posts, and how it reads Home Assistant's answers."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import aiohttp
import pytest
from aiohttp import web
from conftest import serve
from const import HA_TOKEN
from yarl import URL

from sungrow.exceptions import (
    HomeAssistantAuthenticationError,
    HomeAssistantConnectionError,
    HomeAssistantError,
)
from sungrow.publish.console import ConsolePublisher
from sungrow.publish.model import Sensor, SensorState
from sungrow.publish.rest import HomeAssistant

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aioresponses import aioresponses

API = "http://supervisor/core/api"
POWER = SensorState(
    Sensor(
        entity_id="sensor.sungrow_home_plant_power",
        attributes={
            "friendly_name": "Home Plant power",
            "unit_of_measurement": "W",
            "device_class": "power",
            "state_class": "measurement",
        },
    ),
    "5309",
)
YIELD = SensorState(
    Sensor(
        entity_id="sensor.sungrow_home_daily_yield",
        attributes={"friendly_name": "Home Daily yield", "unit_of_measurement": "kWh"},
    ),
    "14.42",
)


@pytest.fixture
async def home_assistant() -> AsyncIterator[HomeAssistant]:
    """A publisher to the Supervisor proxy with the test token."""
    async with aiohttp.ClientSession() as session:
        yield HomeAssistant(session=session, token=HA_TOKEN, api_url=API)


def state_url(state: SensorState) -> str:
    """Return the URL a state is posted to."""
    return f"{API}/states/{state.entity_id}"


async def test_set_state_posts_state_and_attributes_with_the_bearer_token(
    responses: aioresponses, home_assistant: HomeAssistant
) -> None:
    """The state goes to /states/<entity_id> with the token and the attributes."""
    responses.post(state_url(POWER), status=201, payload={})

    created = await home_assistant.set_state(POWER)

    assert created is True
    (call,) = responses.requests[("POST", URL(state_url(POWER)))]
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {HA_TOKEN}"
    assert json.loads(call.kwargs["data"]) == {
        "state": "5309",
        "attributes": dict(POWER.attributes),
    }


async def test_an_update_is_not_a_creation(
    responses: aioresponses, home_assistant: HomeAssistant
) -> None:
    """HTTP 200 means the state existed already."""
    responses.post(state_url(POWER), status=200, payload={})

    assert await home_assistant.set_state(POWER) is False


async def test_what_home_assistant_holds_is_not_sent_again_hours_later(
    responses: aioresponses,
) -> None:
    """No hourly re-publish: an unchanged state is sent once, however long it stays so."""
    now = [0.0]
    responses.post(state_url(POWER), status=201, payload={}, repeat=True)
    async with aiohttp.ClientSession() as session:
        publisher = HomeAssistant(
            session=session, token=HA_TOKEN, api_url=API, clock=lambda: now[0]
        )
        for hour in range(5):
            now[0] = hour * 3600.0
            await publisher.publish([POWER])

    assert len(responses.requests[("POST", URL(state_url(POWER)))]) == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_token(
    responses: aioresponses, home_assistant: HomeAssistant, status: int
) -> None:
    """401/403 is an authentication error that tells what to check."""
    responses.post(state_url(POWER), status=status, body="401: Unauthorized")

    with pytest.raises(HomeAssistantAuthenticationError, match="homeassistant_api"):
        await home_assistant.set_state(POWER)


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_core_not_running(
    responses: aioresponses, home_assistant: HomeAssistant, status: int
) -> None:
    """The proxy's 502 while Core restarts is a connection error, to be retried."""
    responses.post(state_url(POWER), status=status, body="Bad Gateway")

    with pytest.raises(HomeAssistantConnectionError, match=f"not running \\(HTTP {status}"):
        await home_assistant.set_state(POWER)


async def test_refused_state_quotes_home_assistant(
    responses: aioresponses, home_assistant: HomeAssistant
) -> None:
    """Any other refusal carries Home Assistant's own message."""
    responses.post(state_url(POWER), status=400, body='{"message": "Invalid entity ID specified."}')

    with pytest.raises(HomeAssistantError, match="Invalid entity ID specified"):
        await home_assistant.set_state(POWER)


async def test_a_redirect_is_not_followed_with_the_token() -> None:
    """A 307 to another address is an error: the token never goes there."""
    stolen: list[str | None] = []

    async def steal(request: web.Request) -> web.Response:
        stolen.append(request.headers.get("Authorization"))
        return web.json_response({}, status=201)

    elsewhere = web.Application()
    elsewhere.router.add_route("*", "/{tail:.*}", steal)
    async with serve(elsewhere) as elsewhere_url:

        async def redirect(_request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect(f"{elsewhere_url}/api/states/x")

        core = web.Application()
        core.router.add_route("*", "/{tail:.*}", redirect)
        async with serve(core) as url, aiohttp.ClientSession() as session:
            publisher = HomeAssistant(session=session, token=HA_TOKEN, api_url=f"{url}/api")
            with pytest.raises(HomeAssistantError, match="redirect") as raised:
                await publisher.set_state(POWER)

    assert stolen == []
    assert elsewhere_url not in str(raised.value)


@pytest.mark.parametrize(
    "entity_id",
    [
        "sensor.sungrow_x/../../services/homeassistant/stop",
        "sensor.sungrow_x?y=1",
        "sensor.sungrow__x",
        "sensor.sungrow_é",
        "sensor.",
    ],
)
async def test_an_invalid_entity_id_is_never_sent(
    responses: aioresponses, home_assistant: HomeAssistant, entity_id: str
) -> None:
    """An id Home Assistant would refuse, or that would change the URL, is not sent at all."""
    state = SensorState(Sensor(entity_id=entity_id, attributes={}), "1")

    with pytest.raises(HomeAssistantError, match="invalid entity id"):
        await home_assistant.set_state(state)

    assert not responses.requests


async def test_timeout(responses: aioresponses, home_assistant: HomeAssistant) -> None:
    """No answer in time is a connection error."""
    responses.post(state_url(POWER), exception=TimeoutError())

    with pytest.raises(HomeAssistantConnectionError, match="did not answer"):
        await home_assistant.set_state(POWER)


async def test_unreachable(responses: aioresponses, home_assistant: HomeAssistant) -> None:
    """A refused connection is a connection error naming the URL."""
    responses.post(state_url(POWER), exception=aiohttp.ClientConnectionError("refused"))

    with pytest.raises(HomeAssistantConnectionError, match="supervisor/core/api"):
        await home_assistant.set_state(POWER)


async def test_publish_tries_every_state_before_raising(
    responses: aioresponses, home_assistant: HomeAssistant
) -> None:
    """One refused state does not keep the others from being published."""
    responses.post(state_url(POWER), status=502, body="Bad Gateway")
    responses.post(state_url(YIELD), status=201, payload={})

    with pytest.raises(HomeAssistantConnectionError):
        await home_assistant.publish([POWER, YIELD])

    assert ("POST", URL(state_url(YIELD))) in responses.requests


async def test_console_prints_every_sensor_then_only_what_changed() -> None:
    """The demo's output: a timed line per cycle, all sensors first, then the changes."""
    out = io.StringIO()
    times = iter(datetime(2026, 6, 1, 12, minute, tzinfo=UTC) for minute in (0, 1, 2))
    console = ConsolePublisher(stream=out, now=lambda: next(times))
    risen = POWER._replace(state="5400")

    await console.publish([POWER, YIELD])
    await console.publish([risen, YIELD])
    await console.publish([risen, YIELD])

    assert out.getvalue().splitlines() == [
        "12:00:00  2 sensors",
        "sensor.sungrow_home_plant_power  5309 W",
        "sensor.sungrow_home_daily_yield  14.42 kWh",
        "12:01:00  1 of 2 sensors changed",
        "sensor.sungrow_home_plant_power  5309 W → 5400 W",
        "12:02:00  no sensor changed",
    ]


def test_token_stays_out_of_repr(home_assistant: HomeAssistant) -> None:
    """The supervisor token never shows in the publisher's repr."""
    assert HA_TOKEN not in repr(home_assistant)
