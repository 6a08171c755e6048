"""The iSolarCloud regional sites: API gateway, web site and cloud id of each."""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import quote


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
        return _SITES[self][0]

    def authorize_url(self, *, application_id: str, redirect_uri: str) -> str:
        """Return the page where the plant owner grants an OAuth2 application access."""
        _, web, cloud_id = _SITES[self]
        # The web app is a single-page app: its parameters go after the '#'.
        return (
            f"{web}/#/authorized-app?cloudId={cloud_id}&applicationId={quote(application_id)}"
            f"&redirectUrl={quote(redirect_uri, safe='')}"
        )


# gateway, web site, cloudId (the web site's number for the region)
_SITES = {
    Server.EUROPE: ("https://gateway.isolarcloud.eu", "https://web3.isolarcloud.eu", 3),
    Server.INTERNATIONAL: (
        "https://gateway.isolarcloud.com.hk",
        "https://web3.isolarcloud.com.hk",
        2,
    ),
    Server.CHINA: ("https://gateway.isolarcloud.com", "https://web3.isolarcloud.com", 1),
    Server.AUSTRALIA: ("https://augateway.isolarcloud.com", "https://auweb3.isolarcloud.com", 7),
    Server.INDIA: ("https://gateway.isolarcloud.in", "https://web3.isolarcloud.in", 9),
}
