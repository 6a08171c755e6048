"""Log lines for the add-on's Log tab: time, level, message, and never a secret."""

from __future__ import annotations

import json
import logging
import re
import sys
from urllib.parse import quote, quote_plus

REDACTED = "**REDACTED**"
_MIN_SECRET_LENGTH = 4
# A secret cut short (an error text truncated mid-token) is still a secret from this length on.
_MIN_PREFIX_LENGTH = 8
# Redacted even when never registered: iSolarCloud login tokens (<user id>_<32 hex>) and UUIDs,
# the shape of OAuth2 access and refresh tokens. Each alternative starts with a plain character
# (the regex engine skips ahead to it quickly); the hex or digits before it are checked behind.
_TOKEN_SHAPES = re.compile(
    r"-(?<=[0-9a-fA-F]{8}-)[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|_(?<=[0-9]_)[0-9a-fA-F]{32}"
)
_UUID_HEAD_LENGTH = 8
_ASCII_DIGITS = frozenset("0123456789")
_LINE_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A traceback keeps its line breaks and the tabs of quoted source lines.
_TRACEBACK_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


class RedactingFormatter(logging.Formatter):
    """Formats records, blanks out secrets and token-shaped text, and escapes control characters.

    A registered secret is also caught JSON-escaped, URL-encoded, and cut short to any run of
    at least 8 of its leading characters.
    """

    def __init__(self) -> None:
        """Use a compact format with the time and the level."""
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        self._secrets: set[str] = set()
        self._forms_by_head: dict[str, list[str]] = {}
        self._heads: re.Pattern[str] | None = None

    def add_secret(self, value: str | None) -> None:
        """Never let `value` appear in a log line from now on."""
        if not value or len(value) < _MIN_SECRET_LENGTH or value in self._secrets:
            return
        self._secrets.add(value)
        for form in _written_forms(value):
            forms = self._forms_by_head.setdefault(form[:_MIN_PREFIX_LENGTH], [])
            if form not in forms:
                forms.append(form)
        heads = sorted(self._forms_by_head, key=len, reverse=True)
        self._heads = re.compile("|".join(map(re.escape, heads)))

    def format(self, record: logging.LogRecord) -> str:
        """Format the record on one line; a traceback follows on its own lines."""
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = _escape(self.redact(self.formatMessage(record)), _LINE_CONTROLS)
        details = self._details(record)
        if not details:
            return line
        return line + "\n" + _escape(self.redact(details), _TRACEBACK_CONTROLS)

    def redact(self, text: str) -> str:
        """Return `text` with every secret and token-shaped stretch replaced by REDACTED."""
        spans = _token_spans(text)
        if self._heads is not None:
            spans.extend(self._secret_spans(text, self._heads))
        parts, done = [], 0
        for start, end in _merged(spans):
            parts += [text[done:start], REDACTED]
            done = end
        parts.append(text[done:])
        return "".join(parts)

    def _secret_spans(self, text: str, heads: re.Pattern[str]) -> list[tuple[int, int]]:
        """Return where registered secrets, whole or cut short, stand in the text."""
        spans = []
        position = 0
        # Searching again one character after each hit finds secrets that overlap.
        while (match := heads.search(text, position)) is not None:
            start = match.start()
            forms = self._forms_by_head[match.group()]
            spans.append((start, start + max(_common_prefix(text, start, form) for form in forms)))
            position = start + 1
        return spans

    def _details(self, record: logging.LogRecord) -> str:
        """Return the traceback and the stack of the record, as the standard formatter does."""
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        parts = [record.exc_text] if record.exc_text else []
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)


def _written_forms(secret: str) -> set[str]:
    """Return the ways a secret shows up in text: as is, in JSON, in a URL, in a repr."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        repr(secret)[1:-1],
        _escape(secret, _LINE_CONTROLS),
    }


def _token_spans(text: str) -> list[tuple[int, int]]:
    """Return where token-shaped text stands: a UUID, or a login token with all its digits."""
    spans = []
    for match in _TOKEN_SHAPES.finditer(text):
        start, end = match.span()
        if text[start] == "-":
            start -= _UUID_HEAD_LENGTH
        else:
            while start > 0 and text[start - 1] in _ASCII_DIGITS:
                start -= 1
        spans.append((start, end))
    return spans


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return the spans sorted, overlapping or touching ones joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _common_prefix(text: str, start: int, form: str) -> int:
    """Return how many leading characters of `form` the text holds from `start` on."""
    length = 0
    for expected, actual in zip(form, text[start : start + len(form)], strict=False):
        if expected != actual:
            break
        length += 1
    return length


def _escape(text: str, controls: re.Pattern[str]) -> str:
    """Show control characters as escapes: a message cannot forge lines or drive a terminal."""
    return controls.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    return f"\\x{ord(char):02x}" if char < "\u0100" else f"\\u{ord(char):04x}"


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
