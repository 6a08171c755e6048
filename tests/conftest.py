"""Shared fixtures: the simulator, a fake Home Assistant, the program as a subprocess."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest.mock import Mock

import aiohttp
import aioresponses.core as aioresponses_core
import pytest
from aiohttp import web
from aioresponses import aioresponses
from const import APPKEY, HA_TOKEN, PASSWORD, PS_ID, SECRET_KEY, USER_ID, USERNAME
from fake_homeassistant import FakeHomeAssistant
from mosquitto import Listener, Mosquitto
from mosquitto import available as mosquitto_available

from sungrow.cloud.auth import AccountLogin, OAuth2
from sungrow.cloud.client import ISolarCloud
from sungrow.cloud.regions import Server
from sungrow.cloud.transport import Gateway
from sungrow.poller import Poller
from sungrow.publish.rest import HomeAssistant
from sungrow.simulator import CloudSimulator, SimAccount, SimApp, hybrid_plant
from sungrow.states.guard import CounterGuard
from sungrow.states.naming import EntityNames
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from types import ModuleType

ADDON_DIR = Path(__file__).parent.parent / "sungrow_addon"
REDIRECT = "https://example.com/callback"
FIXTURES = Path(__file__).parent / "fixtures"
# Noon in summer in the plant's zone (Europe/Berlin): the PV curve is well up.
NOON = datetime(2026, 6, 21, 10, 2, tzinfo=UTC)


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp application on loopback; yield its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def load_fixture(name: str) -> Any:
    """Return a JSON fixture named after the endpoint and the variant."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def account_cloud(
    session: aiohttp.ClientSession,
    url: str,
    *,
    password: str = PASSWORD,
    token: str | None = None,
    on_token: Callable[[str | None], None] | None = None,
    request_timeout: float = 20.0,
    retry_delay: float = 0.001,
) -> ISolarCloud:
    """Return a client that logs in with the test application and account (fast retries)."""
    return ISolarCloud(
        gateway=Gateway(
            session=session,
            url=url,
            appkey=APPKEY,
            secret_key=SECRET_KEY,
            request_timeout=request_timeout,
            retry_delay=retry_delay,
        ),
        auth=AccountLogin(username=USERNAME, password=password, token=token, on_token=on_token),
    )


def oauth_cloud(
    session: aiohttp.ClientSession,
    url: str,
    simulator: CloudSimulator,
    clock: Callable[[], float] = time.time,
) -> ISolarCloud:
    """Turn the test application into an OAuth2 one; return a client it just authorised."""
    simulator.apps[0] = SimApp(
        appkey=APPKEY, access_key=SECRET_KEY, oauth=True, redirect_uri=REDIRECT
    )
    return ISolarCloud(
        gateway=Gateway(session=session, url=url, appkey=APPKEY, secret_key=SECRET_KEY),
        auth=OAuth2(
            server=Server.EUROPE,
            authorization_code=simulator.authorize(USERNAME, APPKEY),
            redirect_uri=REDIRECT,
            clock=clock,
        ),
    )


class _ClientResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 predates aiohttp 3.14's required `stream_writer` argument."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", Mock(output_size=0))
        super().__init__(*args, **kwargs)


@pytest.fixture
def responses(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    """Intercept every aiohttp request of the test."""
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _ClientResponse)
    with aioresponses() as mocked:
        yield mocked


class Clock:
    """The simulator's time, set by the test."""

    def __init__(self, now: datetime) -> None:
        """Start at `now` (aware)."""
        self.now = now

    def __call__(self) -> datetime:
        """Return the current simulated time."""
        return self.now


def libfaketime() -> Path | None:
    """Return Debian's libfaketime (the `faketime` package), if installed."""
    return next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)


