"""Noticing within seconds that Home Assistant restarted, so its sensors come back at once.

Home Assistant keeps REST-created states in memory only: after a restart they are gone until
the add-on sends them again. The add-on holds a connection to Home Assistant's websocket API
(through the Supervisor proxy: `ws://supervisor/core/api/websocket`). Core closes it when it
stops; the proxy answers 502 until Core runs again; the next successful login on the socket
is the signal to look whether Core lost the sensors, and to send them all again if it did.
(Home Assistant's own "started" event cannot be seen through the proxy: a new connection
always comes too late for it.) Reconnections back off, from a second up to a minute.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import ClientError, WSMessageTypeError, WSMsgType

from sungrow.exceptions import (
    HomeAssistantAuthenticationError,
    HomeAssistantConnectionError,
    HomeAssistantError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp import ClientSession, ClientWebSocketResponse

_LOGGER = logging.getLogger(__name__)


@dataclass(kw_only=True)
class CoreWatcher:
    """Holds Home Assistant's websocket open and calls `on_return` each time Core is back."""

    session: ClientSession
    url: str
    token: str = field(repr=False)
    on_return: Callable[[], Awaitable[object]]
    retry_min: float = 1.0
    retry_max: float = 60.0
    refused_retry: float = 300.0
    timeout: float = 10.0
    # A connection that lasted this long was a working one: the backoff starts over.
    stable_after: float = 60.0

    async def run(self) -> None:
        """Watch until cancelled."""
        loop = asyncio.get_running_loop()
        delay, lost, refused = self.retry_min, False, False
        while True:
            connected = loop.time()
            try:
                async with self.session.ws_connect(self.url, heartbeat=30.0) as socket:
                    await self._log_in(socket)
                    if refused:
                        _LOGGER.info("Home Assistant's websocket accepts the token again")
                    refused = False
                    if lost:
                        await self._back()
                    lost = True
                    await self._until_closed(socket)
                _LOGGER.debug("Home Assistant closed the websocket: it stops or restarts")
            except HomeAssistantAuthenticationError as err:
                if not refused:
                    _LOGGER.warning(
                        "%s; watching for restarts again in %.0f s", err, self.refused_retry
                    )
                refused = True
                await asyncio.sleep(self.refused_retry)
                continue
            except (
                ClientError,
                TimeoutError,
                WSMessageTypeError,
                ValueError,
                HomeAssistantConnectionError,
            ) as err:
                # The Supervisor answers 502 while Core starts: expected during a restart.
                _LOGGER.debug("Home Assistant's websocket is not there (%s)", err or type(err))
                lost = True
            if loop.time() - connected >= self.stable_after:
                delay = self.retry_min
            # Never reconnect at once: a socket that closes right away must not become a storm.
            jitter = random.uniform(1.0, 1.5)  # noqa: S311 - timing, not security
            await asyncio.sleep(delay * jitter)
            delay = min(delay * 2, self.retry_max)

    async def _back(self) -> None:
        try:
            await self.on_return()
        except HomeAssistantError as err:
            # Whatever Home Assistant answered, the next poll publishes again: keep watching.
            _LOGGER.warning("Publishing after the restart failed (%s); the next poll retries", err)

    async def _log_in(self, socket: ClientWebSocketResponse) -> None:
        await log_in(socket, self.token, self.timeout)

    async def _until_closed(self, socket: ClientWebSocketResponse) -> None:
        async for message in socket:
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break


async def log_in(socket: ClientWebSocketResponse, token: str, timeout: float) -> None:  # noqa: ASYNC109
    """Answer the websocket's greeting with the token; raise unless Home Assistant accepts it."""
    async with asyncio.timeout(timeout):
        greeting = _type(await socket.receive_json())
        if greeting != "auth_required":
            msg = f"Home Assistant's websocket greeted with {greeting!r}"
            raise HomeAssistantConnectionError(msg)
        await socket.send_json({"type": "auth", "access_token": token})
        answer = _type(await socket.receive_json())
    if answer != "auth_ok":
        msg = "Home Assistant's websocket refused the token"
        raise HomeAssistantAuthenticationError(msg)


def _type(message: object) -> object:
    return message.get("type") if isinstance(message, dict) else message
