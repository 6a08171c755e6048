"""Where the MQTT broker is: the 'mqtt_url' option, or the Supervisor's MQTT service.

The Mosquitto broker add-on offers its address and a generated account to every add-on that
declares `services: [mqtt:want]`: `GET http://supervisor/services/mqtt` with the Supervisor
token answers 200 with them, or 400 "Service not enabled" when no broker add-on provides it.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from aiohttp import ClientError

if TYPE_CHECKING:
    from aiohttp import ClientSession

DEFAULT_SUPERVISOR_URL = "http://supervisor"
PLAIN_PORT = 1883
TLS_PORT = 8883
_TIMEOUT = 10.0


@dataclass(frozen=True, kw_only=True)
class Broker:
    """An MQTT broker, its account, and where the add-on learnt of it (for the log)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    source: str

    @property
    def address(self) -> str:
        """Return host and port, for messages (never the account)."""
        return f"{self.host}:{self.port}"


def broker_from_url(url: str) -> Broker:
    """Read `mqtt://user:password@host:port` (`mqtts://` for TLS); raise ValueError if unfit."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        msg = "is not an mqtt:// URL (the port or the address cannot be read)"
        raise ValueError(msg) from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        msg = "must look like mqtt://user:password@host:1883 (or mqtts:// for TLS)"
        raise ValueError(msg)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        msg = "must not have a path, a query or a fragment after host:port"
        raise ValueError(msg)
    tls = parts.scheme == "mqtts"
    return Broker(
        host=parts.hostname,
        port=port or (TLS_PORT if tls else PLAIN_PORT),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
        source="the 'mqtt_url' option",
    )


async def supervisor_broker(
    session: ClientSession, supervisor_url: str, token: str
) -> tuple[Broker | None, str]:
    """Ask the Supervisor for its MQTT service; return the broker, or None and the reason."""
    url = f"{supervisor_url.rstrip('/')}/services/mqtt"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with asyncio.timeout(_TIMEOUT):
            response = await session.get(url, headers=headers, allow_redirects=False)
            status = response.status
            answer = await response.json(content_type=None) if status == 200 else None  # noqa: PLR2004
    except (TimeoutError, ClientError, socket.gaierror, ValueError) as err:
        return None, f"the Supervisor could not be asked for an MQTT broker ({type(err).__name__})"
    if status == 400:  # noqa: PLR2004
        return None, "the Supervisor has no MQTT service (no broker add-on such as Mosquitto)"
    if status == 403:  # noqa: PLR2004
        return None, "the Supervisor refused the MQTT service to this add-on"
    data = answer.get("data") if isinstance(answer, dict) else None
    host = data.get("host") if isinstance(data, dict) else None
    port = data.get("port") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(host, str) or not isinstance(port, int):
        return None, f"the Supervisor's MQTT service answered HTTP {status} without a broker"
    username, password = data.get("username"), data.get("password")
    provider = data.get("addon") or data.get("app") or "a broker add-on"
    broker = Broker(
        host=host,
        port=port,
        username=username if isinstance(username, str) else None,
        password=password if isinstance(password, str) else None,
        tls=data.get("ssl") is True,
        source=f"the Supervisor's MQTT service ({provider})",
    )
    return broker, ""
