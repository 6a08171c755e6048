"""The iSolarCloud tokens, kept in the data folder so that a restart needs no new login."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sungrow.cloud.auth import OAuthTokens
from sungrow.storage import SaveResult

if TYPE_CHECKING:
    from sungrow.cloud.auth import OAuth2
    from sungrow.storage import JsonFile


def account_fingerprint(*parts: str) -> str:
    """Return a short digest naming the account a token belongs to (not the secret itself)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@dataclass
class TokenStore:
    """One token per data folder, valid only for the account it was issued to."""

    file: JsonFile
    account: str
    _saved: str | None = field(default=None, init=False, repr=False)

    def load(self) -> str | None:
        """Return the stored token if it belongs to this account (raises StateFileError)."""
        data = self.file.load() or {}
        token = data.get("token")
        if data.get("account") != self.account or not isinstance(token, str):
            return None
        self._saved = token
        return token

    def save(self, token: str | None) -> None:
        """Store a new token, or remove the stored one when `token` is None."""
        if token == self._saved:
            return
        if token is None:
            written = self.file.delete()
        else:
            data = {"account": self.account, "token": token}
            written = self.file.save(data) is not SaveResult.FAILED
        if written:
            self._saved = token


@dataclass
class OAuthStore:
    """The OAuth2 tokens and the digests of the codes already used, for one application."""

    file: JsonFile
    account: str

    def load(self) -> tuple[OAuthTokens | None, set[str]]:
        """Return the stored tokens (None if absent) and used codes (raises StateFileError)."""
        data = self.file.load() or {}
        if data.get("account") != self.account:
            return None, set()
        used = {str(code) for code in data.get("used_codes", []) if isinstance(code, str)}
        access, refresh = data.get("access_token"), data.get("refresh_token")
        expires_at = data.get("expires_at")
        if not (isinstance(access, str) and isinstance(refresh, str)):
            return None, used
        if not isinstance(expires_at, int | float):
            expires_at = 0.0
        return OAuthTokens(
            access_token=access, refresh_token=refresh, expires_at=float(expires_at)
        ), used

    def save(self, auth: OAuth2) -> None:
        """Store the client's current tokens and used codes."""
        data: dict[str, object] = {"account": self.account, "used_codes": sorted(auth.used_codes)}
        if auth.tokens is not None:
            data |= {
                "access_token": auth.tokens.access_token,
                "refresh_token": auth.tokens.refresh_token,
                "expires_at": auth.tokens.expires_at,
            }
        self.file.save(data)
