"""A real Home Assistant Core for end-to-end tests: installed once, started headless on loopback.

The venv lives in a cache folder outside the repository (`$SUNGROW_E2E_CACHE`, default
`~/.cache/sungrow-addon-e2e`), keyed by the Python and the pinned versions; a lock file keeps two
processes from installing at once and a marker file says the install finished. Each `start()`
gets a fresh config folder in a temporary directory (onboarding pending), and a long-lived token
is made through the onboarding flow, the REST API and the websocket API, without a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote

import aiohttp

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

_LOGGER = logging.getLogger(__name__)

HA_VERSION = "2025.4.4"
# The packages Core would pip-install at its first start (frontend, TOTP MFA): pre-installed, so
# that `--skip-pip` starts offline.
REQUIREMENTS = (
    f"homeassistant=={HA_VERSION}",
    "home-assistant-frontend==20250411.0",
    "pyotp==2.8.0",
    "PyQRCode==1.2.1",
    "paho-mqtt==2.1.0",  # the MQTT integration's requirement
)
UV_REQUIREMENT = "uv==0.6.10"  # the uv that homeassistant 2025.4.4 itself requires
MIN_PYTHON = (3, 13, 0)  # homeassistant 2025.4.4: Requires-Python >=3.13.0
INSTALL_TIMEOUT = 1800.0
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)
USERNAME = "e2e"
PASSWORD = "e2e-password-not-secret-1"
LOG_NAME = "hass-console.log"

CONFIGURATION_YAML = """\
homeassistant:
  name: Sungrow e2e
  latitude: 52.52
  longitude: 13.40
  elevation: 34
  unit_system: metric
  time_zone: Europe/Berlin
  currency: EUR
  country: DE
  language: en
http:
  server_host: 127.0.0.1
  server_port: {port}
  ip_ban_enabled: false
api:
recorder:
  commit_interval: 1
history:
energy:
logger:
  default: info
"""


class CoreError(Exception):
    """Core could not be installed, started, stopped or asked."""


def _python_version(python: Path) -> tuple[int, int, int] | None:
    """Return the version of a Python interpreter, None when it does not run."""
    try:
        result = subprocess.run(  # noqa: S603 - an interpreter found on this machine
            [str(python), "-c", "import sys; print(*sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    major, minor, micro = (int(part) for part in result.stdout.split())
    return major, minor, micro


def _pyenv_root() -> Path:
    """Return pyenv's root: `pyenv root`, else $PYENV_ROOT, else ~/.pyenv."""
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            result = subprocess.run(  # noqa: S603 - pyenv from PATH
                [pyenv, "root"], capture_output=True, text=True, timeout=30, check=False
            )
            if result.returncode == 0 and result.stdout.strip():
                return Path(result.stdout.strip())
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def find_python() -> Path | None:
    """Return a Python 3.13 that can run Core: pyenv's newest 3.13.x, else python3.13 on PATH."""
    candidates = sorted(
        _pyenv_root().glob("versions/3.13.*/bin/python3"),
        key=lambda path: [int(p) if p.isdigit() else -1 for p in path.parts[-3].split(".")],
        reverse=True,
    )
    on_path = shutil.which("python3.13")
    if on_path is not None:
        candidates.append(Path(on_path))
    for python in candidates:
        version = _python_version(python)
        if version is not None and version >= MIN_PYTHON and version[:2] == (3, 13):
            return python
    return None


