"""The iSolarCloud client: what it sends, and every branch of what it gets back."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import CallbackResult
from conftest import account_cloud, load_fixture, serve
from const import APPKEY, PASSWORD, SECRET_KEY, USERNAME
from yarl import URL

from sungrow.cloud.auth import AccountLogin
from sungrow.cloud.client import MAX_PAGES
from sungrow.cloud.transport import MAX_REPLY_BYTES
from sungrow.exceptions import (
    ISolarCloudAuthenticationError,
    ISolarCloudConnectionError,
    ISolarCloudRateLimitError,
    ISolarCloudResponseError,
    ISolarCloudTimeoutError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aioresponses import aioresponses

    from sungrow.cloud.client import ISolarCloud
    from sungrow.simulator import CloudSimulator

GATEWAY = "https://gateway.isolarcloud.eu"
LOGIN_URL = f"{GATEWAY}/openapi/login"
PLANTS_URL = f"{GATEWAY}/openapi/getPowerStationList"
REALTIME_URL = f"{GATEWAY}/openapi/getDeviceRealTimeData"
TOKEN = "4242_91bbb35be9f74ccebb0406307ca80874"
OLD_TOKEN = "4242_00000000000000000000000000000000"


@pytest.fixture
def saved_tokens() -> list[str | None]:
    """Every token the client handed over to be stored."""
    return []


@pytest.fixture
def cloud(session: aiohttp.ClientSession, saved_tokens: list[str | None]) -> ISolarCloud:
    """A client of the European gateway with the test credentials and no token yet."""
    return account_cloud(session, GATEWAY, on_token=saved_tokens.append)


async def login(cloud: ISolarCloud) -> None:
    """Log the client in explicitly."""
    assert isinstance(cloud.auth, AccountLogin)
    await cloud.auth.login(cloud.gateway)


def set_token(cloud: ISolarCloud, token: str) -> None:
    """Give the client a token, as if read from the data folder."""
    assert isinstance(cloud.auth, AccountLogin)
    cloud.auth.token = token


def sent(responses: aioresponses, url: str) -> list[dict[str, Any]]:
    """Return what was sent to a URL: headers and the decoded JSON body of each request."""
    return [
        {"headers": call.kwargs["headers"], "body": json.loads(call.kwargs["data"])}
        for call in responses.requests.get(("POST", URL(url)), [])
    ]


def envelope(code: str, message: str = "", data: Any = None) -> dict[str, Any]:
    """Return a gateway answer."""
    return {"req_serial_num": "x", "result_code": code, "result_msg": message, "result_data": data}


def plants_page(count: int, *, start: int = 0, total: Any = None) -> dict[str, Any]:
    """Return one page of getPowerStationList."""
    items = [{"ps_id": 1000 + start + i, "ps_name": f"Plant {start + i}"} for i in range(count)]
    return envelope("1", "success", {"pageList": items, "rowCount": total or count})


async def test_login_sends_the_documented_headers_and_body(
    responses: aioresponses, cloud: ISolarCloud, saved_tokens: list[str | None]
) -> None:
    """Login posts appkey and account with x-access-key and sys_code 901, and keeps the token."""
    responses.post(LOGIN_URL, payload=load_fixture("login"))

    await login(cloud)

    (request,) = sent(responses, LOGIN_URL)
    assert request["headers"]["x-access-key"] == SECRET_KEY
    assert request["headers"]["sys_code"] == "901"
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert "token" not in request["headers"]
    assert request["body"] == {
        "appkey": APPKEY,
        "lang": "_en_US",
        "user_account": USERNAME,
        "user_password": PASSWORD,
    }
    assert isinstance(cloud.auth, AccountLogin)
    assert cloud.auth.token == TOKEN
    assert saved_tokens == [TOKEN]


@pytest.mark.parametrize(
    ("login_state", "advice"),
    [
        ("0", "check the 'password' option"),
        ("-1", "'server' region"),
        ("2", "locked after too many wrong passwords"),
        ("5", "locked by its administrator"),
        ("9", "check the 'username' and 'password' options"),
    ],
)
async def test_rejected_login_says_which_credential_to_check(
    responses: aioresponses,
    cloud: ISolarCloud,
    saved_tokens: list[str | None],
    login_state: str,
    advice: str,
) -> None:
    """A login answered "success" with login_state != 1 is a rejection, explained."""
    fixture = load_fixture("login_wrong_password")
    fixture["result_data"]["login_state"] = login_state
    responses.post(LOGIN_URL, payload=fixture)

    with pytest.raises(ISolarCloudAuthenticationError, match=advice) as raised:
        await login(cloud)

    assert raised.value.code == f"login_state {login_state}"
    assert isinstance(cloud.auth, AccountLogin)
    assert cloud.auth.token is None
    assert saved_tokens == []


async def test_wrong_region_names_the_gateway(responses: aioresponses, cloud: ISolarCloud) -> None:
    """login_state -1 also means "wrong region": the message names the gateway asked."""
    fixture = load_fixture("login_wrong_password")
    fixture["result_data"]["login_state"] = "-1"
    responses.post(LOGIN_URL, payload=fixture)

    with pytest.raises(ISolarCloudAuthenticationError, match=r"gateway\.isolarcloud\.eu"):
        await login(cloud)


@pytest.mark.parametrize(
    ("code", "option"),
    [
        ("E00000", "'appkey'"),
        ("E911", "'secret_key'"),
        ("E912", "'secret_key'"),
        ("E914", "same application"),
        ("E00001", "renew"),
        ("E918", "IP whitelist"),
        ("E919", "user whitelist"),
    ],
)
async def test_credential_errors_name_the_option(
    responses: aioresponses, cloud: ISolarCloud, code: str, option: str
) -> None:
    """Gateway errors about the keys say which option is wrong."""
    responses.post(LOGIN_URL, payload=envelope(code, "rejected"))

    with pytest.raises(ISolarCloudAuthenticationError, match=option) as raised:
        await login(cloud)

    assert raised.value.code == code


async def test_a_kept_token_is_sent_in_body_and_header_without_login(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """With a token from the data folder no login happens; the token goes in body and header."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, payload=load_fixture("power_station_list"))

    plants = await cloud.plants()

    assert [(plant.ps_id, plant.name) for plant in plants] == [("5694969", "Home")]
    assert sent(responses, LOGIN_URL) == []
    (request,) = sent(responses, PLANTS_URL)
    assert request["headers"]["token"] == TOKEN
    assert request["body"]["token"] == TOKEN
    assert request["body"]["appkey"] == APPKEY
    assert request["body"]["curPage"] == 1
    assert request["body"]["size"] == 100