def living_at(clock: Clock, moment: datetime) -> dict[str, str]:
    """Set the cloud's clock to `moment`; return the environment that sets the program's.

    The program's wall clock starts at `moment` and runs on (libfaketime); its monotonic clock
    is left alone. Skips the test where libfaketime is not installed.
    """
    library = libfaketime()
    if library is None:
        pytest.skip("no libfaketime here: ./scripts/test installs it (apt-get install faketime)")
    clock.now = moment
    return {
        "LD_PRELOAD": str(library),
        "FAKETIME": f"{round(moment.timestamp() - time.time()):+d}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def quiet_moment(simulator: CloudSimulator) -> datetime:
    """Return yesterday 12:34:20, plant time: far from a midnight and from a full hour."""
    zone = simulator.plants[0].timezone
    yesterday = datetime.now(zone) - timedelta(days=1)
    return yesterday.replace(hour=12, minute=34, second=20, microsecond=0).astimezone(UTC)


@pytest.fixture
def clock() -> Clock:
    """A clock frozen at summer noon."""
    return Clock(NOON)


class WallClock:
    """The poller's wall clock (epoch seconds), moved by the test."""

    def __init__(self, start: datetime) -> None:
        """Start at `start`."""
        self.now = start.timestamp()

    def __call__(self) -> float:
        """Return the current time."""
        return self.now


@pytest.fixture
def wall(clock: Clock) -> WallClock:
    """The poller's clock, starting with the simulator's."""
    return WallClock(clock.now)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The one HTTP session both clients share."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def poller(
    session: aiohttp.ClientSession, cloud_url: str, ha_url: str, tmp_path: Path, wall: WallClock
) -> Poller:
    """A poller against the simulator and the fake Home Assistant, on the test's clock."""
    return make_poller(session, cloud_url, ha_url, tmp_path, wall)


def make_poller(
    session: aiohttp.ClientSession,
    cloud_url: str,
    ha_url: str,
    tmp_path: Path,
    wall: WallClock,
    **settings: Any,
) -> Poller:
    """Wire a poller like the service does, restoring names and counters from tmp_path."""
    counters = JsonFile(tmp_path / "counters.json")
    names = JsonFile(tmp_path / "names.json")
    settings.setdefault("publisher", HomeAssistant(session=session, token=HA_TOKEN, api_url=ha_url))
    return Poller(
        cloud=account_cloud(session, cloud_url),
        names=EntityNames.from_dict(names, names.load() or {}),
        scan_interval=300,
        guard=CounterGuard.from_dict(counters, counters.load() or {}),
        clock=wall,
        **settings,
    )


@pytest.fixture
def simulator(clock: Clock) -> CloudSimulator:
    """A gateway with the test application, the test account and one hybrid plant."""
    plant = hybrid_plant(PS_ID, "Home")
    return CloudSimulator(
        plants=[plant],
        apps=[SimApp(appkey=APPKEY, access_key=SECRET_KEY)],
        accounts=[
            SimAccount(username=USERNAME, password=PASSWORD, user_id=USER_ID, ps_ids=(PS_ID,))
        ],
        clock=clock,
    )


@pytest.fixture
async def cloud_url(simulator: CloudSimulator) -> AsyncIterator[str]:
    """Serve the simulator on loopback."""
    async with simulator.serve() as url:
        yield url


@pytest.fixture
def fake_ha() -> FakeHomeAssistant:
    """A fake Home Assistant that expects the test token."""
    return FakeHomeAssistant(token=HA_TOKEN)


@pytest.fixture
async def ha_url(fake_ha: FakeHomeAssistant) -> AsyncIterator[str]:
    """Serve the fake Home Assistant on loopback."""
    async with fake_ha.serve() as url:
        yield url


@pytest.fixture
def options(cloud_url: str) -> dict[str, Any]:
    """Valid options pointing at the simulator (no history: its tests ask for it)."""
    return {
        "appkey": APPKEY,
        "secret_key": SECRET_KEY,
        "username": USERNAME,
        "password": PASSWORD,
        "server": "europe",
        "server_url": cloud_url,
        "scan_interval": 300,
        "log_level": "debug",
        "history_days": 0,
    }


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto broker on a free loopback port (Debian's package, as CI installs it)."""
    if not mosquitto_available():
        pytest.skip("no mosquitto here: ./scripts/test installs it (apt-get install mosquitto)")
    folder = tmp_path / "mosquitto"
    folder.mkdir()
    broker = Mosquitto(folder)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def listener(mosquitto: Mosquitto) -> AsyncIterator[Listener]:
    """Every message on the test broker, as a client of its own sees it."""
    seen = Listener(mosquitto)
    await seen.start()
    yield seen
    await seen.stop()


@pytest.fixture
def oauth_options(options: dict[str, Any], simulator: CloudSimulator) -> dict[str, Any]:
    """Options for an OAuth2 application: no account, a fresh code."""
    simulator.apps[0] = SimApp(
        appkey=APPKEY, access_key=SECRET_KEY, oauth=True, redirect_uri=REDIRECT
    )
    options = {k: v for k, v in options.items() if k not in ("username", "password")}
    return {
        **options,
        "authorization_code": simulator.authorize(USERNAME, APPKEY),
        "redirect_uri": REDIRECT,
        "application_id": "4711",
    }


def error_lines(stderr: str) -> list[str]:
    """Return the ERROR lines of the log."""
    return [line for line in stderr.splitlines() if " ERROR " in line]


@dataclass(frozen=True)
class Result:
    """How a run of the program ended."""

    returncode: int
    stdout: str
    stderr: str


RunAddon = Callable[..., Awaitable[Result]]


@pytest.fixture
def run_addon(tmp_path: Path, ha_url: str) -> RunAddon:
    """Run `python3 -m sungrow` in a subprocess, as the container does."""

    async def run(
        *args: str,
        options: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        seconds: float = 30,
    ) -> Result:
        options_file = tmp_path / "options.json"
        if options is not None:
            options_file.write_text(json.dumps(options), encoding="utf-8")
        process_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SUNGROW_", "HA_"))},
            "PYTHONPATH": str(ADDON_DIR),
            "SUNGROW_OPTIONS": str(options_file),
            "SUNGROW_DATA_DIR": str(tmp_path / "data"),
            "HA_API_URL": ha_url,
            "SUPERVISOR_URL": ha_url.removesuffix("/api"),
            "SUPERVISOR_TOKEN": HA_TOKEN,
            **(env or {}),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sungrow",
            *args,
            env={k: v for k, v in process_env.items() if v is not None},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), seconds)
        assert process.returncode is not None
        return Result(process.returncode, stdout.decode(), stderr.decode())

    return run


