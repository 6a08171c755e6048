"""The iSolarCloud regional servers."""

from __future__ import annotations

from enum import StrEnum


class Server(StrEnum):
    """A regional iSolarCloud site; an account lives on exactly one of them."""

    EUROPE = "europe"
    INTERNATIONAL = "international"
    CHINA = "china"
    AUSTRALIA = "australia"
    INDIA = "india"

    @property
    def gateway(self) -> str:
        """Return the Open API gateway of this site."""
        return _GATEWAYS[self]


_GATEWAYS = {
    Server.EUROPE: "https://gateway.isolarcloud.eu",
    Server.INTERNATIONAL: "https://gateway.isolarcloud.com.hk",
    Server.CHINA: "https://gateway.isolarcloud.com",
    Server.AUSTRALIA: "https://augateway.isolarcloud.com",
    Server.INDIA: "https://gateway.isolarcloud.in",
}