async def test_first_call_logs_in(responses: aioresponses, cloud: ISolarCloud) -> None:
    """Without a token the first call logs in first."""
    responses.post(LOGIN_URL, payload=load_fixture("login"))
    responses.post(PLANTS_URL, payload=load_fixture("power_station_list"))

    await cloud.plants()

    assert len(sent(responses, LOGIN_URL)) == 1
    assert sent(responses, PLANTS_URL)[0]["body"]["token"] == TOKEN


async def test_expired_token_costs_one_login_and_one_retry(
    responses: aioresponses, cloud: ISolarCloud, saved_tokens: list[str | None]
) -> None:
    """E00003 leads to exactly one login, then the same call once more with the new token."""
    set_token(cloud, OLD_TOKEN)
    responses.post(PLANTS_URL, payload=load_fixture("token_invalid"))
    responses.post(LOGIN_URL, payload=load_fixture("login"))
    responses.post(PLANTS_URL, payload=load_fixture("power_station_list"))

    plants = await cloud.plants()

    assert len(plants) == 1
    assert len(sent(responses, LOGIN_URL)) == 1
    first, second = sent(responses, PLANTS_URL)
    assert first["body"]["token"] == OLD_TOKEN
    assert second["body"]["token"] == TOKEN
    assert second["body"]["curPage"] == first["body"]["curPage"]
    assert saved_tokens == [None, TOKEN]  # the refused token is dropped before the login


