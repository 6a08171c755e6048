"""The simulator answers raw requests the way the documented gateway does (not our client)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from const import APPKEY, PASSWORD, PLANT_PS_KEY, PS_ID, SECRET_KEY, USERNAME

from sungrow.simulator import (
    AUSTRALIAN_EXPIRY,
    EUROPEAN_EXPIRY,
    CloudSimulator,
    Fault,
    Quirks,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import Clock

HEADERS = {"x-access-key": SECRET_KEY, "sys_code": "901"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A bare HTTP session."""
    async with aiohttp.ClientSession() as session:
        yield session


class Gateway:
    """Posts raw JSON to the simulator and returns the decoded envelope."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        """Talk to the simulator at `url`."""
        self.http, self.url = http, url

    async def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """POST a JSON body; return the JSON answer."""
        async with self.http.post(
            self.url + path, json=body, headers=HEADERS if headers is None else headers
        ) as response:
            assert response.status == 200
            answer: dict[str, Any] = await response.json()
            return answer

    async def token(self) -> str:
        """Log in with the test account."""
        answer = await self.post(
            "/openapi/login",
            {"appkey": APPKEY, "user_account": USERNAME, "user_password": PASSWORD},
        )
        token: str = answer["result_data"]["token"]
        return token


@pytest.fixture
def gateway(http: aiohttp.ClientSession, cloud_url: str) -> Gateway:
    """The simulator behind a raw client."""
    return Gateway(http, cloud_url)


async def test_envelope_and_token_format(gateway: Gateway) -> None:
    """Every answer has the four envelope keys; the token looks like <user_id>_<32 hex>."""
    answer = await gateway.post(
        "/openapi/login", {"appkey": APPKEY, "user_account": USERNAME, "user_password": PASSWORD}
    )

    assert set(answer) == {"req_serial_num", "result_code", "result_msg", "result_data"}
    assert len(answer["req_serial_num"]) == 32
    assert answer["result_code"] == "1"
    data = answer["result_data"]
    assert data["login_state"] == "1"
    user_id, _, digest = data["token"].partition("_")
    assert user_id == data["user_id"]
    assert len(digest) == 32
    assert int(digest, 16) >= 0


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        ({"sys_code": "901"}, {"appkey": APPKEY}, "E911"),
        ({"x-access-key": "nope", "sys_code": "901"}, {"appkey": APPKEY}, "E912"),
        (HEADERS, {}, "001"),
        (HEADERS, {"appkey": "unknown"}, "E00000"),
        ({"x-access-key": SECRET_KEY}, {"appkey": APPKEY}, "003"),
        (HEADERS, {"appkey": APPKEY, "lang": "en_US"}, "010"),
        (HEADERS, {"appkey": APPKEY, "curPage": 1, "size": 10}, "002"),
        (HEADERS, {"appkey": APPKEY, "token": "1_x", "curPage": 1, "size": 10}, "E00003"),
    ],
)
async def test_checks_in_the_gateway_order(
    gateway: Gateway, headers: dict[str, str], body: dict[str, Any], code: str
) -> None:
    """Access key, appkey, sys_code, lang and token errors carry the documented codes."""
    answer = await gateway.post("/openapi/getPowerStationList", body, headers)

    assert answer["result_code"] == code
    assert answer["result_data"] is None


async def test_mismatched_appkey_and_access_key(
    simulator: CloudSimulator, gateway: Gateway
) -> None:
    """An appkey of another application than the access key's is E914."""
    from sungrow.simulator import SimApp  # noqa: PLC0415

    simulator.apps.append(SimApp(appkey="OTHERAPPKEY", access_key="other-access"))

    answer = await gateway.post("/openapi/login", {"appkey": "OTHERAPPKEY"})

    assert answer["result_code"] == "E914"


async def test_unknown_path(gateway: Gateway) -> None:
    """An endpoint that does not exist is E996."""
    answer = await gateway.post("/openapi/nope", {"appkey": APPKEY})

    assert answer["result_code"] == "E996"


@pytest.mark.parametrize(
    ("account", "password", "state"),
    [("nobody@example.org", PASSWORD, "-1"), (USERNAME, "wrong", "0")],
)
async def test_rejected_login_is_a_success_envelope_with_login_state(
    gateway: Gateway, account: str, password: str, state: str
) -> None:
    """The cloud says "success" and puts the rejection in login_state, without a token."""
    answer = await gateway.post(
        "/openapi/login", {"appkey": APPKEY, "user_account": account, "user_password": password}
    )

    assert answer["result_code"] == "1"
    assert answer["result_data"]["login_state"] == state
    assert "token" not in answer["result_data"]


async def test_repeated_wrong_passwords_lock_the_account(gateway: Gateway) -> None:
    """After five wrong passwords even the right one gets login_state 2."""
    wrong = {"appkey": APPKEY, "user_account": USERNAME, "user_password": "wrong"}
    states = [
        (await gateway.post("/openapi/login", wrong))["result_data"]["login_state"]
        for _ in range(5)
    ]
    right = {**wrong, "user_password": PASSWORD}
    locked = await gateway.post("/openapi/login", right)

    assert states == ["0"] * 5
    assert locked["result_data"]["login_state"] == "2"


