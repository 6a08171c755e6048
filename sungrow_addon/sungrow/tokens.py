"""The iSolarCloud session token, kept in the data folder so that a restart needs no login."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .storage import JsonFile


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
            self.file.delete()
        else:
            self.file.save({"account": self.account, "token": token})
        self._saved = token
