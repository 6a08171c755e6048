"""Wiring: one HTTP session, the two clients, the stored state, the poller, the signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from aiohttp import ClientSession

from sungrow import __version__
from sungrow.backoff import CredentialBackoff
from sungrow.cloud.auth import AccountLogin, OAuth2, OAuthTokens
from sungrow.cloud.client import ISolarCloud
from sungrow.cloud.discovery import Discovery
from sungrow.cloud.tokens import OAuthStore, TokenStore, account_fingerprint
from sungrow.cloud.transport import Gateway
from sungrow.exceptions import (
    ISolarCloudAuthenticationError,
    OptionsError,
    StateFileError,
    SungrowAddonError,
)
from sungrow.health import HEARTBEAT_FILE, Heartbeat
from sungrow.history.keeper import HistoryKeeper
from sungrow.history.statistics import StatisticsImporter
from sungrow.poller import Poller
from sungrow.publish.broker import DEFAULT_SUPERVISOR_URL
from sungrow.publish.choice import Place, Publishing, choose
from sungrow.publish.rest import websocket_url
from sungrow.states.freshness import Freshness
from sungrow.states.guard import CounterGuard
from sungrow.states.naming import EntityNames
from sungrow.storage import DataFolder

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    from sungrow.controls.panel import ControlPanel
    from sungrow.logs import RedactingFormatter
    from sungrow.options import Options
    from sungrow.publish.model import Publisher

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

EXIT_OK = 0
EXIT_CYCLE_FAILED = 1
EXIT_BAD_CONFIGURATION = 2
EXIT_CREDENTIALS_REJECTED = 3
# How long --once waits for the MQTT broker before it gives up.
READY_TIMEOUT = 15


@dataclass(frozen=True, kw_only=True)
class Environment:
    """Where the add-on keeps its state and finds Home Assistant."""

    data_dir: Path
    api_url: str
    supervisor_token: str | None
    # What tells one saved version of the options from the next (None: no options file).
    options_version: str | None = None
    supervisor_url: str = DEFAULT_SUPERVISOR_URL


async def run(
    options: Options,
    environment: Environment,
    *,
    once: bool,
    formatter: RedactingFormatter,
    publisher_factory: Callable[[ClientSession], Publisher] | None = None,
) -> int:
    """Run one cycle (`once`) or the loop until SIGTERM; return the exit code."""
    _LOGGER.info(
        "Sungrow iSolarCloud add-on %s: gateway %s (%s%s), polling every %d s",
        __version__,
        options.gateway,
        "account login" if options.uses_account else "OAuth2",
        ", encrypted calls" if options.rsa_public_key else "",
        options.scan_interval,
    )
    folder = DataFolder(environment.data_dir)
    async with ClientSession() as session:
        if publisher_factory is not None:
            publishing = Publishing(publisher=publisher_factory(session), background=None)
        else:
            assert environment.supervisor_token is not None  # noqa: S101 - checked by main
            place = Place(
                api_url=environment.api_url,
                supervisor_url=environment.supervisor_url,
                token=environment.supervisor_token,
            )
            try:
                publishing = await choose(
                    options, place, session=session, folder=folder, formatter=formatter
                )
            except OptionsError as err:
                _LOGGER.error("%s", err)  # noqa: TRY400 - one line, no traceback
                return EXIT_BAD_CONFIGURATION
        poller = build_poller(
            options,
            environment,
            folder=folder,
            session=session,
            publisher=publishing.publisher,
            formatter=formatter,
        )
        if not options.uses_account and not _oauth_ready(poller, options):
            return EXIT_BAD_CONFIGURATION
        panel = _control_panel(options, poller, publishing.publisher, folder)
        keeper = (
            _history_keeper(options, environment, poller, folder, session)
            if publisher_factory is None
            else None
        )
        background = (
            asyncio.create_task(supervised("Publishing", publishing.background))
            if publishing.background is not None
            else None
        )
        controlling = (
            asyncio.create_task(supervised("Controls", panel.run))
            if panel is not None and not once
            else None
        )
        history = (
            asyncio.create_task(supervised("History", keeper.run))
            if keeper is not None and not once
            else None
        )
        try:
            if once:
                return await _run_once(poller, publishing, keeper)
            heartbeat = Heartbeat(environment.data_dir / HEARTBEAT_FILE)
            poller.expect_progress = heartbeat.expect_within
            try:
                await _run_forever(poller)
            finally:
                heartbeat.stop()
            return EXIT_OK
        finally:
            if publishing.close is not None:
                await publishing.close()
            for task in (background, controlling, history):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


def _control_panel(
    options: Options, poller: Poller, publisher: Publisher, folder: DataFolder
) -> ControlPanel | None:
    """Return the controls the options ask for: MQTT mode only (entities take commands)."""
    if not options.controls:
        return None
    # Loaded only when asked for, as the MQTT client is (publish/choice.py).
    from sungrow.cloud.control import DeviceSettings  # noqa: PLC0415
    from sungrow.controls.panel import ControlPanel  # noqa: PLC0415
    from sungrow.publish.mqtt import MqttPublisher  # noqa: PLC0415

    if not isinstance(publisher, MqttPublisher):
        _LOGGER.warning(
            "The 'controls' option needs the MQTT mode (the Mosquitto broker add-on, or "
            "'mqtt_url'): Home Assistant cannot send commands to REST sensors; no controls"
        )
        return None
    file = folder.file("controls.json")
    panel = ControlPanel.from_dict(
        DeviceSettings(cloud=poller.cloud),
        file,
        _load_state("forced modes' ends", file.load) or {},
        on_change=publisher.refresh,
    )
    publisher.controls = panel
    poller.controls = panel
    return panel


def _history_keeper(
    options: Options,
    environment: Environment,
    poller: Poller,
    folder: DataFolder,
    session: ClientSession,
) -> HistoryKeeper | None:
    """Return the keeper of the hourly statistics, fed by the polls ('history_days' > 0)."""
    if not options.history_days or environment.supervisor_token is None:
        return None
    file = folder.file("history.json")
    keeper = HistoryKeeper.from_dict(
        _load_state("history progress", file.load) or {},
        cloud=poller.cloud,
        importer=StatisticsImporter(
            session=session,
            url=websocket_url(environment.api_url),
            token=environment.supervisor_token,
        ),
        days=options.history_days,
        zone=lambda: poller.timezone,
        file=file,
    )
    poller.on_plant_reading = keeper.observe
    return keeper


def build_poller(  # noqa: PLR0913 - the wiring's one place that knows every piece
    options: Options,
    environment: Environment,
    *,
    folder: DataFolder,
    session: ClientSession,
    publisher: Publisher,
    formatter: RedactingFormatter,
) -> Poller:
    """Return the poller the options ask for, with the state kept in the data folder."""
    account = account_fingerprint(options.gateway, options.appkey, options.username or "")
    gateway = Gateway(
        session=session,
        url=options.gateway,
        appkey=options.appkey,
        secret_key=options.secret_key,
        public_key=_public_key(options.rsa_public_key) if options.rsa_public_key else None,
    )
    names_file = folder.file("names.json")
    counters_file = folder.file("counters.json")
    # Neither is worth an fsync: one caches what the cloud lists, the other only tells which
    # sensors to mark unavailable after a restart.
    discovery_file = folder.file("discovery.json", durable=False)
    freshness_file = folder.file("freshness.json", durable=False)
    backoff_file = folder.file("backoff.json")
    cached = _load_state("discovery", discovery_file.load) or {}
    # The plants and devices found before, if found for the same account and 'plants' option.
    found_for = {"account": account, "plants_option": list(options.plants)}

    def keep_discovery(found: Discovery) -> None:
        discovery_file.save({**found_for, **found.to_dict()})

    return Poller(
        cloud=ISolarCloud(gateway=gateway, auth=_auth(options, folder, account, formatter)),
        publisher=publisher,
        names=EntityNames.from_dict(names_file, _load_state("names", names_file.load) or {}),
        scan_interval=options.scan_interval,
        guard=CounterGuard.from_dict(
            counters_file, _load_state("counter memory", counters_file.load) or {}
        ),
        freshness=Freshness.from_dict(
            freshness_file,
            _load_state("sensor freshness", freshness_file.load) or {},
            scan_interval=options.scan_interval,
        ),
        backoff=CredentialBackoff.from_dict(
            backoff_file,
            _load_state("login pause", backoff_file.load) or {},
            options_version=environment.options_version,
        ),
        wanted_plants=options.plants,
        extra_points=options.extra_points_for,
        discovery=Discovery.from_dict(cached)
        if all(cached.get(key) == value for key, value in found_for.items())
        else None,
        on_discovery=keep_discovery,
    )


def _public_key(text: str) -> RSAPublicKey:
    # The encryption library is loaded only by applications that need it.
    from sungrow.cloud.crypto import load_public_key  # noqa: PLC0415

    return load_public_key(text)


def _auth(
    options: Options, folder: DataFolder, account: str, formatter: RedactingFormatter
) -> AccountLogin | OAuth2:
    """Return the authenticator the options ask for, with its stored tokens."""
    if options.uses_account:
        assert options.username is not None  # noqa: S101 - uses_account checks both
        assert options.password is not None  # noqa: S101
        tokens = TokenStore(folder.file("token.json"), account)
        stored = _load_state("token", tokens.load)
        formatter.add_secret(stored)

        def keep_token(token: str | None) -> None:
            formatter.add_secret(token)
            tokens.save(token)

        return AccountLogin(
            username=options.username,
            password=options.password,
            token=stored,
            on_token=keep_token,
        )
    store = OAuthStore(folder.file("oauth.json"), account)
    tokens_and_codes = _load_state("OAuth2 tokens", store.load)
    stored_tokens, used_codes = tokens_and_codes or (None, set())

    def hide(tokens: OAuthTokens | None) -> None:
        if tokens is not None:
            formatter.add_secret(tokens.access_token)
            formatter.add_secret(tokens.refresh_token)

    def keep_tokens(auth: OAuth2) -> None:
        hide(auth.tokens)
        store.save(auth)

    hide(stored_tokens)
    return OAuth2(
        server=options.server,
        authorization_code=options.authorization_code,
        redirect_uri=options.redirect_uri,
        application_id=options.application_id,
        tokens=stored_tokens,
        used_codes=used_codes,
        on_change=keep_tokens,
    )


def _oauth_ready(poller: Poller, options: Options) -> bool:
    """Say what to do when neither an account nor an OAuth2 authorization is configured."""
    auth = poller.cloud.auth
    if isinstance(auth, OAuth2) and auth.tokens is None and not options.authorization_code:
        _LOGGER.error(
            "Neither an iSolarCloud account nor an OAuth2 authorization is configured: set "
            "'username' and 'password' (for an application created with OAuth2 = No), or for "
            "an OAuth2 application %s",
            auth.how_to_authorize(),
        )
        return False
    return True


async def _run_once(poller: Poller, publishing: Publishing, keeper: HistoryKeeper | None) -> int:
    if poller.backoff.remaining(poller.clock()):
        _LOGGER.error("%s", poller.refused_before())
        return EXIT_CREDENTIALS_REJECTED
    if publishing.ready is not None:
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await publishing.ready()
        except TimeoutError:
            _LOGGER.error(  # noqa: TRY400 - one line, no traceback
                "The MQTT broker could not be reached within %d s", READY_TIMEOUT
            )
            return EXIT_CYCLE_FAILED
    try:
        report = await poller.run_once()
    except ISolarCloudAuthenticationError as err:
        _LOGGER.error("%s", err)  # noqa: TRY400 - one line, no traceback
        return EXIT_CREDENTIALS_REJECTED
    except SungrowAddonError as err:
        _LOGGER.error("%s", err)  # noqa: TRY400 - one line, no traceback
        return EXIT_CYCLE_FAILED
    _LOGGER.info(
        "Published %d sensors of %d plant(s) and %d device(s)",
        report.sensors,
        report.plants,
        report.devices,
    )
    if keeper is not None:
        try:
            days = await keeper.catch_up()
            hours = await keeper.import_live_hours()
        except SungrowAddonError as err:
            _LOGGER.warning("Importing the history failed (%s)", err)
        else:
            _LOGGER.info(
                "Imported the hourly energy of %d finished day(s) and %d hour(s) of today",
                days,
                hours,
            )
    return EXIT_OK


async def _run_forever(poller: Poller) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await poller.run(stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    _LOGGER.info("Stopped")


async def supervised(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    retry_first: float = 1.0,
    retry_max: float = 300.0,
) -> None:
    """Run a background task until it returns or is cancelled, restarting it after a crash.

    The first crash is logged with its traceback (it is a bug); the restarts back off.
    """
    loop = asyncio.get_running_loop()
    retry = retry_first
    while True:
        started = loop.time()
        try:
            await run()
        except Exception as err:  # noqa: BLE001 - a bug in a helper task must not end it
            if loop.time() - started > retry_max:
                retry = retry_first  # it had worked for a while: a new failure, not the same
            log = _LOGGER.error if retry == retry_first else _LOGGER.debug
            log("%s stopped (%s: %s); restarting it", name, type(err).__name__, err, exc_info=err)
        else:
            return
        await asyncio.sleep(retry)
        retry = min(retry * 2, retry_max)


def _load_state(what: str, load: Callable[[], _T | None]) -> _T | None:
    """Read a state file; a corrupt one is reported and then ignored (and later replaced)."""
    try:
        return load()
    except StateFileError as err:
        _LOGGER.warning("The stored %s cannot be used (%s); starting without it", what, err)
        return None