async def test_token_accepted_in_body_or_header_and_expires(
    simulator: CloudSimulator, gateway: Gateway, clock: Clock
) -> None:
    """The token works as body field or header; 24 h without a call ends it (E00003)."""
    token = await gateway.token()
    paging = {"appkey": APPKEY, "curPage": 1, "size": 10}

    by_body = await gateway.post("/openapi/getPowerStationList", {**paging, "token": token})
    by_header = await gateway.post(
        "/openapi/getPowerStationList", paging, {**HEADERS, "token": token}
    )
    clock.now += simulator.token_ttl
    expired = await gateway.post("/openapi/getPowerStationList", {**paging, "token": token})

    assert by_body["result_code"] == by_header["result_code"] == "1"
    assert by_body["result_data"]["rowCount"] == 1
    assert by_body["result_data"]["pageList"][0]["ps_id"] == PS_ID
    assert expired["result_code"] == "E00003"
    assert expired["result_msg"] == "er_token_login_invalid"


@pytest.mark.parametrize("expiry", [AUSTRALIAN_EXPIRY, EUROPEAN_EXPIRY], ids=["E900", "010"])
async def test_quirk_an_expired_token_answered_as_the_live_cloud_did(
    simulator: CloudSimulator, gateway: Gateway, expiry: tuple[str, str]
) -> None:
    """Live records: an expired token got E900 (Australia) or 010 (Europe), not E00003."""
    simulator.quirks = Quirks(expired_token=expiry)
    token = await gateway.token()
    simulator.expire_tokens()

    answer = await gateway.post(
        "/openapi/getPowerStationList", {"appkey": APPKEY, "token": token, "curPage": 1, "size": 9}
    )

    assert (answer["result_code"], answer["result_msg"]) == expiry


async def test_quirk_a_device_type_outside_the_plan_is_refused(
    simulator: CloudSimulator, gateway: Gateway
) -> None:
    """The application's plan may not cover a device type: its real-time data is E900."""
    simulator.quirks = Quirks(plan_excludes=frozenset({43}))
    token = await gateway.token()
    body = {"appkey": APPKEY, "token": token, "point_id_list": ["58604"]}

    battery = await gateway.post(
        "/openapi/getDeviceRealTimeData",
        {**body, "device_type": 43, "ps_key_list": [f"{PS_ID}_43_1_1"]},
    )
    plant = await gateway.post(
        "/openapi/getDeviceRealTimeData",
        {**body, "device_type": 11, "ps_key_list": [PLANT_PS_KEY], "point_id_list": ["83022"]},
    )

    assert (battery["result_code"], battery["result_msg"]) == ("E900", "Unauthorized access")
    assert plant["result_code"] == "1"


async def test_quirk_an_impossible_counter_value(
    simulator: CloudSimulator, gateway: Gateway
) -> None:
    """A live plant reported a total load consumption of -478739.743 Wh."""
    simulator.quirks = Quirks(point_values={(11, 83124): -478739.743})
    token = await gateway.token()

    answer = await gateway.post(
        "/openapi/getDeviceRealTimeData",
        {
            "appkey": APPKEY,
            "token": token,
            "device_type": 11,
            "ps_key_list": [PLANT_PS_KEY],
            "point_id_list": ["83124", "83022"],
        },
    )

    point = answer["result_data"]["device_point_list"][0]["device_point"]
    assert point["p83124"] == "-478739.7"
    assert float(point["p83022"]) > 0


async def test_paging_is_required(gateway: Gateway) -> None:
    """GetPowerStationList without curPage/size is 009."""
    token = await gateway.token()

    answer = await gateway.post("/openapi/getPowerStationList", {"appkey": APPKEY, "token": token})

    assert answer["result_code"] == "009"


async def test_device_list(gateway: Gateway) -> None:
    """The device list shows the hybrid plant's four devices with string dev_status."""
    token = await gateway.token()

    answer = await gateway.post(
        "/openapi/getDeviceList",
        {
            "appkey": APPKEY,
            "token": token,
            "ps_id": str(PS_ID),
            "curPage": 1,
            "size": 100,
            "lang": "_en_US",
        },
    )

    devices = answer["result_data"]["pageList"]
    assert [device["device_type"] for device in devices] == [14, 43, 7, 22]
    assert all(device["ps_key"].startswith(f"{PS_ID}_") for device in devices)
    assert devices[0]["type_name"] == "Energy Storage System"
    assert devices[0]["dev_status"] == "1"


