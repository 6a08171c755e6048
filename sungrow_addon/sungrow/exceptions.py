"""Exceptions raised by the add-on's clients; the poller decides what to log."""

from __future__ import annotations


class SungrowAddonError(Exception):
    """Base of every error the add-on raises on purpose."""


class OptionsError(SungrowAddonError):
    """An add-on option is missing or invalid; the message names it and the fix."""


class StateFileError(SungrowAddonError):
    """A file in the data folder cannot be read back (corrupt or truncated)."""


class ISolarCloudError(SungrowAddonError):
    """Generic iSolarCloud error."""


class ISolarCloudConnectionError(ISolarCloudError):
    """Network problem while talking to the iSolarCloud gateway."""


class ISolarCloudTimeoutError(ISolarCloudConnectionError):
    """The iSolarCloud gateway did not answer in time."""


class ISolarCloudResponseError(ISolarCloudError):
    """The gateway answered with an error envelope or an unusable body."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        """Keep the vendor's result_code next to the message."""
        super().__init__(message)
        self.code = code


class ISolarCloudAuthenticationError(ISolarCloudResponseError):
    """The cloud rejected a credential: the appkey, the secret key or the account."""


class TokenRejectedError(ISolarCloudAuthenticationError):
    """The session or access token is invalid or expired."""


class GrantRejectedError(ISolarCloudAuthenticationError):
    """The OAuth2 token endpoint refused a code or a refresh token."""

    def __init__(self, detail: str, *, code: str | None) -> None:
        """Keep the cloud's own explanation apart for messages."""
        super().__init__(f"iSolarCloud refused the grant ({detail})", code=code)
        self.detail = detail


class ISolarCloudRateLimitError(ISolarCloudResponseError):
    """The cloud refused the call because a call quota or frequency limit was hit."""


class CycleIncompleteError(ISolarCloudResponseError):
    """A cycle published what it fetched, but some plants or devices could not be read."""


class HomeAssistantError(SungrowAddonError):
    """Generic error while publishing to Home Assistant."""


class HomeAssistantConnectionError(HomeAssistantError):
    """Home Assistant is unreachable or not running (the Supervisor proxy answers 502)."""


class HomeAssistantAuthenticationError(HomeAssistantError):
    """Home Assistant refused the token."""
