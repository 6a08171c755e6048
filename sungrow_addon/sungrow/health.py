"""The heartbeat the poll loop writes and the HEALTHCHECK (`healthcheck.sh`) reads.

The loop promises when it will next show progress: at the start of every cycle and of every
step in it (a cloud call, a publish) the next step is due within `STEP_LIMIT`; before a pause
(the poll interval, a quota, the backoff after a refused password) the next cycle is due when
the pause ends. The promise, plus a grace, is the heartbeat file's modification time. The
add-on is healthy until then, so a loop that waits on purpose stays healthy for hours and a
loop stuck in a call turns unhealthy within minutes.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

HEARTBEAT_FILE = "heartbeat"
# Longest a step of a cycle may take: a call with its retries and a token renewal, or a publish.
STEP_LIMIT = 600.0
# What the health check forgives beyond a promise.
GRACE = 60.0


@dataclass(frozen=True)
class Heartbeat:
    """The file in the data folder that carries the poll loop's promise."""

    path: Path

    def expect_within(self, seconds: float) -> None:
        """Promise the next sign of progress within `seconds` from now."""
        deadline = time.time() + seconds + GRACE
        with contextlib.suppress(OSError):  # a full disk must not stop the loop
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
            os.utime(self.path, (deadline, deadline))

    def stop(self) -> None:
        """Remove the promise: the loop has ended."""
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
