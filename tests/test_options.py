"""Reading and validating the add-on options."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from const import APPKEY, PASSWORD, SECRET_KEY, USERNAME

from sungrow.cloud.regions import Server
from sungrow.exceptions import OptionsError
from sungrow.options import Options, load_options

if TYPE_CHECKING:
    from pathlib import Path

VALID: dict[str, Any] = {
    "appkey": APPKEY,
    "secret_key": SECRET_KEY,
    "username": USERNAME,
    "password": PASSWORD,
    "server": "europe",
    "scan_interval": 300,
    "log_level": "info",
}


def with_(**changes: Any) -> dict[str, Any]:
    """Return the valid options with some changed; None removes an option."""
    options = {**VALID, **changes}
    return {key: value for key, value in options.items() if value is not None}


def test_valid_options() -> None:
    """The Supervisor's options.json becomes a frozen Options."""
    options = Options.from_dict(with_(server="australia", server_url=None))

    assert options.appkey == APPKEY
    assert options.server is Server.AUSTRALIA
    assert options.gateway == "https://augateway.isolarcloud.com"
    assert options.scan_interval == 300
    assert options.log_level == "info"
    assert options.rsa_public_key is None


def test_defaults_for_optional_settings() -> None:
    """Region, interval and log level fall back to the add-on's defaults."""
    options = Options.from_dict(with_(server=None, scan_interval=None, log_level=None))

    assert options.server is Server.EUROPE
    assert options.scan_interval == 300
    assert options.log_level == "info"
    assert options.history_days == 30
    assert Options.from_dict(with_(history_days=0)).history_days == 0


def test_server_url_overrides_the_region() -> None:
    """server_url wins over server, without a trailing slash."""
    options = Options.from_dict(with_(server_url="http://127.0.0.1:8080/"))

    assert options.gateway == "http://127.0.0.1:8080"


def test_values_are_trimmed_but_the_password_is_kept_as_typed() -> None:
    """Spaces around keys and the account go; a password keeps every character."""
    options = Options.from_dict(
        with_(appkey=f"  {APPKEY} ", username=f" {USERNAME}\n", password=" pass word ")
    )

    assert options.appkey == APPKEY
    assert options.username == USERNAME
    assert options.password == " pass word "


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"appkey": None}, "Option 'appkey' is missing: set it to the AppKey"),
        ({"appkey": ""}, "Option 'appkey' is missing"),
        ({"secret_key": None}, "Option 'secret_key' is missing: set it to the Secret Key"),
        ({"username": None}, "Option 'username' is missing: set it to the account"),
        ({"password": None}, "Option 'password' is missing"),
        ({"password": ""}, "Option 'password' is missing"),
        ({"appkey": f'"{APPKEY}"'}, "Option 'appkey' contains quotes"),
        ({"secret_key": "abc def"}, "Option 'secret_key' contains spaces"),
        ({"appkey": 1234}, "Option 'appkey' must be text"),
        ({"authorization_code": 654321}, "Option 'authorization_code' must be text: set it"),
        ({"application_id": []}, "Option 'application_id' must be text: set it to the numeric"),
        ({"server": "mars"}, "Option 'server' is 'mars': set it to one of europe"),
        ({"server_url": "gateway.isolarcloud.eu"}, "Option 'server_url' is not an http"),
        ({"server_url": "https://[::1"}, "Option 'server_url' is not an http(s) URL"),
        ({"server_url": "https://gateway.isolarcloud.eu:99999"}, "Option 'server_url' is not an"),
        ({"server_url": "https://:443"}, "Option 'server_url' is not an http(s) URL"),
        (
            {"server_url": "http://gateway.isolarcloud.eu"},
            "Option 'server_url' must start with https:// (http is for localhost only)",
        ),
        (
            {"server_url": "http://127.0.0.1.example.com"},
            "Option 'server_url' must start with https://",
        ),
        (
            {"server_url": "https://gateway.isolarcloud.eu/?lang=en"},
            "Option 'server_url' must not have a query (?) or a fragment (#)",
        ),
        (
            {"server_url": "https://gateway.isolarcloud.eu#top"},
            "Option 'server_url' must not have a query",
        ),
        (
            {"server_url": "https://gate\tway.isolarcloud.eu"},
            "Option 'server_url' contains spaces or control characters",
        ),
        ({"scan_interval": "²"}, "Option 'scan_interval' must be a whole number"),
        ({"scan_interval": "٣٠٠"}, "Option 'scan_interval' must be a whole number"),
        ({"scan_interval": 30}, "Option 'scan_interval' is 30, outside 60..3600"),
        ({"scan_interval": 7200}, "Option 'scan_interval' is 7200, outside 60..3600"),
        ({"scan_interval": "often"}, "Option 'scan_interval' must be a whole number"),
        ({"scan_interval": True}, "Option 'scan_interval' must be a whole number"),
        ({"history_days": -1}, "Option 'history_days' is -1, outside 0..365"),
        ({"history_days": 400}, "Option 'history_days' is 400, outside 0..365"),
        ({"history_days": "a month"}, "Option 'history_days' must be a whole number"),
        ({"log_level": "verbose"}, "Option 'log_level' is 'verbose'"),
    ],
)
def test_bad_options_name_the_option_and_the_fix(changes: dict[str, Any], message: str) -> None:
    """Each missing or invalid option gets one line naming it and saying what to enter."""
    with pytest.raises(OptionsError) as raised:
        Options.from_dict(with_(**changes))

    text = str(raised.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_scan_interval_as_text_is_accepted() -> None:
    """A hand-written "600" is read as 600."""
    assert Options.from_dict(with_(scan_interval="600")).scan_interval == 600


def test_secrets_stay_out_of_repr() -> None:
    """Printing the options shows no secret."""
    text = repr(Options.from_dict(VALID))

    assert SECRET_KEY not in text
    assert PASSWORD not in text
    assert APPKEY in text


def test_load_options_reads_the_file(tmp_path: Path) -> None:
    """The options file is read as JSON."""
    path = tmp_path / "options.json"
    path.write_text(json.dumps(VALID), encoding="utf-8")

    assert load_options(path).username == USERNAME


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found: start the add-on from Home Assistant"),
        ("{not json", r"options\.json is corrupt \(not JSON\): save the options again"),
        ("[1, 2]", r"options\.json is corrupt \(not a JSON object\)"),
    ],
)
def test_unreadable_options_file(tmp_path: Path, content: str | None, message: str) -> None:
    """A missing or broken options file is one clear line too."""
    path = tmp_path / "options.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    with pytest.raises(OptionsError, match=message):
        load_options(path)


