"""The heartbeat the loop writes and the Docker HEALTHCHECK reads (`python3 -m sungrow.health`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

HEARTBEAT_FILE = "heartbeat"
BEAT_INTERVAL = 30.0
# Healthy while the loop lives, even when Home Assistant or the cloud is down.
MAX_AGE = 150.0


async def beat(path: Path, stop: asyncio.Event, *, every: float = BEAT_INTERVAL) -> None:
    """Touch the heartbeat file every `every` seconds until `stop` is set."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while not stop.is_set():
        path.touch()  # noqa: ASYNC240 - a metadata write of microseconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    path.unlink(missing_ok=True)  # noqa: ASYNC240 - idem


def is_healthy(path: Path, *, now: float | None = None) -> bool:
    """Return True when the heartbeat is fresh."""
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:
        return False
    return age < MAX_AGE


def main() -> int:
    """Exit 0 when the add-on's loop is alive, 1 otherwise."""
    data_dir = Path(os.environ.get("SUNGROW_DATA_DIR", "/data"))
    return 0 if is_healthy(data_dir / HEARTBEAT_FILE) else 1


if __name__ == "__main__":
    sys.exit(main())
