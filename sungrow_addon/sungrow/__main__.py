"""Command line: `python3 -m sungrow [--once] [--demo]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path

from sungrow.exceptions import OptionsError
from sungrow.logs import set_level, setup_logging
from sungrow.options import load_options
from sungrow.publish.broker import DEFAULT_SUPERVISOR_URL
from sungrow.publish.rest import DEFAULT_API_URL
from sungrow.service import EXIT_BAD_CONFIGURATION, Environment, run

_LOGGER = logging.getLogger("sungrow")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python3 -m sungrow",
        description="Publish a Sungrow iSolarCloud plant to Home Assistant.",
        epilog=(
            "Environment: SUNGROW_OPTIONS (options file, default /data/options.json), "
            "SUNGROW_DATA_DIR (state folder, default /data), HA_API_URL (default "
            f"{DEFAULT_API_URL}), SUPERVISOR_URL (default {DEFAULT_SUPERVISOR_URL}), "
            "SUPERVISOR_TOKEN (bearer token for Home Assistant and the Supervisor)."
        ),
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="run one cycle, then exit 0 if every plant was fetched and published",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="use the embedded iSolarCloud simulator and its demo account (the other options "
        "from SUNGROW_OPTIONS, if set); without SUPERVISOR_TOKEN print the sensors instead of "
        "posting them",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the add-on; return the process exit code."""
    args = parse_args(argv)
    formatter = setup_logging("info")
    env = os.environ
    supervisor_token = env.get("SUPERVISOR_TOKEN") or None
    formatter.add_secret(supervisor_token)
    options_file = env.get("SUNGROW_OPTIONS")
    options_path = Path(options_file or "/data/options.json")

    def environment(data_dir: str) -> Environment:
        return Environment(
            data_dir=Path(data_dir),
            api_url=env.get("HA_API_URL", DEFAULT_API_URL).rstrip("/"),
            supervisor_token=supervisor_token,
            options_version=_version(options_path),
            supervisor_url=env.get("SUPERVISOR_URL", DEFAULT_SUPERVISOR_URL).rstrip("/"),
        )

    if args.demo:
        from sungrow.demo import run_demo  # noqa: PLC0415 - the simulator is loaded for the demo only

        # Without a data folder the demo keeps its state in a temporary one.
        data_dir = env.get("SUNGROW_DATA_DIR")
        with (
            contextlib.nullcontext(data_dir)
            if data_dir
            else tempfile.TemporaryDirectory(prefix="sungrow-demo-")
        ) as folder:
            demo = run_demo(
                options_path=Path(options_file) if options_file else None,
                environment=environment(folder),
                once=args.once,
                formatter=formatter,
            )
            return asyncio.run(demo)
    try:
        options = load_options(options_path)
    except OptionsError as err:
        _LOGGER.error("%s", err)  # noqa: TRY400 - one line, no traceback
        return EXIT_BAD_CONFIGURATION
    for secret in options.secrets:
        formatter.add_secret(secret)
    set_level(options.log_level)
    if supervisor_token is None:
        _LOGGER.error(
            "SUPERVISOR_TOKEN is not set: the Supervisor sets it for the add-on; "
            "outside it set HA_API_URL=http://<host>:8123/api and put a long-lived access "
            "token in SUPERVISOR_TOKEN"
        )
        return EXIT_BAD_CONFIGURATION
    return asyncio.run(
        run(
            options,
            environment(env.get("SUNGROW_DATA_DIR", "/data")),
            once=args.once,
            formatter=formatter,
        )
    )


def _version(path: Path) -> str | None:
    """Return what changes each time the options are saved: the file's time and size."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return f"{stat.st_mtime_ns}:{stat.st_size}"


if __name__ == "__main__":
    sys.exit(main())
