"""OAuth2: the code exchanged once, tokens refreshed and rotated, failures explained."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from const import APPKEY, SECRET_KEY
from yarl import URL

from sungrow.cloud.auth import OAuth2, OAuthTokens, code_digest
from sungrow.cloud.client import ISolarCloud
from sungrow.cloud.regions import Server
from sungrow.cloud.transport import Gateway
from sungrow.exceptions import (
    ISolarCloudAuthenticationError,
    ISolarCloudError,
    ISolarCloudRateLimitError,
)

if TYPE_CHECKING:
    import aiohttp
    from aioresponses import aioresponses

GATEWAY = "https://gateway.isolarcloud.eu"
TOKEN_URL = f"{GATEWAY}/openapi/apiManage/token"
REFRESH_URL = f"{GATEWAY}/openapi/apiManage/refreshToken"
PLANTS_URL = f"{GATEWAY}/openapi/platform/queryPowerStationList"
REDIRECT = "https://example.com/callback"
NOW = 1_790_000_000.0


def token_reply(access: str, refresh: str | None, *, expires_in: int = 172799) -> dict[str, Any]:
    """The token endpoint's answer: fields at the top level and inside result_data."""
    fields: dict[str, Any] = {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": expires_in,
    }
    if refresh is not None:
        fields["refresh_token"] = refresh
    return {
        "req_serial_num": "x",
        "result_code": "1",
        "result_msg": "success",
        **fields,
        "result_data": {**fields, "auth_ps_list": ["5694969"], "auth_user": 65199},
    }


PLANTS = {
    "result_code": "1",
    "result_data": {"pageList": [{"ps_id": 1, "ps_name": "H"}], "rowCount": 1},
}
GRANT_REFUSED = {
    "req_serial_num": "x",
    "result_code": "5",
    "result_msg": "Redirect URI mismatch.",
    "error": "invalid_grant",
    "error_description": "Redirect URI mismatch.",
}


@pytest.fixture
def saved() -> list[tuple[OAuthTokens | None, set[str]]]:
    """Every state handed over to be stored."""
    return []


def make_cloud(
    session: aiohttp.ClientSession,
    saved: list[tuple[OAuthTokens | None, set[str]]],
    *,
    code: str | None = "123456",
    tokens: OAuthTokens | None = None,
    used: set[str] | None = None,
    application_id: str | None = "4711",
) -> ISolarCloud:
    """An OAuth2 client of the European gateway, with a fixed clock."""
    return ISolarCloud(
        gateway=Gateway(session=session, url=GATEWAY, appkey=APPKEY, secret_key=SECRET_KEY),
        auth=OAuth2(
            server=Server.EUROPE,
            authorization_code=code,
            redirect_uri=REDIRECT,
            application_id=application_id,
            tokens=tokens,
            used_codes=set(used or ()),
            on_change=lambda auth: saved.append((auth.tokens, set(auth.used_codes))),
            clock=lambda: NOW,
        ),
    )


def sent(responses: aioresponses, url: str) -> list[dict[str, Any]]:
    """Return headers and JSON bodies sent to a URL."""
    return [
        {"headers": call.kwargs["headers"], "body": json.loads(call.kwargs["data"])}
        for call in responses.requests.get(("POST", URL(url)), [])
    ]


async def test_the_code_is_exchanged_once_and_the_bearer_token_used(
    responses: aioresponses, session: aiohttp.ClientSession, saved: list[Any]
) -> None:
    """The first call exchanges the code; data calls go to /platform with the bearer token."""
    responses.post(TOKEN_URL, payload=token_reply("access-1", "refresh-1"))
    responses.post(PLANTS_URL, payload=PLANTS, repeat=2)
    cloud = make_cloud(session, saved)

    await cloud.plants()
    await cloud.plants()

    (exchange,) = sent(responses, TOKEN_URL)
    assert exchange["body"] == {
        "appkey": APPKEY,
        "lang": "_en_US",
        "grant_type": "authorization_code",
        "code": "123456",
        "redirect_uri": REDIRECT,
    }
    assert exchange["headers"]["x-access-key"] == SECRET_KEY
    assert "Authorization" not in exchange["headers"]
    for call in sent(responses, PLANTS_URL):
        assert call["headers"]["Authorization"] == "Bearer access-1"
        assert call["body"]["page"] == 1
        assert "token" not in call["body"]
    tokens, used = saved[-1]
    assert tokens == OAuthTokens(
        access_token="access-1", refresh_token="refresh-1", expires_at=NOW + 172799
    )
    assert used == {code_digest("123456")}


async def test_tokens_inside_result_data_only_are_read(
    responses: aioresponses, session: aiohttp.ClientSession, saved: list[Any]
) -> None:
    """The documented shape keeps the tokens in result_data only."""
    reply = token_reply("access-1", "refresh-1")
    for key in ("access_token", "refresh_token", "token_type", "expires_in"):
        del reply[key]
    responses.post(TOKEN_URL, payload=reply)
    responses.post(PLANTS_URL, payload=PLANTS)

    await make_cloud(session, saved).plants()

    assert saved[-1][0].access_token == "access-1"


