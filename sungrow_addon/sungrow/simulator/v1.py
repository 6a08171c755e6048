"""V1 sessions of the Open API: accounts, `/openapi/login` and its sliding 24-hour token (§3.1)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .envelope import SimError

if TYPE_CHECKING:
    from datetime import datetime, timedelta


@dataclass(kw_only=True)
class SimAccount:
    """An iSolarCloud account and the plants it sees."""

    username: str
    password: str
    user_id: int
    ps_ids: tuple[int, ...]
    login_state: str = "1"  # "2" locked after wrong passwords, "5" locked by an administrator
    failed_logins: int = 0


@dataclass
class _Token:
    account: SimAccount
    expires: datetime


@dataclass
class V1Sessions:
    """The tokens `/openapi/login` issued, each ending after a day without use."""

    _tokens: dict[str, _Token] = field(default_factory=dict)

    def clear(self) -> None:
        """Forget every issued token."""
        self._tokens.clear()

    def login(
        self,
        accounts: list[SimAccount],
        body: dict[str, Any],
        *,
        now: datetime,
        ttl: timedelta,
        max_failed: int,
    ) -> dict[str, Any]:
        """Answer a login; a rejection is a success envelope with its `login_state`."""
        username, password = body.get("user_account"), body.get("user_password")
        if not username or not password:
            raise SimError("009")
        account = next((a for a in accounts if a.username == username), None)
        if account is None:
            return {"login_state": "-1", "msg": "账号不存在"}
        if account.login_state != "1":
            return {"login_state": account.login_state, "msg": "账号已锁定"}
        if password != account.password:
            account.failed_logins += 1
            if account.failed_logins >= max_failed:
                account.login_state = "2"
            remaining = max(max_failed - account.failed_logins, 0)
            return {"login_state": "0", "msg": "密码错误", "remain_times": str(remaining)}
        account.failed_logins = 0
        token = f"{account.user_id}_{secrets.token_hex(16)}"
        self._tokens[token] = _Token(account, now + ttl)
        return {
            "user_id": str(account.user_id),
            "token": token,
            "login_state": "1",
            "err_times": "0",
            "disable_time": None,
            "user_account": account.username,
            "user_name": account.username.split("@")[0],
            "language": "English",
            "email": account.username,
            "mobile_tel": None,
            "country_id": "49",
            "country_name": "Germany",
            "user_master_org_id": "89899046",
            "user_master_org_name": "Sungrow",
        }

    def account(
        self, headers: dict[str, str], body: dict[str, Any], *, now: datetime, ttl: timedelta
    ) -> SimAccount:
        """Return the account of the call's token (002 if none, E00003 if unknown or expired)."""
        # The documentation names a body field; working clients also send a header.
        token = body.get("token") or headers.get("token")
        if not token:
            raise SimError("002")
        issued = self._tokens.get(token)
        if issued is None or issued.expires <= now:
            self._tokens.pop(token, None)
            raise SimError("E00003")
        issued.expires = now + ttl  # sliding: every call renews the 24 h
        return issued.account
