"""A local stand-in for Home Assistant's REST API as the Supervisor proxy exposes it."""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

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
    """Checks the bearer token, validates entity ids and records every state it is sent.

    It also speaks the websocket API's login, and can restart the way Core does behind the
    Supervisor proxy: the states are gone, sockets close, and everything answers 502 for a
    while.
    """

    token: str = "ha-token-0123456789"
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[Posted] = field(default_factory=list)
    status_override: int | None = None
    time_zone: str = "Europe/Berlin"
    websocket_logins: int = 0
    close_after_login: bool = False
    fetched: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    # What the Supervisor's MQTT service offers (None: no broker add-on, HTTP 400).
    mqtt_service: dict[str, Any] | None = None
    # Imported statistics: id -> start (ISO) -> row; and each id's metadata, as last sent.
    statistics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    statistics_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Core 2025.4 refuses metadata keys it does not know (mean_type, unit_class): 2026 takes them.
    takes_mean_type: bool = False
    _down_until: float = 0.0
    _sockets: set[web.WebSocketResponse] = field(default_factory=set, repr=False)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition, repr=False)

    async def wait_for_state(self, entity_id: str) -> dict[str, Any]:
        """Wait until a state for `entity_id` has been stored; return it."""
        async with self._changed:
            await self._changed.wait_for(lambda: entity_id in self.states)
        return self.states[entity_id]

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Serve on loopback; yield the API base URL (the value of HA_API_URL)."""
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/api/", self._api_root)
        app.router.add_get("/api/config", self._config)
        app.router.add_get("/api/websocket", self._websocket)
        app.router.add_post("/api/states/{entity_id}", self._post_state)
        app.router.add_get("/api/states/{entity_id}", self._get_state)
        app.router.add_delete("/api/states/{entity_id}", self._delete_state)
        app.router.add_get("/services/mqtt", self._mqtt_service)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield f"http://127.0.0.1:{port}/api"
        finally:
            await runner.cleanup()

    async def restart(self, *, down_for: float) -> None:
        """Lose every state, close the sockets, and answer 502 for `down_for` seconds."""
        self._down_until = asyncio.get_running_loop().time() + down_for
        self.states.clear()
        for socket in list(self._sockets):
            await socket.close()

    @property
    def down(self) -> bool:
        """Return True while the restart is under way."""
        return asyncio.get_running_loop().time() < self._down_until

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            return web.Response(status=502, text="Bad Gateway")
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"type": "auth_required", "ha_version": "2025.4.4"})
        auth = await socket.receive_json()
        if auth.get("type") != "auth" or auth.get("access_token") != self.token:
            await socket.send_json({"type": "auth_invalid", "message": "Invalid access token"})
            await socket.close()
            return socket
        await socket.send_json({"type": "auth_ok", "ha_version": "2025.4.4"})
        self.websocket_logins += 1
        if self.close_after_login:
            await socket.close()
            return socket
        self._sockets.add(socket)
        try:
            async for message in socket:
                if message.type == web.WSMsgType.TEXT:
                    await socket.send_json(self._command(json.loads(message.data)))
        finally:
            self._sockets.discard(socket)
        return socket

    def _command(self, message: dict[str, Any]) -> dict[str, Any]:
        """Answer a websocket command: recorder/import_statistics, validated as Core does."""
        ident = message.get("id")
        if message.get("type") != "recorder/import_statistics":
            return _ws_error(ident, "unknown_command", "Unknown command.")
        metadata, rows = message.get("metadata", {}), message.get("stats", [])
        allowed = {
            "has_mean",
            "has_sum",
            "name",
            "source",
            "statistic_id",
            "unit_of_measurement",
        } | ({"mean_type", "unit_class"} if self.takes_mean_type else set())
        if set(metadata) - allowed:
            extra = ", ".join(sorted(set(metadata) - allowed))
            return _ws_error(ident, "invalid_format", f"extra keys not allowed: {extra}")
        ident_text = str(metadata.get("statistic_id", ""))
        domain, _, _ = ident_text.partition(":")
        if metadata.get("source") != domain:
            return _ws_error(ident, "home_assistant_error", "Invalid source")
        stored = self.statistics.setdefault(ident_text, {})
        for row in rows:
            start = datetime.fromisoformat(row["start"])
            if start.tzinfo is None or start.minute or start.second:
                return _ws_error(ident, "home_assistant_error", "Invalid timestamp")
            stored[start.astimezone(UTC).isoformat()] = dict(row)
        self.statistics_metadata[ident_text] = dict(metadata)
        return {"id": ident, "type": "result", "success": True, "result": None}

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _api_root(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=502, text="Bad Gateway")
        if not self._authorized(request):
            return web.json_response({"message": "401: Unauthorized"}, status=401)
        return web.json_response({"message": "API running."})

    async def _config(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "401: Unauthorized"}, status=401)
        return web.json_response({"time_zone": self.time_zone, "unit_system": {}})

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Note every request's method and raw path, whatever it asks for."""
        self.requests.append((request.method, request.raw_path))
        return await handler(request)

    async def _mqtt_service(self, request: web.Request) -> web.Response:
        """Answer as the Supervisor's services API does (it sits beside Core here)."""
        if not self._authorized(request):
            return web.json_response({"result": "error", "message": "Unauthorized"}, status=401)
        if self.mqtt_service is None:
            return web.json_response(
                {"result": "error", "message": "Service not enabled"}, status=400
            )
        return web.json_response({"result": "ok", "data": self.mqtt_service})

    async def _delete_state(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "401: Unauthorized"}, status=401)
        if self.states.pop(request.match_info["entity_id"], None) is None:
            return web.json_response({"message": "Entity not found."}, status=404)
        return web.json_response({"message": "Entity removed."})

    async def _get_state(self, request: web.Request) -> web.Response:
        entity_id = request.match_info["entity_id"]
        self.fetched.append(entity_id)
        if self.down:
            return web.Response(status=502, text="Bad Gateway")
        if not self._authorized(request):
            return web.json_response({"message": "401: Unauthorized"}, status=401)
        if entity_id not in self.states:
            return web.json_response({"message": "Entity not found."}, status=404)
        return web.json_response(self.states[entity_id])

    async def _post_state(self, request: web.Request) -> web.Response:
        entity_id = request.match_info["entity_id"]
        raw = await request.text()
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response({"message": "Invalid JSON specified."}, status=400)
        self.posted.append(Posted(entity_id, request.headers.get("Authorization"), body))
        if self.status_override is not None or self.down:
            return web.Response(status=self.status_override or 502, text="Bad Gateway")
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


def _ws_error(ident: object, code: str, message: str) -> dict[str, Any]:
    return {
        "id": ident,
        "type": "result",
        "success": False,
        "error": {"code": code, "message": message},
    }
