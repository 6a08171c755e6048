"""The heartbeat the poll loop writes and the HEALTHCHECK reads (`python3 -m sungrow.health`).

The loop promises when it will next show progress: at the start of every cycle and of every
step in it (a cloud call, a publish) the next step is due within `STEP_LIMIT`; before a pause
(the poll interval, a quota, the backoff after a refused password) the next cycle is due when
the pause ends. The promise is the heartbeat file's modification time. The add-on is healthy
while a promise is kept, so a loop that waits on purpose stays healthy for hours and a loop
stuck in a call turns unhealthy within minutes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HEARTBEAT_FILE = "heartbeat"
# Longest a step of a cycle may take: a call with its retries and a token renewal, or a publish.
STEP_LIMIT = 600.0
# What the health check forgives beyond a promise (it runs every minute or so).
GRACE = 60.0


@dataclass(frozen=True)
class Heartbeat:
    """The file in the data folder that carries the poll loop's promise."""

    path: Path

    def expect_within(self, seconds: float) -> None:
        """Promise the next sign of progress within `seconds` from now."""
        promise = time.time() + seconds
        with contextlib.suppress(OSError):  # a full disk must not stop the loop
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
            os.utime(self.path, (promise, promise))

    def stop(self) -> None:
        """Remove the promise: the loop has ended."""
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)


def is_healthy(path: Path, *, now: float | None = None) -> bool:
    """Return True while the loop's latest promise (plus the grace) has not run out."""
    try:
        promise = path.stat().st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) <= promise + GRACE


def main() -> int:
    """Exit 0 when the add-on's loop keeps its promise, 1 otherwise."""
    data_dir = Path(os.environ.get("SUNGROW_DATA_DIR", "/data"))
    return 0 if is_healthy(data_dir / HEARTBEAT_FILE) else 1


if __name__ == "__main__":
    sys.exit(main())