async def test_stored_tokens_need_no_exchange(
    responses: aioresponses, session: aiohttp.ClientSession, saved: list[Any]
) -> None:
    """After a restart the stored tokens are used; the code in the options is not sent."""
    tokens = OAuthTokens(access_token="a", refresh_token="r", expires_at=NOW + 86400)
    responses.post(PLANTS_URL, payload=PLANTS)

    await make_cloud(session, saved, tokens=tokens).plants()

    assert sent(responses, TOKEN_URL) == []
    assert sent(responses, PLANTS_URL)[0]["headers"]["Authorization"] == "Bearer a"


async def test_a_token_about_to_expire_is_refreshed_first_and_the_rotation_saved(
    responses: aioresponses, session: aiohttp.ClientSession, saved: list[Any]
) -> None:
    """Within ten minutes of expiry the token is refreshed; the new refresh token is stored."""
    tokens = OAuthTokens(access_token="a1", refresh_token="r1", expires_at=NOW + 60)
    responses.post(REFRESH_URL, payload=token_reply("a2", "r2"))
    responses.post(PLANTS_URL, payload=PLANTS)

    await make_cloud(session, saved, tokens=tokens).plants()

    assert sent(responses, REFRESH_URL)[0]["body"]["refresh_token"] == "r1"
    assert sent(responses, PLANTS_URL)[0]["headers"]["Authorization"] == "Bearer a2"
    assert saved[-1][0].refresh_token == "r2"


async def test_a_rejected_access_token_is_refreshed_once(
    responses: aioresponses, session: aiohttp.ClientSession, saved: list[Any]
) -> None:
    """E00003 on a data call: one refresh, the call again; a second E00003 is an error."""
    tokens = OAuthTokens(access_token="a1", refresh_token="r1", expires_at=NOW + 86400)
    expired = {"result_code": "E00003", "result_msg": "er_token_login_invalid"}
    responses.post(PLANTS_URL, payload=expired)
    responses.post(REFRESH_URL, payload=token_reply("a2", "r2"))
    responses.post(PLANTS_URL, payload=expired)
    cloud = make_cloud(session, saved, tokens=tokens)

    with pytest.raises(ISolarCloudAuthenticationError, match="just issued"):
        await cloud.plants()

    assert len(sent(responses, REFRESH_URL)) == 1
    assert [c["headers"]["Authorization"] for c in sent(responses, PLANTS_URL)] == [
        "Bearer a1",
        "Bearer a2",
    ]


async def test_a_refresh_without_a_new_refresh_token_keeps_the_old_one(
    responses: aioresponses, session: aiohttp.ClientSession, saved: list[Any]
) -> None:
    """Partial refresh replies happen; the old refresh token then stays in use."""
    tokens = OAuthTokens(access_token="a1", refresh_token="r1", expires_at=NOW - 1)
    responses.post(REFRESH_URL, payload=token_reply("a2", None, expires_in=-5))
    responses.post(PLANTS_URL, payload=PLANTS)

    await make_cloud(session, saved, tokens=tokens).plants()

    stored = saved[-1][0]
    assert (stored.access_token, stored.refresh_token) == ("a2", "r1")
    assert stored.expires_at > NOW + 600


@pytest.mark.parametrize(
    ("status", "reply"),
    [
        (200, {**GRANT_REFUSED, "result_code": "-2", "error_description": "Invalid token."}),
        (200, {"result_code": "2", "result_msg": "refresh_token invalid"}),
        (200, {"result_code": "1", "result_msg": "success", "result_data": {"code": "-2"}}),
        (200, {"result_code": "1", "result_msg": "success", "result_data": {"code": "5"}}),
        (200, {"result_code": "1", "result_msg": "success", "result_data": {"code": "1"}}),
        (400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}),
        (401, {"message": "Unauthorized"}),
    ],
    ids=[
        "invalid_grant",
        "result_code",
        "code-2-expired",
        "code-5-invalid",
        "no-access-token",
        "http-400-json",
        "http-401-json",
    ],
)
async def test_a_dead_refresh_token_asks_for_a_new_authorization(
    responses: aioresponses,
    session: aiohttp.ClientSession,
    saved: list[Any],
    status: int,
    reply: dict[str, Any],
) -> None:
    """Every recorded shape of a refused refresh: tokens forgotten, one line, never sent again."""
    tokens = OAuthTokens(access_token="a1", refresh_token="r1", expires_at=NOW - 1)
    responses.post(REFRESH_URL, payload=reply, status=status)
    cloud = make_cloud(session, saved, tokens=tokens, used={code_digest("123456")})

    again = "authorize the add-on again"
    with pytest.raises(ISolarCloudAuthenticationError, match=again) as raised:
        await cloud.plants()
    with pytest.raises(ISolarCloudAuthenticationError, match=again):
        await cloud.plants()

    assert "https://web3.isolarcloud.eu/#/authorized-app?cloudId=3&applicationId=4711" in str(
        raised.value
    )
    assert "\n" not in str(raised.value)
    assert saved[-1][0] is None
    assert len(sent(responses, REFRESH_URL)) == 1
    assert sent(responses, TOKEN_URL) == []
    assert sent(responses, PLANTS_URL) == []


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"result_code": "E999", "result_msg": "limit"}, ISolarCloudRateLimitError),
        ({"result_code": "E912", "result_msg": "Illegal x-access-key"}, None),
        ({"result_code": "-1", "result_msg": "error"}, None),
    ],
    ids=["quota", "secret-key", "internal-error"],
)
async def test_a_refresh_that_failed_for_another_reason_keeps_the_refresh_token(
    responses: aioresponses,
    session: aiohttp.ClientSession,
    saved: list[Any],
    reply: dict[str, Any],
    error: type[Exception] | None,
) -> None:
    """A quota, a refused secret key or an internal error do not end the authorization."""
    tokens = OAuthTokens(access_token="a1", refresh_token="r1", expires_at=NOW - 1)
    responses.post(REFRESH_URL, payload=reply, repeat=True)
    cloud = make_cloud(session, saved, tokens=tokens)
    cloud.gateway.retry_delay = 0.001

    with pytest.raises(error or ISolarCloudError) as raised:
        await cloud.plants()

    assert "authorize the add-on again" not in str(raised.value)
    assert isinstance(cloud.auth, OAuth2)
    assert cloud.auth.tokens is not None
    assert cloud.auth.tokens.refresh_token == "r1"