# Run with this in the environment, a program lists every module it imports on stderr.
LIST_IMPORTS = {"PYTHONPROFILEIMPORTTIME": "1"}


def imported_modules(stderr: str) -> set[str]:
    """Return the modules a program run with LIST_IMPORTS imported."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and not line.endswith("| imported package")
    }


def imported_packages(stderr: str) -> set[str]:
    """Return the top-level packages a program run with LIST_IMPORTS imported."""
    return {module.split(".")[0] for module in imported_modules(stderr)}


async def until(condition: Callable[[], bool], seconds: float) -> float:
    """Wait until `condition` holds, at most `seconds`; return how long it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the fakes change state from this loop
            await asyncio.sleep(0.02)
    return loop.time() - start


async def start_service(
    tmp_path: Path, options: dict[str, Any], env: dict[str, str]
) -> asyncio.subprocess.Process:
    """Start the service (no --once) as the container does."""
    (tmp_path / "options.json").write_text(json.dumps(options), encoding="utf-8")
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sungrow",
        env={
            **os.environ,
            "PYTHONPATH": str(ADDON_DIR),
            "SUNGROW_OPTIONS": str(tmp_path / "options.json"),
            "SUNGROW_DATA_DIR": str(tmp_path / "data"),
            "SUPERVISOR_TOKEN": HA_TOKEN,
            "SUPERVISOR_URL": env.get("HA_API_URL", "http://127.0.0.1:9/api").removesuffix("/api"),
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop_service(process: asyncio.subprocess.Process) -> str:
    """Send SIGTERM; return the log after asserting a clean exit within 5 s."""
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 5)
    assert process.returncode == 0, stderr.decode()
    return stderr.decode()


def health_check(heartbeat: Path, *, seconds_later: float = 0.0) -> bool:
    """Run the add-on's HEALTHCHECK script on a heartbeat, as it would answer that much later.

    Time cannot be moved for a subprocess, so the promise is moved back instead (on a copy).
    """
    data_dir = heartbeat.parent
    if seconds_later and heartbeat.exists():
        data_dir = heartbeat.parent / f"later-{seconds_later:g}"
        data_dir.mkdir(exist_ok=True)
        promise = heartbeat.stat().st_mtime - seconds_later
        shifted = data_dir / heartbeat.name
        shifted.touch()
        os.utime(shifted, (promise, promise))
    checked = subprocess.run(  # noqa: S603 - our own script
        [str(ADDON_DIR / "healthcheck.sh")],
        env={"PATH": os.environ["PATH"], "SUNGROW_DATA_DIR": str(data_dir)},
        check=False,
        timeout=10,
    )
    return checked.returncode == 0


def dockerfile_healthcheck() -> str:
    """Return the Dockerfile's HEALTHCHECK instruction, its continued lines joined."""
    text = (ADDON_DIR / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    (line,) = (line for line in text.splitlines() if line.startswith("HEALTHCHECK"))
    return line


def load_script(name: str) -> ModuleType:
    """Import one of the repository's scripts/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(name, ADDON_DIR.parent / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
