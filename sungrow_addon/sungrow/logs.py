"""Log lines for the add-on's Log tab: time, level, message, and never a secret."""

from __future__ import annotations

import logging
import sys

REDACTED = "**REDACTED**"
_MIN_SECRET_LENGTH = 4


class RedactingFormatter(logging.Formatter):
    """Formats records and blanks out every registered secret, whatever logged it."""

    def __init__(self) -> None:
        """Use a compact format with the time and the level."""
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        self._secrets: list[str] = []

    def add_secret(self, value: str | None) -> None:
        """Never let `value` appear in a log line from now on."""
        if value and len(value) >= _MIN_SECRET_LENGTH and value not in self._secrets:
            self._secrets.append(value)
            self._secrets.sort(key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, then replace every secret."""
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


def setup_logging(level: str = "info") -> RedactingFormatter:
    """Send log lines to stderr through a redacting formatter; return it to register secrets."""
    formatter = RedactingFormatter()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    set_level(level)
    return formatter


def set_level(level: str) -> None:
    """Apply the `log_level` option; libraries stay at warning unless debugging."""
    logging.getLogger().setLevel(level.upper())
    library_level = logging.DEBUG if level == "debug" else logging.WARNING
    for name in ("aiohttp", "asyncio"):
        logging.getLogger(name).setLevel(library_level)
