"""Noticing within seconds that Home Assistant restarted, so its sensors come back at once.

Home Assistant keeps REST-created states in memory only: after a restart they are gone until
the add-on sends them again. The add-on holds a connection to Home Assistant's websocket API
(through the Supervisor proxy: `ws://supervisor/core/api/websocket`). Core closes it when it
stops; the proxy answers 502 until Core runs again; the next successful login on the socket
is the signal to send every sensor again. (Home Assistant's own "started" event cannot be
seen through the proxy: a new connection always comes too late for it.)
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import ClientError, WSMessageTypeError, WSMsgType

from .exceptions import (
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
    retry_min: float = 0.5
    retry_max: float = 5.0
    refused_retry: float = 300.0
    timeout: float = 10.0

    async def run(self) -> None:
        """Watch until cancelled."""
        delay, lost, refused = self.retry_min, False, False
        while True:
            try:
                async with self.session.ws_connect(self.url, heartbeat=30.0) as socket:
                    await self._log_in(socket)
                    if refused:
                        _LOGGER.info("Home Assistant's websocket accepts the token again")
                    delay, refused = self.retry_min, False
                    if lost:
                        await self._back()
                    lost = True
                    await self._until_closed(socket)
                _LOGGER.debug("Home Assistant closed the websocket: it stops or restarts")
                continue
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
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)

    async def _back(self) -> None:
        _LOGGER.info("Home Assistant is back: publishing every sensor again")
        try:
            await self.on_return()
        except HomeAssistantError as err:
            # Whatever Home Assistant answered, the next poll publishes again: keep watching.
            _LOGGER.warning("Publishing after the restart failed (%s); the next poll retries", err)

    async def _log_in(self, socket: ClientWebSocketResponse) -> None:
        async with asyncio.timeout(self.timeout):
            greeting = _type(await socket.receive_json())
            if greeting != "auth_required":
                msg = f"Home Assistant's websocket greeted with {greeting!r}"
                raise HomeAssistantConnectionError(msg)
            await socket.send_json({"type": "auth", "access_token": self.token})
            answer = _type(await socket.receive_json())
        if answer != "auth_ok":
            msg = "Home Assistant's websocket refused the token"
            raise HomeAssistantAuthenticationError(msg)

    async def _until_closed(self, socket: ClientWebSocketResponse) -> None:
        async for message in socket:
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break


def _type(message: object) -> object:
    return message.get("type") if isinstance(message, dict) else message
