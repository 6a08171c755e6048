"""Publishing sensor states to Home Assistant's REST API (through the Supervisor proxy)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientSession

from sungrow.exceptions import (
    HomeAssistantAuthenticationError,
    HomeAssistantConnectionError,
    HomeAssistantError,
)
from sungrow.publish.model import PublishReport

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sungrow.publish.model import Sensor, SensorState

_LOGGER = logging.getLogger(__name__)
DEFAULT_API_URL = "http://supervisor/core/api"
# The Supervisor proxy answers 502 while Core is stopped, starting or restarting.
_CORE_DOWN_STATUSES = frozenset({502, 503, 504})
_MAX_PARALLEL_POSTS = 4
# Home Assistant's own rule for entity ids (core's VALID_ENTITY_ID), in ASCII.
VALID_ENTITY_ID = re.compile(r"(?!.+__)(?!_)[0-9a-z_]+(?<!_)\.(?!_)[0-9a-z_]+(?<!_)")
# What is read of an answer at the most: error texts are quoted, nothing more is needed.
_MAX_ANSWER_BYTES = 64 * 1024
# A reconnected websocket is checked for a restart of Core at most this often.
RESTORE_CHECK_INTERVAL = 60.0


@dataclass(kw_only=True)
class HomeAssistant:
    """Client of Home Assistant's REST API: `POST /api/states/<entity_id>` with a bearer token.

    It keeps the latest state of every sensor. Only what Home Assistant does not hold yet is
    sent; when Home Assistant has lost the states (a restart: an entity it held is created
    anew, HTTP 201, or the websocket watcher saw Core come back), everything is sent again.
    """

    session: ClientSession
    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    request_timeout: float = 15.0
    clock: Callable[[], float] = time.monotonic

    _latest: dict[str, SensorState] = field(default_factory=dict, init=False, repr=False)
    _held: dict[str, SensorState] = field(default_factory=dict, init=False, repr=False)
    _restore_check_due: float = field(default=0.0, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @property
    def websocket_url(self) -> str:
        """Return the websocket API next to the REST API."""
        return websocket_url(self.api_url)

    async def describe(self, sensors: Sequence[Sensor]) -> None:
        """Do nothing: a REST-created state describes itself with its attributes."""

    async def publish(self, states: Sequence[SensorState]) -> PublishReport:
        """Publish the states Home Assistant does not hold yet; raise after trying them all."""
        for state in states:
            self._latest[state.entity_id] = state
        async with self._lock:
            return await self._push()

    async def republish(self) -> PublishReport:
        """Send every state again: Home Assistant restarted and holds none of them."""
        async with self._lock:
            self._held.clear()
            return await self._push()

    async def restore_if_lost(self) -> PublishReport | None:
        """Send every state again if Home Assistant lost them (Core restarted), else nothing.

        A websocket can drop without a restart of Core (the proxy, the network): one state is
        asked for first, at most once a minute, so that reconnections never flood Core.
        """
        now = self.clock()
        if not self._held or now < self._restore_check_due:
            return None
        self._restore_check_due = now + RESTORE_CHECK_INTERVAL
        if await self._holds(next(iter(self._held))):
            return None
        _LOGGER.info("Home Assistant is back without the sensors: publishing every one again")
        return await self.republish()

    async def remove_state(self, entity_id: str) -> None:
        """Remove a state Home Assistant holds (DELETE /api/states/…); none to remove is fine."""
        if not VALID_ENTITY_ID.fullmatch(entity_id):
            msg = f"Not removing a state with the invalid entity id {entity_id[:80]!r}"
            raise HomeAssistantError(msg)
        status, text = await self._request("DELETE", f"{self.api_url}/states/{entity_id}")

        if status not in (200, 404):
            raise _error(status, text, self.api_url, f"removing {entity_id}")

    async def _holds(self, entity_id: str) -> bool:
        """Return True when Home Assistant has a state for `entity_id` (GET /api/states/…)."""
        status, text = await self._request("GET", f"{self.api_url}/states/{entity_id}")
        if status == 200:  # noqa: PLR2004
            return True
        if status == 404:  # noqa: PLR2004
            return False
        raise _error(status, text, self.api_url, f"the state of {entity_id}")

    async def _push(self) -> PublishReport:
        pending = [s for s in self._latest.values() if self._held.get(s.entity_id) != s]
        semaphore = asyncio.Semaphore(_MAX_PARALLEL_POSTS)

        async def bounded(state: SensorState) -> bool:
            async with semaphore:
                return await self.set_state(state)

        results = await asyncio.gather(*(bounded(s) for s in pending), return_exceptions=True)
        outcomes = list(zip(pending, results, strict=True))
        done = {s.entity_id: s for s, result in outcomes if not isinstance(result, BaseException)}
        # A 201 for an entity Home Assistant held: it restarted and lost them all.
        forgotten = any(result is True and s.entity_id in self._held for s, result in outcomes)
        self._held = done if forgotten else self._held | done
        errors = [result for _, result in outcomes if isinstance(result, BaseException)]
        if forgotten and not errors:
            again = await self._push()
            return PublishReport(sent=len(pending) + again.sent, restored=True)
        if errors:
            raise errors[0]
        return PublishReport(sent=len(pending), restored=False)

    async def time_zone(self) -> str | None:
        """Return the time zone configured in Home Assistant (GET /api/config)."""
        try:
            status, text = await self._request("GET", f"{self.api_url}/config")
            config = json.loads(text) if status == 200 else None  # noqa: PLR2004
        except (HomeAssistantError, ValueError, RecursionError):
            return None
        zone = config.get("time_zone") if isinstance(config, dict) else None
        return zone if isinstance(zone, str) else None

    async def set_state(self, sensor: SensorState) -> bool:
        """Create or update one state; return True when Home Assistant created it (HTTP 201)."""
        if not VALID_ENTITY_ID.fullmatch(sensor.entity_id):
            msg = f"Not sending a state with the invalid entity id {sensor.entity_id[:80]!r}"
            raise HomeAssistantError(msg)
        body = {"state": sensor.state, "attributes": dict(sensor.attributes)}
        status, text = await self._request(
            "POST", f"{self.api_url}/states/{sensor.entity_id}", data=json.dumps(body)
        )
        if status in (200, 201):
            return status == 201  # noqa: PLR2004
        raise _error(status, text, self.api_url, sensor.entity_id)

    async def _request(self, method: str, url: str, *, data: str | None = None) -> tuple[int, str]:
        """Send one request with the token (never to another address); return status and text."""
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            async with asyncio.timeout(self.request_timeout):
                response = await self.session.request(
                    method, url, data=data, headers=headers, allow_redirects=False
                )
                raw = await response.content.read(_MAX_ANSWER_BYTES)
                response.release()
        except TimeoutError as err:
            msg = f"Home Assistant did not answer within {self.request_timeout:.0f} s"
            raise HomeAssistantConnectionError(msg) from err
        except (ClientError, socket.gaierror) as err:
            reason = str(err) or type(err).__name__
            msg = f"Cannot reach Home Assistant at {_address(self.api_url)} ({reason})"
            raise HomeAssistantConnectionError(msg) from err
        return response.status, raw.decode("utf-8", "replace")


def _error(status: int, text: str, api_url: str, what: str) -> HomeAssistantError:
    """Return the error of an answer that is not a success."""
    if status in (401, 403):
        msg = (
            f"Home Assistant refused the token (HTTP {status}): the add-on needs "
            "'homeassistant_api: true'; outside the Supervisor put a long-lived access "
            "token in SUPERVISOR_TOKEN"
        )
        return HomeAssistantAuthenticationError(msg)
    if status in _CORE_DOWN_STATUSES:
        msg = f"Home Assistant is not running (HTTP {status} from {_address(api_url)})"
        return HomeAssistantConnectionError(msg)
    if 300 <= status < 400:  # noqa: PLR2004
        msg = f"Home Assistant answered with a redirect (HTTP {status}): check HA_API_URL"
        return HomeAssistantError(msg)
    return HomeAssistantError(
        f"Home Assistant refused {what} (HTTP {status}: {text.strip()[:200]})"
    )


def _address(url: str) -> str:
    """Return a URL without any user name or password in it, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def websocket_url(api_url: str) -> str:
    """Return the websocket API next to a REST API (http→ws, https→wss)."""
    return re.sub(r"^http", "ws", api_url) + "/websocket"
