"""Publishing sensor states to Home Assistant's REST API (through the Supervisor proxy)."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from aiohttp import ClientError, ClientSession

from .exceptions import (
    HomeAssistantAuthenticationError,
    HomeAssistantConnectionError,
    HomeAssistantError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DEFAULT_API_URL = "http://supervisor/core/api"
# The Supervisor proxy answers 502 while Core is stopped, starting or restarting.
_CORE_DOWN_STATUSES = frozenset({502, 503, 504})
_MAX_PARALLEL_POSTS = 4


@dataclass(frozen=True, kw_only=True)
class SensorState:
    """One sensor as Home Assistant will store it."""

    entity_id: str
    state: str
    attributes: Mapping[str, Any]


class Publisher(Protocol):
    """Where sensor states go: Home Assistant, or the terminal in the demo."""

    async def publish(self, states: Sequence[SensorState]) -> None:
        """Publish every state; raise HomeAssistantError when one could not be published."""

    async def time_zone(self) -> str | None:
        """Return Home Assistant's time zone name, None when it cannot be asked."""


@dataclass(kw_only=True)
class HomeAssistant:
    """Client of Home Assistant's REST API: `POST /api/states/<entity_id>` with a bearer token."""

    session: ClientSession
    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    request_timeout: float = 15.0

    async def publish(self, states: Sequence[SensorState]) -> None:
        """Publish every state (a few at a time); raise the first error after trying all."""
        semaphore = asyncio.Semaphore(_MAX_PARALLEL_POSTS)

        async def bounded(state: SensorState) -> None:
            async with semaphore:
                await self.set_state(state)

        results = await asyncio.gather(
            *(bounded(state) for state in states), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def time_zone(self) -> str | None:
        """Return the time zone configured in Home Assistant (GET /api/config)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with asyncio.timeout(self.request_timeout):
                response = await self.session.get(f"{self.api_url}/config", headers=headers)
                config = await response.json(content_type=None) if response.status == 200 else None  # noqa: PLR2004
        except (TimeoutError, ClientError, ValueError):
            return None
        zone = config.get("time_zone") if isinstance(config, dict) else None
        return zone if isinstance(zone, str) else None

    async def set_state(self, sensor: SensorState) -> bool:
        """Create or update one state; return True when Home Assistant created it (HTTP 201)."""
        url = f"{self.api_url}/states/{sensor.entity_id}"
        body = {"state": sensor.state, "attributes": dict(sensor.attributes)}
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            async with asyncio.timeout(self.request_timeout):
                response = await self.session.post(url, data=json.dumps(body), headers=headers)
                text = await response.text()
        except TimeoutError as err:
            msg = f"Home Assistant did not answer within {self.request_timeout:.0f} s"
            raise HomeAssistantConnectionError(msg) from err
        except (ClientError, socket.gaierror, UnicodeDecodeError) as err:
            msg = f"Cannot reach Home Assistant at {self.api_url} ({err or type(err).__name__})"
            raise HomeAssistantConnectionError(msg) from err
        if response.status in (200, 201):
            return response.status == 201  # noqa: PLR2004
        if response.status in (401, 403):
            msg = (
                f"Home Assistant refused the token (HTTP {response.status}): the add-on needs "
                "'homeassistant_api: true'; outside the Supervisor put a long-lived access "
                "token in SUPERVISOR_TOKEN"
            )
            raise HomeAssistantAuthenticationError(msg)
        if response.status in _CORE_DOWN_STATUSES:
            msg = f"Home Assistant is not running (HTTP {response.status} from {self.api_url})"
            raise HomeAssistantConnectionError(msg)
        msg = (
            f"Home Assistant refused {sensor.entity_id} (HTTP {response.status}: "
            f"{text.strip()[:200]})"
        )
        raise HomeAssistantError(msg)


@dataclass(kw_only=True)
class ConsolePublisher:
    """Prints each sensor (entity_id, value, unit) instead of posting it: the demo's output."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)

    async def time_zone(self) -> str | None:
        """Return None: the demo has no Home Assistant to ask."""
        return None

    async def publish(self, states: Sequence[SensorState]) -> None:
        """Print one line per sensor."""
        width = max((len(state.entity_id) for state in states), default=0)
        for state in states:
            unit = state.attributes.get("unit_of_measurement", "")
            self.stream.write(f"{state.entity_id:<{width}}  {state.state} {unit}".rstrip() + "\n")
        self.stream.flush()
