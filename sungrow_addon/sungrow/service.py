"""Wiring: one HTTP session, the two clients, the stored state, the poller, the signals."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from aiohttp import ClientSession

from . import __version__
from .exceptions import ISolarCloudAuthenticationError, StateFileError, SungrowAddonError
from .health import HEARTBEAT_FILE, beat
from .homeassistant import HomeAssistant
from .isolarcloud import ISolarCloud
from .naming import EntityNames
from .poller import Poller
from .storage import JsonFile
from .tokens import TokenStore, account_fingerprint

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .homeassistant import Publisher
    from .logs import RedactingFormatter
    from .options import Options

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

EXIT_OK = 0
EXIT_CYCLE_FAILED = 1
EXIT_BAD_CONFIGURATION = 2
EXIT_CREDENTIALS_REJECTED = 3


@dataclass(frozen=True, kw_only=True)
class Environment:
    """Where the add-on keeps its state and finds Home Assistant."""

    data_dir: Path
    api_url: str
    supervisor_token: str | None


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
        "Sungrow iSolarCloud add-on %s: gateway %s, polling every %d s",
        __version__,
        options.gateway,
        options.scan_interval,
    )
    data_dir = environment.data_dir
    async with ClientSession() as session:
        if publisher_factory is not None:
            publisher = publisher_factory(session)
        else:
            assert environment.supervisor_token is not None  # noqa: S101 - checked by main
            publisher = HomeAssistant(
                session=session, token=environment.supervisor_token, api_url=environment.api_url
            )
        tokens = TokenStore(
            JsonFile(data_dir / "token.json"),
            account_fingerprint(options.gateway, options.appkey, options.username),
        )

        def keep_token(token: str | None) -> None:
            formatter.add_secret(token)
            tokens.save(token)

        stored_token = _load_state("token", tokens.load)
        formatter.add_secret(stored_token)
        names_file = JsonFile(data_dir / "names.json")
        names_data = _load_state("entity names", names_file.load) or {}
        poller = Poller(
            cloud=ISolarCloud(
                session=session,
                gateway=options.gateway,
                appkey=options.appkey,
                secret_key=options.secret_key,
                username=options.username,
                password=options.password,
                token=stored_token,
                on_token=keep_token,
            ),
            publisher=publisher,
            names=EntityNames(names_file, dict(names_data.get("plants", {}))),
            scan_interval=options.scan_interval,
        )
        if once:
            return await _run_once(poller)
        await _run_forever(poller, data_dir / HEARTBEAT_FILE)
        return EXIT_OK


async def _run_once(poller: Poller) -> int:
    try:
        report = await poller.run_once()
    except ISolarCloudAuthenticationError as err:
        _LOGGER.error("%s", err)  # noqa: TRY400 - one line, no traceback
        return EXIT_CREDENTIALS_REJECTED
    except SungrowAddonError as err:
        _LOGGER.error("%s", err)  # noqa: TRY400 - one line, no traceback
        return EXIT_CYCLE_FAILED
    _LOGGER.info("Published %d sensors of %d plant(s)", report.sensors, report.plants)
    return EXIT_OK


async def _run_forever(poller: Poller, heartbeat: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    beating = asyncio.create_task(beat(heartbeat, stop))
    try:
        await poller.run(stop)
    finally:
        stop.set()
        await beating
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    _LOGGER.info("Stopped")


def _load_state(what: str, load: Callable[[], _T]) -> _T | None:
    """Read a state file; a corrupt one is reported and then ignored (and later replaced)."""
    try:
        return load()
    except StateFileError as err:
        _LOGGER.warning("The stored %s cannot be used (%s); starting without it", what, err)
        return None
