"""The add-on options: read from options.json, validated, frozen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .exceptions import OptionsError, StateFileError
from .regions import Server
from .storage import JsonFile

if TYPE_CHECKING:
    from pathlib import Path

LOG_LEVELS = ("debug", "info", "warning", "error")
SCAN_INTERVAL_RANGE = (60, 3600)

# Where each value is found, so that every complaint about an option can say it.
_WHERE = {
    "appkey": "the AppKey of your application in the iSolarCloud developer portal "
    "(developer-api.isolarcloud.com, Applications)",
    "secret_key": "the Secret Key of your application in the iSolarCloud developer portal "
    "(developer-api.isolarcloud.com, Applications)",
    "username": "the account (e-mail or user name) you log in to the iSolarCloud app with",
    "password": "the password of your iSolarCloud app account",
    "server": "one of " + ", ".join(server.value for server in Server),
    "server_url": "a full URL such as https://gateway.isolarcloud.eu",
    "scan_interval": f"a whole number of seconds from {SCAN_INTERVAL_RANGE[0]} "
    f"to {SCAN_INTERVAL_RANGE[1]}",
    "log_level": "one of " + ", ".join(LOG_LEVELS),
}


@dataclass(frozen=True, kw_only=True)
class Options:
    """What the user typed in the add-on's Configuration tab."""

    appkey: str
    secret_key: str = field(repr=False)
    username: str
    password: str = field(repr=False)
    server: Server = Server.EUROPE
    server_url: str | None = None
    rsa_public_key: str | None = field(default=None, repr=False)
    scan_interval: int = 300
    log_level: str = "info"

    @property
    def gateway(self) -> str:
        """Return the base URL of the Open API gateway to call."""
        return self.server_url or self.server.gateway

    @property
    def secrets(self) -> tuple[str, ...]:
        """Return the values that must never appear in a log line."""
        return (self.secret_key, self.password)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Options:
        """Validate the options the Supervisor wrote; raise OptionsError naming the option."""
        return cls(
            appkey=_key(data, "appkey"),
            secret_key=_key(data, "secret_key"),
            username=_text(data, "username"),
            password=_password(data),
            server=_server(data),
            server_url=_url(data, "server_url"),
            rsa_public_key=_optional_text(data, "rsa_public_key"),
            scan_interval=_scan_interval(data),
            log_level=_choice(data, "log_level", LOG_LEVELS, default="info"),
        )


def load_options(path: Path) -> Options:
    """Read and validate the options file."""
    try:
        data = JsonFile(path).load()
    except StateFileError as err:
        msg = f"Options file {err}: save the options again in Home Assistant"
        raise OptionsError(msg) from None
    if data is None:
        msg = (
            f"Options file {path} not found: start the add-on from Home Assistant, "
            "or point SUNGROW_OPTIONS at a JSON file with the options"
        )
        raise OptionsError(msg)
    return Options.from_dict(data)


def _missing(name: str) -> OptionsError:
    return OptionsError(f"Option '{name}' is missing: set it to {_WHERE[name]}")


def _invalid(name: str, problem: str) -> OptionsError:
    return OptionsError(f"Option '{name}' {problem}: set it to {_WHERE[name]}")


def _optional_text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name, "must be text")
    return value.strip() or None


def _text(data: dict[str, Any], name: str) -> str:
    value = _optional_text(data, name)
    if value is None:
        raise _missing(name)
    return value


def _key(data: dict[str, Any], name: str) -> str:
    value = _text(data, name)
    if any(quote in value for quote in "\"'"):
        raise _invalid(name, "contains quotes (paste the value without them)")
    if any(char.isspace() for char in value):
        raise _invalid(name, "contains spaces (paste the value alone)")
    return value


def _password(data: dict[str, Any]) -> str:
    value = data.get("password")
    if value is None or value == "":
        raise _missing("password")
    if not isinstance(value, str):
        raise _invalid("password", "must be text")
    # Passwords are kept exactly as typed: spaces may be part of them.
    return value


def _server(data: dict[str, Any]) -> Server:
    value = _choice(data, "server", tuple(Server), default=Server.EUROPE.value)
    return Server(value)


def _url(data: dict[str, Any], name: str) -> str | None:
    value = _optional_text(data, name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(name, "is not an http(s) URL")
    return value.rstrip("/")


def _scan_interval(data: dict[str, Any]) -> int:
    value = data.get("scan_interval")
    if value is None:
        return 300
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid("scan_interval", "must be a whole number")
    low, high = SCAN_INTERVAL_RANGE
    if not low <= value <= high:
        raise _invalid("scan_interval", f"is {value}, outside {low}..{high}")
    return value


def _choice(data: dict[str, Any], name: str, allowed: tuple[str, ...], *, default: str) -> str:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise _invalid(name, f"is {value!r}")
    return value.strip().lower()
