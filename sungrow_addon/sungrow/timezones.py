"""Time zones by name, and the zone to use when Home Assistant cannot be asked."""

from __future__ import annotations

import os
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None) -> tzinfo | None:
    """Return the zone of an IANA name ("Europe/Berlin"), None for an unknown one."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        return None


def fallback_zone() -> tzinfo:
    """Return the zone of TZ (the Supervisor sets Home Assistant's), else UTC."""
    return zone(os.environ.get("TZ")) or UTC
