"""The log formatter: no secret, in any spelling, and no raw control character reaches a line."""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

import pytest
from const import PASSWORD, SECRET_KEY

from sungrow.logs import REDACTED, RedactingFormatter

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

LOGIN_TOKEN = "4242_91bbb35be9f74ccebb0406307ca80874"
ACCESS_TOKEN = "84a25a35-efa4-42b6-b573-9144ae5b923d"
AWKWARD_PASSWORD = 'p@ss "w/rd"\\&more'


@pytest.fixture
def formatter() -> RedactingFormatter:
    """A formatter that knows the test application's secret key and two passwords."""
    formatter = RedactingFormatter()
    for secret in (SECRET_KEY, PASSWORD, AWKWARD_PASSWORD):
        formatter.add_secret(secret)
    return formatter


def line(
    formatter: RedactingFormatter, message: str, *args: object, exc_info: ExcInfo | None = None
) -> str:
    """Return what the formatter writes for one record."""
    record = logging.LogRecord("sungrow", logging.ERROR, __file__, 1, message, args, exc_info)
    return formatter.format(record)


def raised(error: Exception) -> ExcInfo:
    """Return the exc_info of `error`, raised and caught."""
    try:
        raise error
    except type(error):
        exc_type, value, traceback = sys.exc_info()
    assert exc_type is not None
    assert value is not None
    return exc_type, value, traceback


def test_a_registered_secret_is_redacted(formatter: RedactingFormatter) -> None:
    """The secret key as is becomes REDACTED; the rest of the message stays."""
    text = line(formatter, "Sending x-access-key %s to the gateway", SECRET_KEY)

    assert SECRET_KEY not in text
    assert f"Sending x-access-key {REDACTED} to the gateway" in text


def test_the_json_escaped_form_of_a_secret_is_redacted(formatter: RedactingFormatter) -> None:
    """A password with quotes and a backslash, logged inside a JSON body, is caught."""
    escaped = json.dumps(AWKWARD_PASSWORD)[1:-1]
    assert escaped != AWKWARD_PASSWORD

    text = line(formatter, "Login body: %s", json.dumps({"user_password": AWKWARD_PASSWORD}))

    assert escaped not in text
    assert f'{{"user_password": "{REDACTED}"}}' in text


@pytest.mark.parametrize("encode", [quote, quote_plus], ids=["quote", "quote_plus"])
def test_url_encoded_forms_of_a_secret_are_redacted(
    formatter: RedactingFormatter, encode: Callable[..., str]
) -> None:
    """A password in a query string, percent-encoded either way, is caught."""
    encoded = encode(AWKWARD_PASSWORD, safe="")
    assert encoded != AWKWARD_PASSWORD

    text = line(formatter, "GET /login?user=owner&password=%s&lang=en", encoded)

    assert encoded not in text
    assert f"password={REDACTED}&lang=en" in text


def test_a_secret_cut_short_is_still_redacted(formatter: RedactingFormatter) -> None:
    """An error text cut at 200 characters that ends in the first 20 characters of a secret."""
    cut = ("x" * 180 + SECRET_KEY)[:200]
    assert cut.endswith(SECRET_KEY[:20])

    text = line(formatter, "iSolarCloud said: %s", cut)

    assert SECRET_KEY[:8] not in text
    assert text.endswith("x" * 180 + REDACTED)


def test_eight_leading_characters_of_a_secret_are_redacted_anywhere(
    formatter: RedactingFormatter,
) -> None:
    """8 leading characters are enough, in the middle of a word; 7 are left alone."""
    text = line(formatter, "a%sb and c%sd", SECRET_KEY[:8], SECRET_KEY[:7])

    assert text.endswith(f"a{REDACTED}b and c{SECRET_KEY[:7]}d")


def test_a_secret_that_starts_inside_another_is_redacted_whole() -> None:
    """The tail of the first secret is the start of the second: neither lets any of it through."""
    formatter = RedactingFormatter()
    formatter.add_secret("abcdefgh12345678")
    formatter.add_secret("12345678ZYXWVUTS")

    text = line(formatter, "abcdefgh12345678ZYXWVUTS")

    assert text.endswith(f"ERROR {REDACTED}")


@pytest.mark.parametrize(
    "token",
    [LOGIN_TOKEN, ACCESS_TOKEN, ACCESS_TOKEN.upper()],
    ids=["login-token", "uuid", "uuid-upper-case"],
)
def test_token_shapes_are_redacted_without_being_registered(
    formatter: RedactingFormatter, token: str
) -> None:
    """Login tokens of iSolarCloud and UUIDs (OAuth2 tokens) never reach the log."""
    text = line(formatter, "Calling with token=%s;", token)

    assert text.endswith(f"Calling with token={REDACTED};")


def test_secrets_shorter_than_four_characters_are_ignored() -> None:
    """A three-character value would blank out ordinary words: it is not registered."""
    formatter = RedactingFormatter()
    formatter.add_secret("abc")
    formatter.add_secret(None)

    assert line(formatter, "abcdef").endswith("ERROR abcdef")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("two\nlines", "two\\nlines"),
        ("back\rwards", "back\\rwards"),
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
        ("nul\x00del\x7fnel\x85", "nul\\x00del\\x7fnel\\x85"),
        ("tab\tbed", "tab\\tbed"),
        ("line\u2028separator", "line\\u2028separator"),
    ],
    ids=["newline", "carriage-return", "ansi", "c0-del-c1", "tab", "line-separator"],
)
def test_control_characters_in_a_message_are_escaped(
    formatter: RedactingFormatter, raw: str, shown: str
) -> None:
    """A message cannot forge a second log line or drive the terminal."""
    text = line(formatter, "Plant %s found", raw)

    assert text.endswith(f"ERROR Plant {shown} found")
    assert text.isprintable()


def test_a_traceback_keeps_its_lines_but_not_its_control_characters(
    formatter: RedactingFormatter,
) -> None:
    """exc_info stays multi-line under an escaped message; ESC in it is escaped, secrets gone."""
    error = raised(ValueError(f"bad\x1b[31m reply for {SECRET_KEY}"))

    text = line(formatter, "Cycle failed\nfake line", exc_info=error)

    first, *traceback = text.split("\n")
    assert first.endswith("ERROR Cycle failed\\nfake line")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == f"ValueError: bad\\x1b[31m reply for {REDACTED}"
    assert SECRET_KEY not in text


def test_a_secret_with_a_control_character_is_redacted_in_every_spelling() -> None:
    """A password holding a tab is caught raw, in a repr, and as the log shows it escaped."""
    formatter = RedactingFormatter()
    formatter.add_secret("tab\tsecret")

    text = line(formatter, "%s %r", "tab\tsecret", "tab\tsecret")

    assert text.endswith(f"ERROR {REDACTED} '{REDACTED}'")
