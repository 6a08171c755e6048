"""The Supervisor's handling of an add-on's options, written for the tests.

It follows the rules of the Supervisor's `apps/options.py` (voluptuous, as there): each option
is checked against its schema type; unknown options are dropped; a `null` value is a missing
required option; an option left out is accepted only when its type (or, for a list, its
element type) ends in `?`. And the frontend's rule for the Configuration tab: an option that is
neither required nor set in `options` hides behind "Show unused optional configuration options".
"""

from __future__ import annotations

import re
from typing import Any

import voluptuous as vol

# The schema element grammar (apps/options.py RE_SCHEMA_ELEMENT), minus `device`.
ELEMENT = re.compile(
    r"^(?:bool|email|url|port"
    r"|(?P<kind>str|password|int|float)(?:\((?P<low>-?[\d.]+)?,(?P<high>-?[\d.]+)?\))?"
    r"|match\((?P<match>.*)\)"
    r"|list\((?P<choices>.+)\))\??$"
)


class OptionsRefused(Exception):  # noqa: N818 - it reads as the Supervisor's message
    """The Supervisor would refuse these options, with this message."""


def validate(schema: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Return the options as the Supervisor stores them, or raise OptionsRefused."""
    accepted = {
        key: _value(schema[key], value, key) for key, value in options.items() if key in schema
    }
    for key in set(schema) - set(accepted):
        kind = schema[key][0] if isinstance(schema[key], list) else schema[key]
        if not kind.endswith("?"):
            msg = f"Missing option '{key}' in root"
            raise OptionsRefused(msg)
    return accepted


def visible_in_form(schema: dict[str, Any], options: dict[str, Any]) -> set[str]:
    """Return the options a fresh install shows: the required ones and those with a default.

    The others wait behind "Show unused optional configuration options".
    """
    return {
        key
        for key, kind in schema.items()
        if key in options or not (kind[0] if isinstance(kind, list) else kind).endswith("?")
    }


def _value(kind: Any, value: Any, key: str) -> Any:
    if isinstance(kind, list):
        if not isinstance(value, list):
            msg = f"Invalid list for option '{key}'"
            raise OptionsRefused(msg)
        return [_value(kind[0], item, key) for item in value]
    if value is None:
        msg = f"Missing required option '{key}'"
        raise OptionsRefused(msg)
    match = ELEMENT.match(kind)
    if match is None:
        msg = f"Unknown type '{kind}'"
        raise OptionsRefused(msg)
    try:
        return _validator(kind, match)(value)
    except vol.Invalid as err:
        msg = f"Option '{key}' {err}"
        raise OptionsRefused(msg) from None


def _validator(kind: str, match: re.Match[str]) -> Any:
    bounds = {name: float(match[name]) for name in ("low", "high") if match["kind"] and match[name]}
    length = vol.Length(min=bounds.get("low"), max=bounds.get("high"))
    span = vol.Range(min=bounds.get("low"), max=bounds.get("high"))
    validators: dict[str, Any] = {
        "str": vol.All(str, length),
        "password": vol.All(str, length),
        "int": vol.All(vol.Coerce(int), span),
        "float": vol.All(vol.Coerce(float), span),
        "bool": vol.Boolean(),
        "email": vol.Email(),
        "url": vol.Url(),
        "port": vol.All(vol.Coerce(int), vol.Range(min=1, max=65535)),
    }
    if match["match"] is not None:
        return vol.All(vol.Coerce(str), vol.Match(match["match"]))
    if match["choices"] is not None:
        return vol.All(vol.Coerce(str), vol.In(match["choices"].split("|")))
    return validators[match["kind"] or kind.rstrip("?")]