def test_oauth2_is_chosen_when_username_and_password_are_empty() -> None:
    """Without an account the OAuth2 fields are read; the code counts as a secret."""
    options = Options.from_dict(
        with_(
            username=None,
            password=None,
            authorization_code=" 654321 ",
            redirect_uri="https://example.com/callback",
            application_id="4711",
        )
    )

    assert not options.uses_account
    assert options.authorization_code == "654321"
    assert options.redirect_uri == "https://example.com/callback"
    assert "654321" in options.secrets
    assert "654321" not in repr(options)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password": None}, "Option 'password' is missing"),
        ({"username": None}, "Option 'username' is missing"),
    ],
)
def test_half_an_account_is_refused(changes: dict[str, Any], message: str) -> None:
    """A username without a password (or the reverse) is an error that mentions OAuth2."""
    with pytest.raises(OptionsError, match=message) as raised:
        Options.from_dict(with_(**changes))

    assert "leave 'username' and 'password' empty to use OAuth2" in str(raised.value)


def test_plants_and_extra_points() -> None:
    """Plant ids and point ids are read as text; a point may name its device type."""
    options = Options.from_dict(with_(plants=["5694969", 42], extra_points=["13013", "14:13158"]))

    assert options.plants == ("5694969", "42")
    assert options.extra_points_for(14) == {"13013", "13158"}
    assert options.extra_points_for(7) == {"13013"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"plants": ["Home"]}, "Option 'plants' holds 'Home'"),
        ({"plants": "5694969"}, "Option 'plants' must be a list"),
        ({"extra_points": ["p13013"]}, "Option 'extra_points' holds 'p13013'"),
        ({"extra_points": ["14:"]}, "Option 'extra_points' holds '14:'"),
        ({"plants": ["٥٦٩٤٩٦٩"]}, "Option 'plants' holds '٥٦٩٤٩٦٩'"),
        ({"extra_points": ["١٤:13013"]}, "Option 'extra_points' holds '١٤:13013'"),
        ({"extra_points": ["9" * 5000 + ":1"]}, "Option 'extra_points' holds '9999"),
        ({"rsa_public_key": "not-a-key"}, "Option 'rsa_public_key' is not base64"),
        ({"redirect_uri": "example.com"}, "Option 'redirect_uri' is not an http"),
    ],
)
def test_bad_lists_and_keys(changes: dict[str, Any], message: str) -> None:
    """Malformed plant ids, point ids, keys and URLs name the option."""
    with pytest.raises(OptionsError, match=message):
        Options.from_dict(with_(**changes))


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080",
        "http://LOCALHOST",
        "http://127.0.0.1:8080",
        "http://127.8.9.10",
        "http://[::1]:8080",
        "https://gateway.isolarcloud.eu",
    ],
)
def test_server_url_is_https_or_plain_http_on_loopback(url: str) -> None:
    """The simulator and the demo run on loopback over http; any other gateway needs https."""
    assert Options.from_dict(with_(server_url=url)).gateway == url


@pytest.mark.parametrize("name", ["server_url", "redirect_uri"])
@pytest.mark.parametrize(
    "url", ["https://alice:hunter2@gateway.isolarcloud.eu", "https://hunter2@example.com"]
)
def test_a_url_with_a_user_name_or_password_is_refused_without_repeating_it(
    name: str, url: str
) -> None:
    """User info in a URL is a secret: refused, and the message does not show it."""
    with pytest.raises(OptionsError) as raised:
        Options.from_dict(with_(**{name: url}))

    text = str(raised.value)
    assert text.startswith(f"Option '{name}' must not contain a user name or password: set it")
    assert "hunter2" not in text
    assert "alice" not in text


def test_a_redirect_uri_is_kept_character_for_character() -> None:
    """The token call must repeat the registered Redirect URL exactly, its final slash too."""
    options = Options.from_dict(
        with_(username=None, password=None, redirect_uri="https://example.com/")
    )

    assert options.redirect_uri == "https://example.com/"


def test_a_redirect_uri_may_be_plain_http_with_a_query() -> None:
    """The redirect URL is only a registered callback: http and a query are the portal's call."""
    options = Options.from_dict(
        with_(username=None, password=None, redirect_uri="http://example.com/callback?a=1")
    )

    assert options.redirect_uri == "http://example.com/callback?a=1"