async def test_realtime_values_are_strings_and_only_those_asked_for(gateway: Gateway) -> None:
    """Values are strings, the battery level a fraction; unknown points are null."""
    token = await gateway.token()

    answer = await gateway.post(
        "/openapi/getDeviceRealTimeData",
        {
            "appkey": APPKEY,
            "token": token,
            "device_type": 11,
            "ps_key_list": [PLANT_PS_KEY],
            "point_id_list": ["83022", "83252", "99999"],
        },
    )

    data = answer["result_data"]
    assert data["fail_ps_key_list"] == []
    (entry,) = data["device_point_list"]
    point = entry["device_point"]
    assert point["ps_key"] == PLANT_PS_KEY
    assert point["device_time"] == "20260621120000"
    assert isinstance(point["p83022"], str)
    assert re.fullmatch(r"\d+\.\d", point["p83022"])
    assert 0 <= float(point["p83252"]) <= 1
    assert point["p99999"] is None
    assert not {key for key in point if key.startswith("p8")} - {"p83022", "p83252"}


async def test_realtime_rows_are_sorted_by_ps_key(
    simulator: CloudSimulator, gateway: Gateway
) -> None:
    """Rows come back sorted by ps_key, whatever the request order; foreign keys fail."""
    from sungrow.simulator import hybrid_plant  # noqa: PLC0415

    simulator.plants.append(hybrid_plant(1000001, "Cabin"))
    simulator.accounts[0].ps_ids = (PS_ID, 1000001)
    token = await gateway.token()

    answer = await gateway.post(
        "/openapi/getDeviceRealTimeData",
        {
            "appkey": APPKEY,
            "token": token,
            "device_type": "11",
            "ps_key_list": [PLANT_PS_KEY, "1000001_11_0_0", "1_11_0_0", f"{PS_ID}_14_1_1"],
            "point_id_list": ["83033"],
        },
    )

    keys = [entry["device_point"]["ps_key"] for entry in answer["result_data"]["device_point_list"]]
    assert keys == ["1000001_11_0_0", PLANT_PS_KEY]
    assert sorted(answer["result_data"]["fail_ps_key_list"]) == ["1_11_0_0", f"{PS_ID}_14_1_1"]


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"point_id_list": [str(i) for i in range(101)]}, "010", "size is over 100"),
        ({"point_id_list": ["p83022"]}, "010", "er_parameter_value_invalid"),
        ({"ps_key_list": None}, "009", "er_missing_parameter"),
        ({"device_type": None}, "009", "er_missing_parameter"),
    ],
)
async def test_realtime_parameter_errors(
    gateway: Gateway, changes: dict[str, Any], code: str, message: str
) -> None:
    """Over 100 point ids, prefixed ids or missing keys are refused as documented."""
    token = await gateway.token()
    body = {
        "appkey": APPKEY,
        "token": token,
        "device_type": 11,
        "ps_key_list": [PLANT_PS_KEY],
        "point_id_list": ["83022"],
    }
    body.update(changes)

    answer = await gateway.post(
        "/openapi/getDeviceRealTimeData", {k: v for k, v in body.items() if v is not None}
    )

    assert answer["result_code"] == code
    assert message in answer["result_msg"]


async def test_hourly_quota(simulator: CloudSimulator, gateway: Gateway) -> None:
    """Beyond the hourly quota every call is E999."""
    simulator.hourly_quota = 1
    await gateway.token()

    answer = await gateway.post("/openapi/login", {"appkey": APPKEY})

    assert answer["result_code"] == "E999"
    assert answer["result_msg"] == "er_hour_call_api_times_upper_limit"


async def test_scripted_faults(
    simulator: CloudSimulator, gateway: Gateway, http: aiohttp.ClientSession, cloud_url: str
) -> None:
    """A queued fault answers the next matching call instead of the normal answer."""
    simulator.faults.append(Fault(path="/openapi/login", code="E901"))
    simulator.faults.append(Fault(path="/openapi/login", http_status=502, text="Bad Gateway"))

    first = await gateway.post("/openapi/login", {"appkey": APPKEY})
    async with http.post(cloud_url + "/openapi/login", json={}, headers=HEADERS) as second:
        status, text = second.status, await second.text()

    assert first["result_code"] == "E901"
    assert (status, text) == (502, "Bad Gateway")
    assert simulator.faults == []


def test_the_day_repeats_so_lifetime_counters_only_grow() -> None:
    """Across midnight every lifetime counter grows; daily counters restart near 0."""
    from datetime import datetime  # noqa: PLC0415

    from sungrow.simulator import Household  # noqa: PLC0415

    household = Household()
    before = household.snapshot(datetime(2026, 6, 21, 23, 55))  # noqa: DTZ001 - local time
    after = household.snapshot(datetime(2026, 6, 22, 0, 0))  # noqa: DTZ001 - local time

    assert all(after.lifetime[name] >= before.lifetime[name] for name in before.lifetime)
    assert after.today == dict.fromkeys(after.today, 0)
    assert before.today["pv"] > 20000
    assert 0.0 <= min(step.soc for step in household.day) <= max(s.soc for s in household.day) <= 1
