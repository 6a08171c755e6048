"""OAuth2 of the Open API: authorization codes, access and refresh tokens (§3.2).

The user approves an application in the browser, which yields a single-use 6-digit code;
`/openapi/apiManage/token` trades it for an access token (UUID, ~2 days) and a refresh token
(UUID, 30 days); `/openapi/apiManage/refreshToken` rotates both. Data calls carry
`Authorization: Bearer <access_token>`.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .envelope import Answer, SimError

if TYPE_CHECKING:
    from datetime import datetime, timedelta

CODE_DIGITS = 6


@dataclass(frozen=True)
class Grant:
    """What a user approved: their account's plants, for one application."""

    user_id: int
    appkey: str
    ps_ids: tuple[int, ...]


@dataclass
class _Issued:
    grant: Grant
    expires: datetime


@dataclass(kw_only=True)
class Lifetimes:
    """How long access and refresh tokens live."""

    access: timedelta
    refresh: timedelta


def _invalid_grant(result_code: str, description: str) -> SimError:
    # The token endpoints answer in both styles: the envelope and OAuth's error fields.
    return SimError(
        result_code,
        description,
        extra={"error": "invalid_grant", "error_description": description},
    )


@dataclass
class OAuthServer:
    """The authorization server's state: pending codes and live tokens."""

    _codes: dict[str, Grant] = field(default_factory=dict)
    _access: dict[str, _Issued] = field(default_factory=dict)
    _refresh: dict[str, _Issued] = field(default_factory=dict)

    def authorize(self, grant: Grant) -> str:
        """Return a fresh single-use authorization code for the grant."""
        while True:
            code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
            if code not in self._codes:
                self._codes[code] = grant
                return code

    def exchange(
        self,
        appkey: str,
        redirect_uri: str | None,
        body: dict[str, Any],
        *,
        now: datetime,
        lifetimes: Lifetimes,
    ) -> Answer:
        """Trade an authorization code for tokens (`/openapi/apiManage/token`)."""
        if not body.get("code") or not body.get("grant_type") or not body.get("redirect_uri"):
            raise SimError("009")
        if body["grant_type"] != "authorization_code":
            raise SimError("010")
        if body["redirect_uri"] != redirect_uri:
            raise _invalid_grant("5", "Redirect URI mismatch.")
        grant = self._codes.get(str(body["code"]))
        if grant is None or grant.appkey != appkey:
            raise _invalid_grant("-2", "Invalid authorization code.")
        del self._codes[str(body["code"])]
        return self._issue(grant, now, lifetimes)

    def refresh(
        self, appkey: str, body: dict[str, Any], *, now: datetime, lifetimes: Lifetimes
    ) -> Answer:
        """Trade a refresh token for a new access token and a new refresh token."""
        token = body.get("refresh_token")
        if not token:
            raise SimError("009")
        issued = self._refresh.get(str(token))
        if issued is None or issued.grant.appkey != appkey or issued.expires <= now:
            raise _invalid_grant("-2", "Invalid refresh token.")
        del self._refresh[str(token)]
        answer = self._issue(issued.grant, now, lifetimes)
        return Answer({**answer.data, "code": "1"}, answer.extra)

    def bearer(self, appkey: str, headers: dict[str, str], now: datetime) -> Grant:
        """Return the grant behind `Authorization: Bearer <token>`; E00003 if there is none."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        issued = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
        if issued is None or issued.grant.appkey != appkey or issued.expires <= now:
            raise SimError("E00003")
        return issued.grant

    def expire_access_tokens(self, now: datetime) -> None:
        """End every access token now; refresh tokens stay valid."""
        for issued in self._access.values():
            issued.expires = min(issued.expires, now)

    def _issue(self, grant: Grant, now: datetime, lifetimes: Lifetimes) -> Answer:
        access, refresh = str(uuid.uuid4()), str(uuid.uuid4())
        self._access[access] = _Issued(grant, now + lifetimes.access)
        self._refresh[refresh] = _Issued(grant, now + lifetimes.refresh)
        tokens = {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": int(lifetimes.access.total_seconds()),
        }
        # Consumers read the OAuth fields at the top level and auth_ps_list in result_data.
        data = {
            **tokens,
            "auth_ps_list": [str(ps_id) for ps_id in grant.ps_ids],
            "auth_user": grant.user_id,
        }
        return Answer(data, tokens)
