"""`--demo`: the add-on against the embedded simulator, with the simulator's demo account."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sungrow.options import Options
from sungrow.publish.console import ConsolePublisher
from sungrow.service import Environment, run
from sungrow.timezones import fallback_zone

from .simulator import (
    DEMO_APPKEY,
    DEMO_PASSWORD,
    DEMO_SECRET_KEY,
    DEMO_USERNAME,
    demo_simulator,
)

if TYPE_CHECKING:
    from sungrow.logs import RedactingFormatter

DEMO_SCAN_INTERVAL = 60


async def run_demo(
    *,
    data_dir: Path | None,
    api_url: str,
    supervisor_token: str | None,
    once: bool,
    formatter: RedactingFormatter,
) -> int:
    """Start the simulator on loopback and run the add-on against it.

    Without a Supervisor token the sensors are printed instead of posted. The state goes to
    a temporary folder unless a data folder is given.
    """
    with tempfile.TemporaryDirectory(prefix="sungrow-demo-") as temporary:
        environment = Environment(
            data_dir=data_dir or Path(temporary),
            api_url=api_url,
            supervisor_token=supervisor_token,
        )
        # Without Home Assistant the add-on keeps time in TZ (or UTC): the demo plant too.
        async with demo_simulator(fallback_zone()).serve() as gateway:
            options = Options(
                appkey=DEMO_APPKEY,
                secret_key=DEMO_SECRET_KEY,
                username=DEMO_USERNAME,
                password=DEMO_PASSWORD,
                server_url=gateway,
                scan_interval=DEMO_SCAN_INTERVAL,
            )
            return await run(
                options,
                environment,
                once=once,
                formatter=formatter,
                publisher_factory=(
                    (lambda _session: ConsolePublisher()) if supervisor_token is None else None
                ),
            )
