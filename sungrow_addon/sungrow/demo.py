"""`--demo`: the add-on against the embedded simulator, with the simulator's demo account."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import ClientSession

from sungrow.exceptions import OptionsError
from sungrow.logs import set_level
from sungrow.options import Options, read_options_file
from sungrow.publish.console import ConsolePublisher
from sungrow.publish.rest import HomeAssistant
from sungrow.service import EXIT_BAD_CONFIGURATION, Environment, run
from sungrow.timezones import fallback_zone, zone

from .simulator import (
    DEMO_APPKEY,
    DEMO_PASSWORD,
    DEMO_SECRET_KEY,
    DEMO_USERNAME,
    demo_simulator,
)

if TYPE_CHECKING:
    from datetime import tzinfo
    from pathlib import Path

    from sungrow.logs import RedactingFormatter

_LOGGER = logging.getLogger(__name__)
DEMO_SCAN_INTERVAL = 60
# The options that name an account: the demo always uses the simulator's own.
_ACCOUNT_OPTIONS = frozenset(
    {
        "appkey",
        "secret_key",
        "username",
        "password",
        "server",
        "server_url",
        "rsa_public_key",
        "authorization_code",
        "redirect_uri",
        "application_id",
    }
)


def demo_options(user_options: dict[str, Any]) -> Options:
    """Return the user's options (interval, log level, publishing) with the demo account."""
    settings = {key: value for key, value in user_options.items() if key not in _ACCOUNT_OPTIONS}
    return Options.from_dict(
        {
            "scan_interval": DEMO_SCAN_INTERVAL,
            **settings,
            "appkey": DEMO_APPKEY,
            "secret_key": DEMO_SECRET_KEY,
            "username": DEMO_USERNAME,
            "password": DEMO_PASSWORD,
        }
    )


async def run_demo(
    *,
    options_path: Path | None,
    environment: Environment,
    once: bool,
    formatter: RedactingFormatter,
) -> int:
    """Start the simulator on loopback and run the add-on against it.

    The options file, when given, sets everything but the account. Without a Supervisor
    token the sensors are printed instead of posted.
    """
    try:
        options = demo_options(read_options_file(options_path) if options_path else {})
    except OptionsError as err:
        _LOGGER.error("%s", err)  # noqa: TRY400 - one line, no traceback
        return EXIT_BAD_CONFIGURATION
    set_level(options.log_level)
    for secret in options.secrets:
        formatter.add_secret(secret)
    plant_zone = await _home_assistant_zone(environment) or fallback_zone()
    async with demo_simulator(plant_zone).serve() as gateway:
        return await run(
            dataclasses.replace(options, server_url=gateway),
            environment,
            once=once,
            formatter=formatter,
            publisher_factory=(
                (lambda _session: ConsolePublisher())
                if environment.supervisor_token is None
                else None
            ),
        )


async def _home_assistant_zone(environment: Environment) -> tzinfo | None:
    """Return Home Assistant's time zone, so that the demo plant's day is Home Assistant's."""
    if environment.supervisor_token is None:
        return None
    async with ClientSession() as session:
        home_assistant = HomeAssistant(
            session=session, token=environment.supervisor_token, api_url=environment.api_url
        )
        return zone(await home_assistant.time_zone())
