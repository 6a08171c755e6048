"""The pause after refused credentials, kept in the data folder so that restarts keep it.

Repeated wrong logins lock an iSolarCloud account (after 5, as far as is known): a watchdog
that restarts the add-on must not turn the hourly retry into one login per start. Saving the
options (in Home Assistant: the Configuration tab) is what ends the pause at once: the user has
changed something. The options file is recognised by its modification time and size, so
nothing derived from a password is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sungrow.storage import SaveResult

if TYPE_CHECKING:
    from sungrow.storage import JsonFile

FIRST_PAUSE = 3600.0
LONGEST_PAUSE = 24 * 3600.0


@dataclass
class CredentialBackoff:
    """When the next login may be tried, and why the last one was refused."""

    file: JsonFile | None = None
    options_version: str | None = None
    until: float = 0.0
    pause: float = FIRST_PAUSE
    reason: str = ""
    _dirty: bool = field(default=False, init=False)

    @classmethod
    def from_dict(
        cls, file: JsonFile | None, data: dict[str, Any], *, options_version: str | None
    ) -> CredentialBackoff:
        """Restore a pause saved for these very options; any other pause no longer counts."""
        backoff = cls(file, options_version)
        until, pause, reason = _number(data, "until"), _number(data, "pause"), data.get("reason")
        if (
            options_version is not None
            and data.get("options") == options_version
            and until is not None
            and pause is not None
            and isinstance(reason, str)
        ):
            backoff.until = until
            backoff.pause = min(max(pause, FIRST_PAUSE), LONGEST_PAUSE)
            backoff.reason = reason[:500]
        else:
            backoff._dirty = bool(data)  # a pause for other options: removed when next saved
        return backoff

    def remaining(self, now: float) -> float:
        """Return the seconds before a login may be tried again (0: now)."""
        return max(self.until - now, 0.0)

    def refused(self, reason: str, now: float) -> float:
        """Start a pause after a refusal; return its length (each one twice the last)."""
        pause = self.pause
        self.until, self.reason = now + pause, reason
        self.pause = min(pause * 2, LONGEST_PAUSE)
        self._dirty = True
        self.save()
        return pause

    def accepted(self) -> None:
        """Forget the pause: the credentials work."""
        if self.until or self.pause != FIRST_PAUSE:
            self.until, self.pause, self.reason = 0.0, FIRST_PAUSE, ""
            self._dirty = True
        self.save()

    def save(self) -> None:
        """Keep the pause in the data folder (removed once the credentials work)."""
        if self.file is None or self.options_version is None or not self._dirty:
            return
        if not self.until:
            self._dirty = not self.file.delete()
            return
        data = {
            "options": self.options_version,
            "until": self.until,
            "pause": self.pause,
            "reason": self.reason,
        }
        self._dirty = self.file.save(data) is SaveResult.FAILED


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        return None
    return float(value)
