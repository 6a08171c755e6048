"""A local stand-in for Home Assistant's REST API as the Supervisor proxy exposes it."""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

# Home Assistant's own rule for entity ids (core `VALID_ENTITY_ID`).
VALID_ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")


@dataclass(frozen=True)
class Posted:
    """One POST /api/states/<entity_id> as received."""

    entity_id: str
    authorization: str | None
    body: dict[str, Any]


@dataclass
class FakeHomeAssistant:
    """Checks the bearer token, validates entity ids and records every state it is sent."""

    token: str = "ha-token-0123456789"
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[Posted] = field(default_factory=list)
    status_override: int | None = None
    time_zone: str = "Europe/Berlin"
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition, repr=False)

    async def wait_for_state(self, entity_id: str) -> dict[str, Any]:
        """Wait until a state for `entity_id` has been stored; return it."""
        async with self._changed:
            await self._changed.wait_for(lambda: entity_id in self.states)
        return self.states[entity_id]

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Serve on loopback; yield the API base URL (the value of HA_API_URL)."""
        app = web.Application()
        app.router.add_get("/api/", self._api_root)
        app.router.add_get("/api/config", self._config)
        app.router.add_post("/api/states/{entity_id}", self._post_state)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield f"http://127.0.0.1:{port}/api"
        finally:
            await runner.cleanup()

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _api_root(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "401: Unauthorized"}, status=401)
        return web.json_response({"message": "API running."})

    async def _config(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "401: Unauthorized"}, status=401)
        return web.json_response({"time_zone": self.time_zone, "unit_system": {}})

    async def _post_state(self, request: web.Request) -> web.Response:
        entity_id = request.match_info["entity_id"]
        raw = await request.text()
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response({"message": "Invalid JSON specified."}, status=400)
        self.posted.append(Posted(entity_id, request.headers.get("Authorization"), body))
        if self.status_override is not None:
            return web.Response(status=self.status_override, text="Bad Gateway")
        if not self._authorized(request):
            return web.json_response({"message": "401: Unauthorized"}, status=401)
        if not VALID_ENTITY_ID.match(entity_id):
            return web.json_response({"message": "Invalid entity ID specified."}, status=400)
        if not isinstance(body, dict) or "state" not in body:
            return web.json_response({"message": "No state specified."}, status=400)
        created = entity_id not in self.states
        self.states[entity_id] = {
            "entity_id": entity_id,
            "state": str(body["state"]),
            "attributes": body.get("attributes", {}),
        }
        async with self._changed:
            self._changed.notify_all()
        return web.json_response(self.states[entity_id], status=201 if created else 200)
