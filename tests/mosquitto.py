"""A real Mosquitto broker on a loopback port, for the MQTT tests (Debian's `mosquitto`)."""

from __future__ import annotations

import asyncio
import getpass
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

BINARY = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PASSWORD_TOOL = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
START_TIMEOUT = 10.0


def free_port() -> int:
    """Return a TCP port on loopback that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def available() -> bool:
    """Tell whether the broker can be started here."""
    return Path(BINARY).exists()


@dataclass
class Mosquitto:
    """One broker process; stop and start it again on the same port to test reconnections."""

    folder: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] = field(default_factory=dict)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the broker as the 'mqtt_url' option names it (without an account)."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        config = self.folder / "mosquitto.conf"
        lines = [
            # Started as root, mosquitto would become user "mosquitto", who cannot read the
            # test's folders: it stays who started it.
            f"user {getpass.getuser()}",
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            "log_dest stdout",
            "log_type error",
        ]
        if self.users:
            passwords = self.folder / "passwords"
            passwords.write_text("", encoding="utf-8")
            for user, password in self.users.items():
                subprocess.run(  # noqa: S603 - Debian's tool with the test's own values
                    [PASSWORD_TOOL, "-b", str(passwords), user, password], check=True
                )
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with (self.folder / "mosquitto.log").open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - the broker, with our own config
                [BINARY, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise
                time.sleep(0.05)
            else:
                return

    def stop(self) -> None:
        """Stop the broker (its retained messages go: persistence is off)."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.wait(5)


@dataclass
class Listener:
    """A test's own MQTT client: keeps every retained and live message it sees."""

    broker: Mosquitto
    retained: dict[str, bytes] = field(default_factory=dict)
    seen: list[tuple[str, bytes, bool]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, *topics: str) -> None:
        """Subscribe to `topics` (default: everything) in the background."""
        self._task = asyncio.create_task(self._listen(topics or ("#",)))
        await asyncio.wait_for(self._ready.wait(), 5)

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait_for(self, topic: str, *, timeout: float = 10.0) -> bytes:  # noqa: ASYNC109
        """Wait until a retained or live message on `topic` is seen; return its payload."""
        async with asyncio.timeout(timeout):
            while topic not in self.retained:  # noqa: ASYNC110 - filled by the listening task
                await asyncio.sleep(0.02)
        return self.retained[topic]

    async def _listen(self, topics: tuple[str, ...]) -> None:
        async with aiomqtt.Client("127.0.0.1", self.broker.port, identifier=None) as client:
            for topic in topics:
                await client.subscribe(topic)
            self._ready.set()
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                topic = str(message.topic)
                self.seen.append((topic, payload, message.retain))
                if payload:
                    self.retained[topic] = payload
                else:
                    self.retained.pop(topic, None)