async def test_an_access_token_refused_with_e900_is_refreshed_and_the_call_repeated(
    responses: aioresponses, session: aiohttp.ClientSession, saved: list[Any]
) -> None:
    """E900 on a data call with an older access token: one refresh, then the call again."""
    tokens = OAuthTokens(access_token="a1", refresh_token="r1", expires_at=NOW + 86400)
    responses.post(PLANTS_URL, payload={"result_code": "E900", "result_msg": "Unauthorized access"})
    responses.post(REFRESH_URL, payload=token_reply("a2", "r2"))
    responses.post(PLANTS_URL, payload=PLANTS)
    cloud = make_cloud(session, saved, tokens=tokens)
    cloud.start_cycle()

    assert len(await cloud.plants()) == 1

    assert [c["headers"]["Authorization"] for c in sent(responses, PLANTS_URL)] == [
        "Bearer a1",
        "Bearer a2",
    ]
    assert saved[-1][0].refresh_token == "r2"


async def test_a_refused_code_is_not_tried_again(
    responses: aioresponses, session: aiohttp.ClientSession, saved: list[Any]
) -> None:
    """A code the cloud refuses is remembered as used and explained."""
    responses.post(TOKEN_URL, payload=GRANT_REFUSED)
    cloud = make_cloud(session, saved)

    with pytest.raises(ISolarCloudAuthenticationError, match="Redirect URI mismatch"):
        await cloud.plants()
    with pytest.raises(ISolarCloudAuthenticationError, match="was used already"):
        await cloud.plants()

    assert len(sent(responses, TOKEN_URL)) == 1
    assert saved[-1] == (None, {code_digest("123456")})


async def test_a_used_code_is_not_exchanged_after_a_restart(
    responses: aioresponses, session: aiohttp.ClientSession, saved: list[Any]
) -> None:
    """Without tokens, a code already used says so instead of calling the cloud."""
    cloud = make_cloud(session, saved, used={code_digest("123456")})

    with pytest.raises(ISolarCloudAuthenticationError, match="was used already"):
        await cloud.plants()

    assert sent(responses, TOKEN_URL) == []


@pytest.mark.parametrize(
    ("application_id", "advice"),
    [
        (
            "4711",
            (
                "open https://web3.isolarcloud.eu/#/authorized-app?cloudId=3&applicationId=4711"
                "&redirectUrl=https%3A%2F%2Fexample.com%2Fcallback, log in as the plant owner"
            ),
        ),
        (None, "set 'application_id' and 'redirect_uri' and the add-on writes its address"),
    ],
)
async def test_without_a_code_the_log_says_where_to_get_one(
    session: aiohttp.ClientSession, saved: list[Any], application_id: str | None, advice: str
) -> None:
    """No tokens and no code: the message gives the approval address and where to paste."""
    cloud = make_cloud(session, saved, code=None, application_id=application_id)

    with pytest.raises(ISolarCloudAuthenticationError) as raised:
        await cloud.plants()

    assert advice in str(raised.value)
    assert "paste that code into the 'authorization_code' option" in str(raised.value)


def test_tokens_and_code_stay_out_of_repr(session: aiohttp.ClientSession) -> None:
    """Neither the code nor the tokens show in a repr."""
    tokens = OAuthTokens(access_token="secret-a", refresh_token="secret-r", expires_at=NOW)
    text = repr(make_cloud(session, [], code="654321", tokens=tokens))

    assert "secret-a" not in text
    assert "secret-r" not in text
    assert "654321" not in text
