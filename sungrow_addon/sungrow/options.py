"""The add-on options: read from options.json, validated, frozen."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from sungrow.cloud.regions import Server
from sungrow.exceptions import OptionsError, StateFileError
from sungrow.publish.broker import Broker, broker_from_url
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from pathlib import Path

LOG_LEVELS = ("debug", "info", "warning", "error")
PUBLISH_MODES = ("auto", "mqtt", "rest")
SCAN_INTERVAL_RANGE = (60, 3600)
HISTORY_DAYS_DEFAULT = 30
HISTORY_DAYS_MAX = 365

# Where each value is found, so that every complaint about an option can say it.
_WHERE = {
    "appkey": "the AppKey of your application in the iSolarCloud developer portal "
    "(developer-api.isolarcloud.com, Applications)",
    "secret_key": "the Secret Key of your application in the iSolarCloud developer portal "
    "(developer-api.isolarcloud.com, Applications)",
    "username": "the account (e-mail or user name) you log in to the iSolarCloud app with "
    "(or leave 'username' and 'password' empty to use OAuth2)",
    "password": "the password of your iSolarCloud app account "
    "(or leave 'username' and 'password' empty to use OAuth2)",
    "rsa_public_key": "the RSA public key shown on your application's page in the developer "
    "portal, or leave it empty",
    "plants": "a list of plant ids (ps_id, digits only) as the add-on's log lists them, "
    "or leave it empty for every plant",
    "extra_points": "a list of measuring point ids, each either alone (13013) or with its "
    "device type (14:13013)",
    "authorization_code": "the code from the redirect after you approved the application "
    "(OAuth2 only)",
    "application_id": "the numeric Application ID of your application in the developer portal "
    "(OAuth2 only), or leave it empty",
    "redirect_uri": "the Redirect URL of your application in the developer portal "
    "(without a user name or password)",
    "server": "one of " + ", ".join(server.value for server in Server),
    "server_url": "a full https URL such as https://gateway.isolarcloud.eu, without a user "
    "name, password, query or fragment (http only for localhost), or leave it empty",
    "scan_interval": f"a whole number of seconds from {SCAN_INTERVAL_RANGE[0]} "
    f"to {SCAN_INTERVAL_RANGE[1]}",
    "log_level": "one of " + ", ".join(LOG_LEVELS),
    "publish": "one of " + ", ".join(PUBLISH_MODES) + " (auto: MQTT when a broker is known)",
    "controls": "true (settings from Home Assistant, MQTT mode only) or false",
    "history_days": f"a whole number of days from 0 (no history) to {HISTORY_DAYS_MAX}",
    "mqtt_url": "mqtt://user:password@host:1883 (mqtts:// for TLS), or leave it empty to use "
    "the Mosquitto broker add-on",
}


@dataclass(frozen=True, kw_only=True)
class Options:
    """What the user typed in the add-on's Configuration tab."""

    appkey: str
    secret_key: str = field(repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    server: Server = Server.EUROPE
    server_url: str | None = None
    rsa_public_key: str | None = field(default=None, repr=False)
    authorization_code: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None
    application_id: str | None = None
    plants: tuple[str, ...] = ()
    extra_points: tuple[tuple[int | None, str], ...] = ()
    scan_interval: int = 300
    log_level: str = "info"
    publish: str = "auto"
    mqtt_url: str | None = field(default=None, repr=False)
    controls: bool = False
    history_days: int = HISTORY_DAYS_DEFAULT

    @property
    def uses_account(self) -> bool:
        """Return True for the account login (V1), False for OAuth2."""
        return self.username is not None and self.password is not None

    def extra_points_for(self, device_type: int) -> set[str]:
        """Return the extra point ids asked for a device type (or for every type)."""
        return {point for kind, point in self.extra_points if kind in (None, device_type)}

    @property
    def gateway(self) -> str:
        """Return the base URL of the Open API gateway to call."""
        return self.server_url or self.server.gateway

    @property
    def broker(self) -> Broker | None:
        """Return the MQTT broker the 'mqtt_url' option names, if it names one."""
        return broker_from_url(self.mqtt_url) if self.mqtt_url else None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Return the values that must never appear in a log line."""
        mqtt_password = self.broker.password if self.broker else None
        values = (self.secret_key, self.password, self.authorization_code, mqtt_password)
        return tuple(secret for secret in values if secret)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Options:
        """Validate the options the Supervisor wrote; raise OptionsError naming the option."""
        return cls(
            appkey=_key(data, "appkey"),
            secret_key=_key(data, "secret_key"),
            **_account(data),
            server=_server(data),
            server_url=_server_url(data),
            rsa_public_key=_public_key(data),
            authorization_code=_optional_text(data, "authorization_code"),
            redirect_uri=_url(data, "redirect_uri"),
            application_id=_optional_text(data, "application_id"),
            plants=tuple(_list(data, "plants", _PLANT_ID)),
            extra_points=tuple(_extra_point(item) for item in _list(data, "extra_points", _POINT)),
            scan_interval=_scan_interval(data),
            log_level=_choice(data, "log_level", LOG_LEVELS, default="info"),
            publish=_choice(data, "publish", PUBLISH_MODES, default="auto"),
            mqtt_url=_mqtt_url(data),
            controls=_flag(data, "controls"),
            history_days=_history_days(data),
        )


def load_options(path: Path) -> Options:
    """Read and validate the options file."""
    return Options.from_dict(read_options_file(path))


def read_options_file(path: Path) -> dict[str, Any]:
    """Return the options file's content, not validated yet; raise OptionsError if unreadable."""
    try:
        # The Supervisor owns the options file: it stays where it is, even when unreadable.
        data = JsonFile(path, move_corrupt_aside=False).load()
    except StateFileError as err:
        msg = f"Options file {err}: save the options again in Home Assistant"
        raise OptionsError(msg) from None
    if data is None:
        msg = (
            f"Options file {path} not found: start the add-on from Home Assistant, "
            "or point SUNGROW_OPTIONS at a JSON file with the options"
        )
        raise OptionsError(msg)
    return data


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


def _account(data: dict[str, Any]) -> dict[str, str | None]:
    """Return username and password: both set (account login) or both empty (OAuth2)."""
    username = _optional_text(data, "username")
    password = data.get("password") or None
    if password is not None and not isinstance(password, str):
        raise _invalid("password", "must be text")
    if username is not None and password is None:
        raise _missing("password")
    if password is not None and username is None:
        raise _missing("username")
    # Passwords are kept exactly as typed: spaces may be part of them.
    return {"username": username, "password": password}


def _public_key(data: dict[str, Any]) -> str | None:
    value = _optional_text(data, "rsa_public_key")
    if value is not None:
        # The encryption library is loaded only by applications that need it.
        from sungrow.cloud.crypto import InvalidPublicKeyError, load_public_key  # noqa: PLC0415

        try:
            load_public_key(value)
        except InvalidPublicKeyError as err:
            raise _invalid("rsa_public_key", f"is {err}") from None
    return value


# ASCII digits only (\d also matches other scripts' digits), few enough for int().
_PLANT_ID = re.compile(r"[0-9]{1,18}")
_POINT = re.compile(r"(?:[0-9]{1,9}:)?[0-9]{1,18}")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


def _list(data: dict[str, Any], name: str, item: re.Pattern[str]) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(name, "must be a list")
    texts = [str(entry).strip() for entry in value if not isinstance(entry, bool)]
    wrong = [text for text in texts if not item.fullmatch(text)]
    if wrong or len(texts) != len(value):
        raise _invalid(name, f"holds {wrong[0] if wrong else 'a value'!r}")
    return texts


def _extra_point(text: str) -> tuple[int | None, str]:
    device_type, _, point_id = text.rpartition(":")
    return (int(device_type) if device_type else None, point_id)


def _server(data: dict[str, Any]) -> Server:
    value = _choice(data, "server", tuple(Server), default=Server.EUROPE.value)
    return Server(value)


def _mqtt_url(data: dict[str, Any]) -> str | None:
    value = _optional_text(data, "mqtt_url")
    if value is not None:
        try:
            broker_from_url(value)
        except ValueError as err:
            # The message does not repeat the URL: it would show the password.
            raise _invalid("mqtt_url", str(err)) from None
    return value


def _server_url(data: dict[str, Any]) -> str | None:
    url = _url(data, "server_url")
    if url is None:
        return None
    parts = urlsplit(url)
    if "?" in url or "#" in url:
        raise _invalid("server_url", "must not have a query (?) or a fragment (#)")
    # The keys and the token travel in the clear over http: only the local machine may see them.
    if parts.scheme != "https" and not _is_loopback(parts.hostname or ""):
        raise _invalid("server_url", "must start with https:// (http is for localhost only)")
    return url.rstrip("/")


def _url(data: dict[str, Any], name: str) -> str | None:
    value = _optional_text(data, name)
    if value is None:
        return None
    if any(char.isspace() or not char.isprintable() for char in value):
        raise _invalid(name, "contains spaces or control characters")
    parts = _split(value)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(name, "is not an http(s) URL")
    # The message does not repeat the URL: it would show the password.
    if parts.username is not None or parts.password is not None:
        raise _invalid(name, "must not contain a user name or password")
    return value


def _split(url: str) -> SplitResult | None:
    """Return the parts of a URL, None when it cannot be one (a bad port or IPv6 address)."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return None
    return parts


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _scan_interval(data: dict[str, Any]) -> int:
    return _whole_number(data, "scan_interval", 300, SCAN_INTERVAL_RANGE)


def _history_days(data: dict[str, Any]) -> int:
    return _whole_number(data, "history_days", HISTORY_DAYS_DEFAULT, (0, HISTORY_DAYS_MAX))


def _whole_number(data: dict[str, Any], name: str, default: int, bounds: tuple[int, int]) -> int:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, "must be a whole number")
    low, high = bounds
    if not low <= value <= high:
        raise _invalid(name, f"is {value}, outside {low}..{high}")
    return value


def _choice(data: dict[str, Any], name: str, allowed: tuple[str, ...], *, default: str) -> str:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise _invalid(name, f"is {value!r}")
    return value.strip().lower()


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise _invalid(name, "must be true or false")
    return value