def cache_dir() -> Path:
    """Return the folder that keeps the installed Core between runs."""
    configured = os.environ.get("SUNGROW_E2E_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "sungrow-addon-e2e"


def free_port() -> int:
    """Return a TCP port on loopback that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int) -> str:
    """Return the last lines of a text file, or a note that it does not exist."""
    if not path.exists():
        return f"({path} does not exist)"
    with path.open(encoding="utf-8", errors="replace") as file:
        return "".join(deque(file, maxlen=lines))


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on a file (blocks while another process holds it)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class RealCore:
    """One Home Assistant Core process on loopback, with a long-lived token of its owner."""

    def __init__(self, python: Path, *, cache: Path | None = None) -> None:
        """Use `python` (3.13) for the venv, kept in `cache` (default: `cache_dir()`)."""
        self.python = python
        version = _python_version(python)
        if version is None:
            raise CoreError(f"{python} does not run")
        key = hashlib.sha256(
            "\n".join([".".join(map(str, version)), UV_REQUIREMENT, *REQUIREMENTS]).encode()
        ).hexdigest()[:12]
        self.install_dir = (
            cache or cache_dir()
        ) / f"core-{HA_VERSION}-py{version[0]}{version[1]}-{key}"
        self.venv = self.install_dir / "venv"
        self.port = free_port()
        self.config_dir: Path | None = None
        self.start_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._token: str | None = None

    def __repr__(self) -> str:
        """Name the port and the config folder (never the token)."""
        return f"RealCore(port={self.port}, config_dir={self.config_dir})"

    @property
    def base_url(self) -> str:
        """Return Core's HTTP root."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """Return Core's REST API, as the add-on's HA_API_URL."""
        return f"{self.base_url}/api"

    @property
    def token(self) -> str:
        """Return the owner's long-lived access token."""
        if self._token is None:
            raise CoreError("Core has not been started: no token yet")
        return self._token

    @property
    def log_path(self) -> Path | None:
        """Return the file that receives Core's stdout and stderr."""
        return None if self.config_dir is None else self.config_dir / LOG_NAME

    def log_tail(self, lines: int = 80) -> str:
        """Return the end of Core's console log."""
        if self.log_path is None:
            return "(Core has not been started)"
        return f"--- last {lines} lines of {self.log_path} ---\n{_tail(self.log_path, lines)}"

    # ------------------------------------------------------------------ install

    @property
    def installed(self) -> bool:
        """Tell whether a complete venv is in the cache."""
        return (self.install_dir / "installed").exists()

    def install(self) -> float:
        """Create the venv once (uv, byte-compiled); return the seconds spent (0 when cached)."""
        if self.installed:
            return 0.0
        started = time.monotonic()
        with _locked(self.install_dir.parent / f"{self.install_dir.name}.lock"):
            if self.installed:  # another process finished it while we waited
                return 0.0
            shutil.rmtree(self.install_dir, ignore_errors=True)  # a half-done earlier attempt
            self.install_dir.mkdir(parents=True)
            log = self.install_dir / "install.log"
            python = self.venv / "bin" / "python"
            # uv does not byte-compile by default, and PYTHONDONTWRITEBYTECODE may be set: without
            # the .pyc files every start of Core takes three times as long.
            steps = [
                [str(self.python), "-m", "venv", str(self.venv)],
                [str(python), "-m", "pip", "install", "--quiet", UV_REQUIREMENT],
                [
                    str(self.venv / "bin" / "uv"),
                    "pip",
                    "install",
                    "--python",
                    str(python),
                    "--compile-bytecode",
                    *REQUIREMENTS,
                ],
            ]
            env = {**os.environ, "UV_CACHE_DIR": str(self.install_dir.parent / "uv-cache")}
            env.pop("VIRTUAL_ENV", None)
            for step in steps:
                with log.open("a", encoding="utf-8") as out:
                    out.write(f"$ {' '.join(step)}\n")
                    out.flush()
                    try:
                        result = subprocess.run(  # noqa: S603 - our own fixed command lines
                            step,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            env=env,
                            timeout=INSTALL_TIMEOUT,
                            check=False,
                        )
                    except subprocess.TimeoutExpired as err:
                        msg = f"Installing Core timed out: {' '.join(step)}\n{_tail(log, 40)}"
                        raise CoreError(msg) from err
                if result.returncode != 0:
                    msg = (
                        f"Installing Core failed (exit {result.returncode}): {' '.join(step)}\n"
                        f"{_tail(log, 40)}"
                    )
                    raise CoreError(msg)
            (self.install_dir / "installed").write_text(
                "\n".join([UV_REQUIREMENT, *REQUIREMENTS]) + "\n", encoding="utf-8"
            )
        seconds = time.monotonic() - started
        _LOGGER.info("Installed Home Assistant %s in %.1f s", HA_VERSION, seconds)
        return seconds

    # --------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start Core (a fresh config folder the first time); make the token on the first start."""
        if not self.installed:
            raise CoreError(f"Core is not installed in {self.venv}: call install() first")
        if self._process is not None:
            raise CoreError("Core is already running")
        if self.config_dir is None:
            self.config_dir = Path(tempfile.mkdtemp(prefix="sungrow-e2e-core-"))
            (self.config_dir / "configuration.yaml").write_text(
                CONFIGURATION_YAML.format(port=self.port), encoding="utf-8"
            )
        assert self.log_path is not None
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603, ASYNC220 - returns at once
                [
                    str(self.venv / "bin" / "hass"),
                    "--config",
                    str(self.config_dir),
                    "--skip-pip",
                    "--log-no-color",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C of the test run is for pytest, not for Core
            )
        try:
            await self._wait_for_api(started)
            if self._token is None:
                self._token = await self._onboard()
        except BaseException:
            await self.stop()
            raise
        _LOGGER.info("Core answers on %s after %.1f s", self.base_url, self.start_seconds)

    async def stop(self) -> None:
        """Stop Core with SIGTERM and wait for it (SIGKILL after STOP_TIMEOUT)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired as err:
            process.kill()
            await asyncio.to_thread(process.wait)
            msg = f"Core did not stop within {STOP_TIMEOUT:.0f} s\n{self.log_tail()}"
            raise CoreError(msg) from err

    async def restart(self) -> None:
        """Stop Core and start it again on the same config folder and port (the token stays)."""
        await self.stop()
        await self.start()

    def remove(self) -> None:
        """Delete the config folder (Core must be stopped)."""
        if self._process is not None:
            raise CoreError("Core is still running")
        if self.config_dir is not None:
            shutil.rmtree(self.config_dir, ignore_errors=True)
            self.config_dir = None

    async def _wait_for_api(self, started: float) -> None:
        """Wait until `GET /api/` answers at all (401 without a token); fail if Core exits."""
        assert self._process is not None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
            while True:
                if self._process.poll() is not None:
                    msg = f"Core exited with {self._process.returncode}\n{self.log_tail()}"
                    raise CoreError(msg)
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{self.api_url}/") as response:
                        if response.status in {200, 401}:
                            self.start_seconds = time.monotonic() - started
                            return
                if time.monotonic() - started > START_TIMEOUT:
                    msg = f"Core did not answer within {START_TIMEOUT:.0f} s\n{self.log_tail()}"
                    raise CoreError(msg)
                await asyncio.sleep(0.2)

    # ---------------------------------------------------------------- the token

    async def _onboard(self) -> str:
        """Create the owner through onboarding and return a long-lived token of theirs."""
        client_id = f"{self.base_url}/"
        async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session:
            user = await self._post(
                session,
                "/api/onboarding/users",
                json={
                    "client_id": client_id,
                    "name": USERNAME,
                    "username": USERNAME,
                    "password": PASSWORD,
                    "language": "en",
                },
            )
            tokens = await self._post(
                session,
                "/auth/token",
                data={
                    "grant_type": "authorization_code",
                    "code": user["auth_code"],
                    "client_id": client_id,
                },
            )
            access = tokens["access_token"]
            # Not `core_config`: it would create the met/radio_browser/... entries, which want
            # the internet and extra packages.
            await self._post(session, "/api/onboarding/analytics", json={}, token=access)
            await self._post(
                session,
                "/api/onboarding/integration",
                json={"client_id": client_id, "redirect_uri": f"{client_id}?auth_callback=1"},
                token=access,
            )
            async with session.ws_connect(f"{self.api_url}/websocket") as websocket:
                await self._authenticate(websocket, access)
                result = await self._command(
                    websocket,
                    "auth/long_lived_access_token",
                    {"client_name": "sungrow-e2e", "lifespan": 3650},
                )
        if not isinstance(result, str):
            raise CoreError("auth/long_lived_access_token did not return a token")
        return result

    async def _post(
        self,
        session: aiohttp.ClientSession,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        token: str | None = None,
    ) -> Any:
        """POST to Core and return the JSON answer; raise CoreError unless HTTP 200."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with session.post(
            f"{self.base_url}{path}", json=json, data=data, headers=headers
        ) as response:
            text = await response.text()
            if response.status != 200:
                raise CoreError(f"POST {path}: HTTP {response.status}: {text[:200]}")
            return await response.json() if text else None

    # ------------------------------------------------------------------- asking

    async def setup_mqtt(self, port: int) -> None:
        """Add the MQTT integration against a broker on loopback, through its config flow."""
        async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session:
            flow = await self._post(
                session,
                "/api/config/config_entries/flow",
                json={"handler": "mqtt"},
                token=self.token,
            )
            if flow.get("step_id") != "broker":
                raise CoreError(f"The MQTT config flow asked for {flow.get('step_id')!r}")
            entry = await self._post(
                session,
                f"/api/config/config_entries/flow/{flow['flow_id']}",
                json={"broker": "127.0.0.1", "port": port},
                token=self.token,
            )
        if entry.get("type") != "create_entry":
            raise CoreError(f"The MQTT config flow ended with {entry}")

    async def get_state(self, entity_id: str) -> dict[str, Any] | None:
        """Return the state object of an entity (GET /api/states/...), None when there is none."""
        state: dict[str, Any] | None = await self._api("GET", f"/states/{entity_id}")
        return state

    async def history(self, entity_id: str, since: datetime) -> list[dict[str, Any]]:
        """Return the recorded states of an entity since `since` (GET /api/history/period)."""
        path = f"/history/period/{quote(since.isoformat())}?filter_entity_id={entity_id}"
        answer: list[list[dict[str, Any]]] | None = await self._api("GET", path)
        return answer[0] if answer else []

    async def states(self) -> list[dict[str, Any]]:
        """Return every state Core has (GET /api/states)."""
        states: list[dict[str, Any]] = await self._api("GET", "/states")
        return states

    async def remove_state(self, entity_id: str) -> bool:
        """Remove a state from Core (DELETE /api/states/...); return False when there was none."""
        return await self._api("DELETE", f"/states/{entity_id}") is not None

    async def _api(self, method: str, path: str) -> Any:
        """Call the REST API with the token; return the JSON answer, None for HTTP 404."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session,
            session.request(method, f"{self.api_url}{path}", headers=headers) as response,
        ):
            if response.status == 404:
                return None
            if response.status != 200:
                text = await response.text()
                raise CoreError(f"{method} /api{path}: HTTP {response.status}: {text[:200]}")
            return await response.json()

    async def ws_command(self, command: str, **fields: Any) -> Any:
        """Send one websocket command and return its result; raise CoreError when it fails."""
        async with (
            aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session,
            session.ws_connect(f"{self.api_url}/websocket") as websocket,
        ):
            await self._authenticate(websocket, self.token)
            return await self._command(websocket, command, fields)

    @staticmethod
    async def _authenticate(websocket: aiohttp.ClientWebSocketResponse, token: str) -> None:
        """Answer the websocket's auth_required with the token."""
        greeting = await websocket.receive_json()
        if greeting.get("type") != "auth_required":
            raise CoreError(f"The websocket greeted with {greeting.get('type')!r}")
        await websocket.send_json({"type": "auth", "access_token": token})
        answer = await websocket.receive_json()
        if answer.get("type") != "auth_ok":
            raise CoreError(f"The websocket refused the token: {answer.get('message')!r}")

    @staticmethod
    async def _command(
        websocket: aiohttp.ClientWebSocketResponse, command: str, fields: dict[str, Any]
    ) -> Any:
        """Send command 1 on an authenticated websocket and return its result."""
        await websocket.send_json({"id": 1, "type": command, **fields})
        while True:
            message = await websocket.receive_json()
            if message.get("id") == 1 and message.get("type") == "result":
                break
        if not message.get("success"):
            raise CoreError(f"{command} failed: {message.get('error')}")
        return message.get("result")

    # ------------------------------------------------------------------ context

    async def __aenter__(self) -> Self:
        """Start Core."""
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Stop Core and delete its config folder."""
        await self.stop()
        self.remove()


def energy_prefs(plant: str) -> dict[str, Any]:
    """Return Energy dashboard preferences with a plant's sensors, as DOCS.md's table names them.

    `plant` is the plant's entity id prefix, such as `sensor.sungrow_home_`.
    """
    price = {"entity_energy_price": None, "number_energy_price": None}
    return {
        "energy_sources": [
            {
                "type": "grid",
                "flow_from": [
                    {"stat_energy_from": f"{plant}total_energy_purchased", "stat_cost": None}
                    | price
                ],
                "flow_to": [
                    {"stat_energy_to": f"{plant}total_feed_in_energy", "stat_compensation": None}
                    | price
                ],
                "cost_adjustment_day": 0,
            },
            {
                "type": "solar",
                "stat_energy_from": f"{plant}total_yield",
                "config_entry_solar_forecast": None,
            },
            {
                "type": "battery",
                "stat_energy_from": f"{plant}total_battery_discharge",
                "stat_energy_to": f"{plant}total_battery_charge",
            },
        ],
        "device_consumption": [],
    }