async def test_token_message_without_the_code_also_means_expired(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """A reply that says er_token_login_invalid under another code is a token error too."""
    set_token(cloud, OLD_TOKEN)
    responses.post(PLANTS_URL, payload=envelope("010", "er_token_login_invalid"))
    responses.post(LOGIN_URL, payload=load_fixture("login"))
    responses.post(PLANTS_URL, payload=load_fixture("power_station_list"))

    assert len(await cloud.plants()) == 1
    assert len(sent(responses, LOGIN_URL)) == 1


async def test_token_rejected_twice_is_an_error_after_one_login(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """A second E00003 right after a fresh login is not answered with another login."""
    set_token(cloud, OLD_TOKEN)
    responses.post(PLANTS_URL, payload=load_fixture("token_invalid"))
    responses.post(LOGIN_URL, payload=load_fixture("login"))
    responses.post(PLANTS_URL, payload=load_fixture("token_invalid"))

    with pytest.raises(ISolarCloudAuthenticationError, match="just issued") as raised:
        await cloud.plants()

    assert raised.value.code == "E00003"
    assert len(sent(responses, LOGIN_URL)) == 1
    assert len(sent(responses, PLANTS_URL)) == 2


@pytest.mark.parametrize(
    ("code", "message"),
    [("E900", "Unauthorized access"), ("010", "er_parameter_value_invalid")],
    ids=["E900-australia", "010-europe"],
)
async def test_an_old_token_refused_under_another_code_is_renewed(
    responses: aioresponses,
    cloud: ISolarCloud,
    saved_tokens: list[str | None],
    code: str,
    message: str,
) -> None:
    """The live cloud answers an expired token with E900 or 010: one login, the call again."""
    set_token(cloud, OLD_TOKEN)
    cloud.start_cycle()
    responses.post(PLANTS_URL, payload=envelope(code, message))
    responses.post(LOGIN_URL, payload=load_fixture("login"))
    responses.post(PLANTS_URL, payload=load_fixture("power_station_list"))

    assert len(await cloud.plants()) == 1

    assert len(sent(responses, LOGIN_URL)) == 1
    assert [call["body"]["token"] for call in sent(responses, PLANTS_URL)] == [OLD_TOKEN, TOKEN]
    assert saved_tokens == [None, TOKEN]


@pytest.mark.parametrize(
    ("code", "message", "meaning"),
    [
        ("E900", "Unauthorized access", "does not allow this application to call"),
        ("010", "Parameters point_id_list size is over 100", "refused the parameters"),
    ],
)
async def test_the_same_refusal_after_a_fresh_login_is_a_verdict_on_the_call(
    responses: aioresponses, cloud: ISolarCloud, code: str, message: str, meaning: str
) -> None:
    """Refused again with the new token: the call's own error, not a credential error."""
    set_token(cloud, OLD_TOKEN)
    cloud.start_cycle()
    responses.post(REALTIME_URL, payload=envelope(code, message))
    responses.post(LOGIN_URL, payload=load_fixture("login"))
    responses.post(REALTIME_URL, payload=envelope(code, message))

    with pytest.raises(ISolarCloudResponseError, match=meaning) as raised:
        await cloud.realtime(device_type=43, ps_keys=["1_43_1_1"], point_ids=["58601"])

    assert not isinstance(raised.value, ISolarCloudAuthenticationError)
    assert raised.value.code == code
    assert len(sent(responses, LOGIN_URL)) == 1


async def test_a_call_judged_refused_costs_no_login_in_later_cycles(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """Once E900 was the verdict on a call, the next cycle's E900 for it is believed at once."""
    set_token(cloud, OLD_TOKEN)
    cloud.start_cycle()
    refused = envelope("E900", "Unauthorized access")
    responses.post(REALTIME_URL, payload=refused)
    responses.post(LOGIN_URL, payload=load_fixture("login"))
    responses.post(REALTIME_URL, payload=refused)
    with pytest.raises(ISolarCloudResponseError):
        await cloud.realtime(device_type=43, ps_keys=["1_43_1_1"], point_ids=["58601"])

    cloud.start_cycle()
    responses.post(REALTIME_URL, payload=refused)
    with pytest.raises(ISolarCloudResponseError, match="E900"):
        await cloud.realtime(device_type=43, ps_keys=["1_43_1_1"], point_ids=["58601"])

    assert len(sent(responses, LOGIN_URL)) == 1
    assert len(sent(responses, REALTIME_URL)) == 3


async def test_a_token_issued_in_this_cycle_is_not_renewed_again(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """At most one extra login per cycle: E900 with this cycle's token is the verdict."""
    cloud.start_cycle()
    responses.post(LOGIN_URL, payload=load_fixture("login"))
    responses.post(REALTIME_URL, payload=envelope("E900", "Unauthorized access"))

    with pytest.raises(ISolarCloudResponseError, match="E900"):
        await cloud.realtime(device_type=43, ps_keys=["1_43_1_1"], point_ids=["58601"])

    assert len(sent(responses, LOGIN_URL)) == 1
    assert len(sent(responses, REALTIME_URL)) == 1


async def test_two_refusals_in_one_cycle_cost_one_login(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """After the cycle's renewal, a second call's E00003 is a verdict, not another login."""
    set_token(cloud, OLD_TOKEN)
    cloud.start_cycle()
    responses.post(PLANTS_URL, payload=load_fixture("token_invalid"))
    responses.post(LOGIN_URL, payload=load_fixture("login"))
    responses.post(PLANTS_URL, payload=load_fixture("power_station_list"))
    responses.post(REALTIME_URL, payload=load_fixture("token_invalid"))
    await cloud.plants()

    with pytest.raises(ISolarCloudAuthenticationError, match="just issued"):
        await cloud.realtime(device_type=11, ps_keys=["1_11_0_0"], point_ids=["83022"])

    assert len(sent(responses, LOGIN_URL)) == 1


async def test_a_login_refused_by_an_error_code_is_a_credential_verdict(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """E900 at login: the app is an OAuth2 one; said once, as a refused credential."""
    responses.post(LOGIN_URL, payload=envelope("E900", "Unauthorized access"))

    with pytest.raises(ISolarCloudAuthenticationError, match="OAuth2 = Yes") as raised:
        await cloud.plants()

    assert raised.value.code == "E900"
    assert len(sent(responses, LOGIN_URL)) == 1


async def test_a_refused_token_is_dropped_even_when_the_new_login_fails(
    responses: aioresponses, cloud: ISolarCloud, saved_tokens: list[str | None]
) -> None:
    """A stored token the cloud refused is never sent again, whatever the new login does."""
    set_token(cloud, OLD_TOKEN)
    responses.post(PLANTS_URL, payload=envelope("E900", "Unauthorized access"))
    responses.post(LOGIN_URL, exception=aiohttp.ClientConnectionError("reset"), repeat=True)

    with pytest.raises(ISolarCloudConnectionError):
        await cloud.plants()

    assert saved_tokens == [None]
    assert isinstance(cloud.auth, AccountLogin)
    assert cloud.auth.token is None


async def test_concurrent_expired_calls_share_one_login(
    session: aiohttp.ClientSession, simulator: CloudSimulator, cloud_url: str
) -> None:
    """Two calls that meet the same expired token at once cause a single login."""
    cloud = account_cloud(session, cloud_url)
    await login(cloud)
    simulator.expire_tokens()

    await asyncio.gather(cloud.plants(), cloud.plants(), cloud.plants())

    assert len(simulator.calls_to("/openapi/login")) == 2
    codes = [call.result_code for call in simulator.calls_to("/openapi/getPowerStationList")]
    assert codes == ["E00003"] * 3 + ["1"] * 3


@pytest.mark.parametrize("code", ["E999", "E998", "E901", "E916", "E903"])
async def test_quota_errors_never_trigger_a_login(
    responses: aioresponses, cloud: ISolarCloud, code: str
) -> None:
    """Quota and frequency errors are raised with their code, and cost no login."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, payload=envelope(code, "limit"))

    with pytest.raises(ISolarCloudRateLimitError, match=code) as raised:
        await cloud.plants()

    assert raised.value.code == code
    assert sent(responses, LOGIN_URL) == []


async def test_unknown_error_envelope_keeps_code_and_message(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """An error code we do not know is reported with the cloud's code and message."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, payload=envelope("011", "er_sql_exception"))

    with pytest.raises(ISolarCloudResponseError, match="011 er_sql_exception") as raised:
        await cloud.plants()

    assert raised.value.code == "011"
    assert sent(responses, LOGIN_URL) == []


async def test_http_error_status(responses: aioresponses, cloud: ISolarCloud) -> None:
    """A 5xx answer is tried three times, then a response error carrying the status."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, status=503, body="Service Unavailable", repeat=True)

    with pytest.raises(ISolarCloudResponseError, match="HTTP 503") as raised:
        await cloud.plants()

    assert raised.value.code == "HTTP 503"
    assert len(sent(responses, PLANTS_URL)) == 3


async def test_a_client_error_status_is_not_retried(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """A 4xx answer (other than 429) will not change on a retry."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, status=404, body="Not Found", repeat=True)

    with pytest.raises(ISolarCloudResponseError, match="HTTP 404"):
        await cloud.plants()

    assert len(sent(responses, PLANTS_URL)) == 1


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 502, "body": "Bad Gateway"},
        {"status": 429, "body": "Too Many Requests"},
        {"exception": TimeoutError()},
        {"exception": aiohttp.ClientConnectionError("reset")},
        {"body": "<html>busy</html>"},
        {"payload": {"result_code": "-1", "result_msg": "error"}},
        {"payload": {"result_code": "000", "result_msg": "er_unknown_exception"}},
    ],
    ids=["502", "429", "timeout", "reset", "html", "internal-error", "unknown-exception"],
)
async def test_a_passing_fault_is_retried_then_succeeds(
    responses: aioresponses, cloud: ISolarCloud, failure: dict[str, Any]
) -> None:
    """Network faults, 5xx, garbage and internal errors are tried again, and recover."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, **failure)
    responses.post(PLANTS_URL, payload=load_fixture("power_station_list"))

    assert len(await cloud.plants()) == 1
    assert len(sent(responses, PLANTS_URL)) == 2
    assert sent(responses, LOGIN_URL) == []


async def test_retries_back_off_exponentially_with_jitter(
    responses: aioresponses, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two retries wait about 1x and 2x the retry delay, each with ±50 % jitter."""
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr("sungrow.cloud.transport.asyncio.sleep", record)
    cloud = account_cloud(session, GATEWAY, token=TOKEN, retry_delay=2.0)
    responses.post(PLANTS_URL, status=500, body="", repeat=True)

    with pytest.raises(ISolarCloudResponseError):
        await cloud.plants()

    assert len(delays) == 2
    assert 1.0 <= delays[0] <= 3.0
    assert 2.0 <= delays[1] <= 6.0


async def test_timeout(responses: aioresponses, cloud: ISolarCloud) -> None:
    """A request that keeps timing out raises the timeout error after three tries."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, exception=TimeoutError(), repeat=True)

    with pytest.raises(ISolarCloudTimeoutError, match="did not answer"):
        await cloud.plants()


async def test_connection_error(responses: aioresponses, cloud: ISolarCloud) -> None:
    """A network failure raises the connection error naming the host."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, exception=aiohttp.ClientConnectionError("refused"), repeat=True)

    with pytest.raises(ISolarCloudConnectionError, match=r"gateway\.isolarcloud\.eu"):
        await cloud.plants()


async def test_body_that_is_not_json(responses: aioresponses, cloud: ISolarCloud) -> None:
    """An HTML error page instead of JSON is a response error."""
    set_token(cloud, TOKEN)
    responses.post(
        PLANTS_URL, body="<html>502 Bad Gateway</html>", content_type="text/html", repeat=True
    )

    with pytest.raises(ISolarCloudResponseError, match="not JSON"):
        await cloud.plants()


async def test_json_that_is_not_an_envelope(responses: aioresponses, cloud: ISolarCloud) -> None:
    """A JSON list is not an envelope."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, payload=[1, 2], repeat=True)

    with pytest.raises(ISolarCloudResponseError, match="not an envelope"):
        await cloud.plants()


async def test_plants_reads_every_page(responses: aioresponses, cloud: ISolarCloud) -> None:
    """A second page is asked for while fewer plants than rowCount have arrived."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, payload=plants_page(100, total=150))
    responses.post(PLANTS_URL, payload=plants_page(50, start=100, total=150))

    plants = await cloud.plants()

    assert len(plants) == 150
    assert len({plant.ps_id for plant in plants}) == 150
    assert [request["body"]["curPage"] for request in sent(responses, PLANTS_URL)] == [1, 2]


async def test_realtime_matches_rows_by_ps_key_and_keeps_missing_values_missing(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """Rows come back sorted, not in request order; null and "--" are no value, not 0."""
    set_token(cloud, TOKEN)
    responses.post(REALTIME_URL, payload=load_fixture("device_realtime_plant"))

    readings = await cloud.realtime(
        device_type=11,
        ps_keys=["972018_11_0_0", "970645_11_0_0"],
        point_ids=["83022", "83033", "83252"],
    )

    (request,) = sent(responses, REALTIME_URL)
    assert request["body"]["device_type"] == 11
    assert request["body"]["ps_key_list"] == ["972018_11_0_0", "970645_11_0_0"]
    assert request["body"]["point_id_list"] == ["83022", "83033", "83252"]
    home, garage = readings["972018_11_0_0"], readings["970645_11_0_0"]
    assert home.values == {"83022": 20200.0, "83033": 9276.0, "83252": 0.791}
    assert garage.values == {"83022": 108500.0, "83033": None, "83252": None}
    assert home.device_time is not None
    assert home.device_time.isoformat() == "2024-11-27T15:10:00"


async def test_realtime_splits_more_than_100_point_ids(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """150 point ids go out as 100 + 50, and the values come back merged."""
    set_token(cloud, TOKEN)
    point_ids = [str(83000 + i) for i in range(150)]

    def answer(ids: list[str]) -> dict[str, Any]:
        point = {"ps_key": "1_11_0_0", "device_time": "20260621120000"}
        point.update({f"p{point_id}": "1.0" for point_id in ids})
        return envelope("1", "success", {"device_point_list": [{"device_point": point}]})

    responses.post(REALTIME_URL, payload=answer(point_ids[:100]))
    responses.post(REALTIME_URL, payload=answer(point_ids[100:]))

    readings = await cloud.realtime(device_type=11, ps_keys=["1_11_0_0"], point_ids=point_ids)

    chunks = [request["body"]["point_id_list"] for request in sent(responses, REALTIME_URL)]
    assert [len(chunk) for chunk in chunks] == [100, 50]
    assert readings["1_11_0_0"].values == dict.fromkeys(point_ids, 1.0)


async def test_the_timeout_also_covers_reading_the_body(session: aiohttp.ClientSession) -> None:
    """A gateway that sends its headers and then stalls the body still times out."""
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b'{"result_code":')
        await release.wait()
        return response

    app = web.Application()
    app.router.add_post("/openapi/getPowerStationList", stall)
    async with serve(app) as url:
        cloud = account_cloud(session, url, token=TOKEN, request_timeout=0.1)
        try:
            with pytest.raises(ISolarCloudTimeoutError):
                await cloud.plants()
        finally:
            release.set()


async def test_a_gateway_redirect_is_not_followed_with_the_credentials(
    session: aiohttp.ClientSession,
) -> None:
    """A 307 would resend the secret key and the token elsewhere: it is an error, not retried."""
    gateway_calls: list[str] = []
    elsewhere_calls: list[str] = []

    async def steal(request: web.Request) -> web.Response:
        elsewhere_calls.append(request.path)
        return web.json_response(load_fixture("power_station_list"))

    elsewhere = web.Application()
    elsewhere.router.add_route("*", "/{tail:.*}", steal)
    async with serve(elsewhere) as elsewhere_url:
        thief = elsewhere_url.replace("//", "//thief:hunter2@")

        async def redirect(request: web.Request) -> web.Response:
            gateway_calls.append(request.path)
            raise web.HTTPTemporaryRedirect(f"{thief}/openapi/getPowerStationList")

        gateway = web.Application()
        gateway.router.add_post("/openapi/getPowerStationList", redirect)
        async with serve(gateway) as url:
            cloud = account_cloud(session, url, token=TOKEN)
            with pytest.raises(ISolarCloudResponseError) as raised:
                await cloud.plants()

    assert elsewhere_calls == []
    assert gateway_calls == ["/openapi/getPowerStationList"]
    assert raised.value.code == "HTTP 307"
    message = str(raised.value)
    assert "redirect (HTTP 307)" in message
    assert "check the 'server_url' option, or 'server'" in message
    assert "thief" not in message
    assert "hunter2" not in message


async def test_redirects_are_refused_at_the_request(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """Every call asks aiohttp not to follow redirects."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, payload=load_fixture("power_station_list"))

    await cloud.plants()

    (call,) = responses.requests[("POST", URL(PLANTS_URL))]
    assert call.kwargs["allow_redirects"] is False


@asynccontextmanager
async def gateway_answering(body: bytes, calls: list[str]) -> AsyncIterator[str]:
    """Serve a gateway that answers the plant list with `body`, recording each call."""

    async def answer(request: web.Request) -> web.Response:
        calls.append(request.path)
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/openapi/getPowerStationList", answer)
    async with serve(app) as url:
        yield url


async def test_a_reply_larger_than_4_mib_is_refused(session: aiohttp.ClientSession) -> None:
    """A body of 4 MiB + 1 byte is not read to the end: a response error, retried as garbage."""
    calls: list[str] = []
    async with gateway_answering(b" " * (MAX_REPLY_BYTES + 1), calls) as url:
        cloud = account_cloud(session, url, token=TOKEN)
        with pytest.raises(
            ISolarCloudResponseError,
            match=r"^iSolarCloud answered /openapi/getPowerStationList with more than 4 MiB$",
        ):
            await cloud.plants()

    assert len(calls) == 3


async def test_a_reply_of_exactly_4_mib_is_read(session: aiohttp.ClientSession) -> None:
    """The cap is 4 MiB: a reply of exactly that size is a normal reply."""
    calls: list[str] = []
    text = json.dumps(load_fixture("power_station_list"))
    async with gateway_answering(text.encode().ljust(MAX_REPLY_BYTES), calls) as url:
        plants = await account_cloud(session, url, token=TOKEN).plants()

    assert [plant.ps_id for plant in plants] == ["5694969"]
    assert len(calls) == 1


async def test_a_reply_that_is_not_utf8_is_not_json(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """Bytes that are not UTF-8 are an unusable body, not a network failure."""
    set_token(cloud, TOKEN)
    body = b'{"result_code": "1", "result_msg": "\xff", "result_data": {"pageList": []}}'
    responses.post(PLANTS_URL, body=body, content_type="application/json", repeat=True)

    with pytest.raises(ISolarCloudResponseError, match="with something that is not JSON"):
        await cloud.plants()


@pytest.mark.parametrize(
    ("status", "message"),
    [(200, "with something that is not JSON"), (404, "with HTTP 404$")],
    ids=["envelope", "error-status"],
)
async def test_json_nested_too_deeply_is_not_json(
    responses: aioresponses, cloud: ISolarCloud, status: int, message: str
) -> None:
    """A body that makes the JSON parser recurse too deep is an unusable body."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, status=status, body="[" * 100_000, repeat=True)

    with pytest.raises(ISolarCloudResponseError, match=message):
        await cloud.plants()


@pytest.mark.usefixtures("responses")
async def test_the_host_in_messages_never_shows_the_user_info(
    session: aiohttp.ClientSession,
) -> None:
    """A gateway URL with a user name and password is named by its host and port only."""
    cloud = account_cloud(session, "https://alice:hunter2@gateway.isolarcloud.eu:8443")

    with pytest.raises(ISolarCloudConnectionError) as raised:
        await cloud.plants()

    message = str(raised.value)
    assert message.startswith("Cannot reach iSolarCloud at gateway.isolarcloud.eu:8443 (")
    assert "alice" not in message
    assert "hunter2" not in message


async def test_a_cloud_that_ignores_the_page_number_costs_two_calls(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """Page 2 repeating page 1 adds nothing new: the listing stops there, without duplicates."""
    set_token(cloud, TOKEN)
    responses.post(PLANTS_URL, payload=plants_page(100, total=5000), repeat=True)

    plants = await cloud.plants()

    assert len(plants) == 100
    assert len({plant.ps_id for plant in plants}) == 100
    assert [request["body"]["curPage"] for request in sent(responses, PLANTS_URL)] == [1, 2]


@pytest.mark.parametrize(
    "row_count",
    [None, -1, 10_001, "150", 150.0],
    ids=["missing", "negative", "absurd", "text", "float"],
)
async def test_an_unbelievable_row_count_pages_until_a_page_is_not_full(
    responses: aioresponses, cloud: ISolarCloud, row_count: Any
) -> None:
    """Without a believable rowCount, full pages mean "more to come", a short one "the end"."""
    set_token(cloud, TOKEN)
    first, second = plants_page(100), plants_page(20, start=100)
    first["result_data"]["rowCount"] = second["result_data"]["rowCount"] = row_count
    responses.post(PLANTS_URL, payload=first)
    responses.post(PLANTS_URL, payload=second)

    plants = await cloud.plants()

    assert len(plants) == 120
    assert [request["body"]["curPage"] for request in sent(responses, PLANTS_URL)] == [1, 2]


async def test_paging_stops_after_the_last_allowed_page(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """A cloud that keeps sending new full pages is asked MAX_PAGES times, not more."""
    set_token(cloud, TOKEN)

    def next_page(_url: URL, **kwargs: Any) -> CallbackResult:
        page = json.loads(kwargs["data"])["curPage"]
        return CallbackResult(payload=plants_page(100, start=100 * page, total=10_000))

    responses.post(PLANTS_URL, callback=next_page, repeat=True)

    plants = await cloud.plants()

    assert len(sent(responses, PLANTS_URL)) == MAX_PAGES == 50
    assert len(plants) == 5000


async def test_plants_with_an_unsafe_ps_id_are_skipped(
    responses: aioresponses, cloud: ISolarCloud
) -> None:
    """A ps_id that is not ASCII digits never becomes a plant (nor an entity, nor a path)."""
    set_token(cloud, TOKEN)
    items = [
        {"ps_id": "x/../../services/homeassistant/stop?", "ps_name": "Trap"},
        {"ps_id": "²", "ps_name": "Superscript"},
        {"ps_id": -5, "ps_name": "Negative"},
        {"ps_id": 42, "ps_name": "Good"},
    ]
    responses.post(PLANTS_URL, payload=envelope("1", "success", {"pageList": items}))

    plants = await cloud.plants()

    assert [(plant.ps_id, plant.name) for plant in plants] == [("42", "Good")]


def test_secrets_stay_out_of_repr(cloud: ISolarCloud) -> None:
    """The client's repr shows neither the secret key, the password nor the token."""
    set_token(cloud, TOKEN)
    text = repr(cloud)
    assert SECRET_KEY not in text
    assert PASSWORD not in text
    assert TOKEN not in text
