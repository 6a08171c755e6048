"""The simulator's OAuth2 flavour and its newer device types, driven by raw requests."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from const import APPKEY, PLANT_PS_KEY, PS_ID, SECRET_KEY, USER_ID, USERNAME

from sungrow.simulator import (
    AUSTRALIAN_EXPIRY,
    CloudSimulator,
    Household,
    Quirks,
    RefreshRefusal,
    SimApp,
    hybrid_plant,
    micro_plant,
    pv_plant,
)
from sungrow.simulator.catalog import POINTS

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import Clock

REDIRECT = "https://example.org/auth/external/callback"
HEADERS = {"x-access-key": SECRET_KEY}
PV_PS_ID = 7000001
MICRO_PS_ID = 7000002
CHARGER_PS_ID = 7000003
TOKEN_FIELDS = {"access_token", "refresh_token", "token_type", "expires_in"}


@pytest.fixture
def oauth_simulator(simulator: CloudSimulator) -> CloudSimulator:
    """The test gateway with an OAuth application and three more plants on the account."""
    simulator.apps[0] = SimApp(
        appkey=APPKEY, access_key=SECRET_KEY, oauth=True, redirect_uri=REDIRECT
    )
    simulator.plants += [
        pv_plant(PV_PS_ID, "Barn"),
        micro_plant(MICRO_PS_ID, "Shed", count=4),
        hybrid_plant(CHARGER_PS_ID, "Garage", charger=True),
    ]
    simulator.accounts[0].ps_ids = (PS_ID, PV_PS_ID, MICRO_PS_ID, CHARGER_PS_ID)
    return simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A bare HTTP session."""
    async with aiohttp.ClientSession() as session:
        yield session


class OAuthClient:
    """Posts raw JSON to the OAuth paths and returns the decoded answer."""

    def __init__(self, http: aiohttp.ClientSession, url: str, simulator: CloudSimulator) -> None:
        """Talk to the simulator at `url`."""
        self.http, self.url, self.simulator = http, url, simulator
        self.access_token: str | None = None

    async def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """POST `body` plus the appkey, with the bearer token once there is one."""
        sent = dict(HEADERS if headers is None else headers)
        if self.access_token and headers is None:
            sent["Authorization"] = f"Bearer {self.access_token}"
        async with self.http.post(
            self.url + path, json={"appkey": APPKEY, **body}, headers=sent
        ) as response:
            assert response.status == 200
            answer: dict[str, Any] = await response.json()
            return answer

    async def exchange(self, code: str, redirect_uri: str = REDIRECT) -> dict[str, Any]:
        """Trade an authorization code for tokens."""
        body = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        return await self.post("/openapi/apiManage/token", body)

    async def log_in(self, ps_ids: tuple[int, ...] | None = None) -> dict[str, Any]:
        """Authorise the app in the "browser", trade the code, keep the access token."""
        answer = await self.exchange(self.simulator.authorize(USERNAME, APPKEY, ps_ids=ps_ids))
        self.access_token = answer["access_token"]
        return answer

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Trade a refresh token for new tokens."""
        return await self.post("/openapi/apiManage/refreshToken", {"refresh_token": refresh_token})


@pytest.fixture
def client(
    oauth_simulator: CloudSimulator, http: aiohttp.ClientSession, cloud_url: str
) -> OAuthClient:
    """A raw client of the OAuth gateway."""
    return OAuthClient(http, cloud_url, oauth_simulator)


def assert_invalid_grant(answer: dict[str, Any], code: str) -> None:
    """Check an OAuth error in both styles: envelope and OAuth fields."""
    assert answer["result_code"] == code
    assert answer["error"] == "invalid_grant"
    assert answer["error_description"] == answer["result_msg"]
    assert answer["result_data"] is None
    assert "req_serial_num" in answer


async def test_code_exchange_answers_in_both_styles(client: OAuthClient) -> None:
    """The OAuth fields come at the top level and again, with the plants, in result_data."""
    answer = await client.log_in()

    assert answer["result_code"] == "1"
    data = answer["result_data"]
    assert {key: answer[key] for key in TOKEN_FIELDS} == {key: data[key] for key in TOKEN_FIELDS}
    assert answer["token_type"] == "bearer"
    assert answer["expires_in"] == 172799
    assert uuid.UUID(answer["access_token"]) != uuid.UUID(answer["refresh_token"])
    assert data["auth_ps_list"] == [str(PS_ID), str(PV_PS_ID), str(MICRO_PS_ID), str(CHARGER_PS_ID)]
    assert data["auth_user"] == USER_ID


def test_codes_are_six_digits_and_need_an_oauth_app(oauth_simulator: CloudSimulator) -> None:
    """A code is six digits; approving an application without OAuth is a test mistake."""
    code = oauth_simulator.authorize(USERNAME, APPKEY)
    oauth_simulator.apps.append(SimApp(appkey="V1APP", access_key="v1-access"))

    assert re.fullmatch(r"\d{6}", code)
    with pytest.raises(ValueError, match="OAuth application"):
        oauth_simulator.authorize(USERNAME, "V1APP")
    with pytest.raises(ValueError, match="redirect_uri"):
        SimApp(appkey="X", access_key="Y", oauth=True)


async def test_a_code_works_once(client: OAuthClient, oauth_simulator: CloudSimulator) -> None:
    """The second exchange of the same code is an invalid grant, like an unknown code."""
    code = oauth_simulator.authorize(USERNAME, APPKEY)

    first = await client.exchange(code)
    second = await client.exchange(code)
    unknown = await client.exchange("000000" if code != "000000" else "000001")

    assert first["result_code"] == "1"
    assert_invalid_grant(second, "-2")
    assert_invalid_grant(unknown, "-2")


async def test_redirect_uri_mismatch(client: OAuthClient, oauth_simulator: CloudSimulator) -> None:
    """Another redirect URI than the registered one is result_code 5 (BUGJAM #6)."""
    code = oauth_simulator.authorize(USERNAME, APPKEY)

    answer = await client.exchange(code, "https://example.org/other")

    assert_invalid_grant(answer, "5")
    assert answer["result_msg"] == "Redirect URI mismatch."


async def test_refresh_rotates_both_tokens(client: OAuthClient) -> None:
    """A refresh gives a new access and refresh token; the old refresh token dies at once."""
    tokens = await client.log_in()

    renewed = await client.refresh(tokens["refresh_token"])
    replayed = await client.refresh(tokens["refresh_token"])
    again = await client.refresh(renewed["refresh_token"])

    assert renewed["result_code"] == "1"
    assert renewed["result_data"]["code"] == "1"
    assert renewed["access_token"] == renewed["result_data"]["access_token"]
    assert renewed["access_token"] != tokens["access_token"]
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert_invalid_grant(replayed, "-2")
    assert again["result_code"] == "1"


async def test_refresh_token_lives_thirty_days(client: OAuthClient, clock: Clock) -> None:
    """After 30 days the refresh token is refused."""
    tokens = await client.log_in()
    clock.now += timedelta(days=30)

    answer = await client.refresh(tokens["refresh_token"])

    assert_invalid_grant(answer, "-2")


@pytest.mark.parametrize(
    ("shape", "status", "expected"),
    [
        (RefreshRefusal.INVALID_GRANT, 200, {"result_code": "-2", "error": "invalid_grant"}),
        (RefreshRefusal.RESULT_CODE, 200, {"result_code": "2", "result_data": None}),
        (RefreshRefusal.EXPIRED, 200, {"result_code": "1", "result_data": {"code": "-2"}}),
        (RefreshRefusal.INVALID, 200, {"result_code": "1", "result_data": {"code": "5"}}),
        (
            RefreshRefusal.NO_ACCESS_TOKEN,
            200,
            {"result_code": "1", "result_data": {"code": "1", "token_type": "bearer"}},
        ),
        (RefreshRefusal.HTTP_400, 400, {"result_code": "-2", "error": "invalid_grant"}),
    ],
    ids=str,
)
async def test_quirk_a_dead_refresh_token_in_each_recorded_shape(
    client: OAuthClient,
    oauth_simulator: CloudSimulator,
    http: aiohttp.ClientSession,
    cloud_url: str,
    shape: RefreshRefusal,
    status: int,
    expected: dict[str, Any],
) -> None:
    """A refresh token that is used up is refused in the shape asked for, never with tokens."""
    oauth_simulator.quirks = Quirks(refresh_refusal=shape)
    tokens = await client.log_in()
    await client.refresh(tokens["refresh_token"])  # rotates: the old one is now dead

    async with http.post(
        cloud_url + "/openapi/apiManage/refreshToken",
        json={"appkey": APPKEY, "refresh_token": tokens["refresh_token"]},
        headers=HEADERS,
    ) as response:
        answer = await response.json()

    assert response.status == status
    assert {key: answer.get(key) for key in expected} == expected
    assert "access_token" not in answer
    assert "access_token" not in (answer.get("result_data") or {})


async def test_quirk_an_expired_bearer_token_answered_e900(
    client: OAuthClient, oauth_simulator: CloudSimulator
) -> None:
    """The expiry quirk applies to OAuth2 access tokens too."""
    oauth_simulator.quirks = Quirks(expired_token=AUSTRALIAN_EXPIRY)
    await client.log_in()
    oauth_simulator.expire_access_tokens()

    answer = await client.post("/openapi/platform/queryPowerStationList", {"page": 1, "size": 9})

    assert answer["result_code"] == "E900"


async def test_expired_access_token_is_e00003_until_refreshed(
    client: OAuthClient, oauth_simulator: CloudSimulator
) -> None:
    """An expired access token gets E00003 (HTTP 200); the refresh token still works."""
    tokens = await client.log_in()
    paging = {"page": 1, "size": 10}
    oauth_simulator.expire_access_tokens()

    expired = await client.post("/openapi/platform/queryPowerStationList", paging)
    client.access_token = (await client.refresh(tokens["refresh_token"]))["access_token"]
    renewed = await client.post("/openapi/platform/queryPowerStationList", paging)

    assert expired["result_code"] == "E00003"
    assert expired["result_msg"] == "er_token_login_invalid"
    assert renewed["result_code"] == "1"


async def test_access_token_ends_after_its_ttl(client: OAuthClient, clock: Clock) -> None:
    """The access token lives expires_in seconds, however often it is used."""
    await client.log_in()
    paging = {"page": 1, "size": 10}

    before = await client.post("/openapi/platform/queryPowerStationList", paging)
    clock.now += timedelta(seconds=172799)
    after = await client.post("/openapi/platform/queryPowerStationList", paging)

    assert before["result_code"] == "1"
    assert after["result_code"] == "E00003"


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic abc"])
async def test_platform_calls_need_a_valid_bearer_token(
    client: OAuthClient, authorization: str | None
) -> None:
    """Without a known bearer token a data call is E00003."""
    headers = dict(HEADERS) | ({"Authorization": authorization} if authorization else {})

    answer = await client.post(
        "/openapi/platform/queryPowerStationList", {"page": 1, "size": 10}, headers
    )

    assert answer["result_code"] == "E00003"


async def test_flavours_do_not_mix(client: OAuthClient, oauth_simulator: CloudSimulator) -> None:
    """An OAuth application cannot log in with V1; a V1 application cannot use the platform."""
    v1 = await client.post(
        "/openapi/login",
        {"user_account": USERNAME, "user_password": "x"},
        {**HEADERS, "sys_code": "901"},
    )
    oauth_simulator.apps[0] = SimApp(appkey=APPKEY, access_key=SECRET_KEY)
    platform = await client.post("/openapi/platform/queryPowerStationList", {"page": 1, "size": 1})

    assert v1["result_code"] == "E900"
    assert platform["result_code"] == "E900"


async def test_plant_list_shows_only_the_authorised_plants(client: OAuthClient) -> None:
    """The user ticked two plants; paging is page/size; sys_code is not needed."""
    await client.log_in(ps_ids=(PV_PS_ID, PS_ID))

    first = await client.post("/openapi/platform/queryPowerStationList", {"page": 1, "size": 1})
    second = await client.post("/openapi/platform/queryPowerStationList", {"page": 2, "size": 1})
    unpaged = await client.post("/openapi/platform/queryPowerStationList", {})

    assert first["result_data"]["rowCount"] == 2
    ps_ids = [row["ps_id"] for page in (first, second) for row in page["result_data"]["pageList"]]
    assert ps_ids == [PS_ID, PV_PS_ID]
    assert unpaged["result_code"] == "009"


@pytest.mark.parametrize(
    ("wanted", "types"),
    [(None, [14, 43, 7, 22, 51]), (["14", "51"], [14, 51]), ([7, 22], [7, 22])],
)
async def test_device_list_by_ps_id(
    client: OAuthClient, wanted: list[Any] | None, types: list[int]
) -> None:
    """The device list filters by type (strings or ints); device_type is an int."""
    await client.log_in()
    body = {"ps_id": str(CHARGER_PS_ID), "page": 1, "size": 100, "lang": "_en_US"}

    answer = await client.post(
        "/openapi/platform/getDeviceListByPsId",
        body | ({"device_type_list": wanted} if wanted else {}),
    )

    devices = answer["result_data"]["pageList"]
    assert [device["device_type"] for device in devices] == types
    assert answer["result_data"]["rowCount"] == len(types)


async def test_device_realtime_lists_illegal_keys_and_the_point_dict(client: OAuthClient) -> None:
    """Same nesting as V1; unknown or foreign keys in illegal_ps_key_list; point_dict on demand."""
    await client.log_in(ps_ids=(PS_ID,))
    body = {
        "device_type": "11",
        "ps_key_list": [PLANT_PS_KEY, f"{PV_PS_ID}_11_0_0", "1_11_0_0"],
        "point_id_list": ["83022", "83252", "99999"],
        "is_get_point_dict": "1",
    }

    answer = await client.post("/openapi/platform/getDeviceRealTimeData", body)
    plain = await client.post(
        "/openapi/platform/getDeviceRealTimeData", body | {"is_get_point_dict": "0"}
    )

    data = answer["result_data"]
    assert sorted(data["illegal_ps_key_list"]) == ["1_11_0_0", f"{PV_PS_ID}_11_0_0"]
    assert "fail_ps_key_list" not in data
    (entry,) = data["device_point_list"]
    assert entry["device_point"]["ps_key"] == PLANT_PS_KEY
    assert re.fullmatch(r"\d+\.\d", entry["device_point"]["p83022"])
    assert entry["device_point"]["p99999"] is None
    assert data["point_dict"] == [
        {"point_id": 83022, "point_name": "Daily Yield of Plant", "point_unit": "Wh"},
        {"point_id": 83252, "point_name": "Battery Level (SOC)", "point_unit": ""},
    ]
    assert "point_dict" not in plain["result_data"]


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"point_id_list": [str(i) for i in range(101)]}, "010", "size is over 100"),
        ({"ps_key_list": None}, "009", "er_missing_parameter"),
        ({"ps_key_list": None, "sn_list": ["nope"]}, "1", "success"),
    ],
)
async def test_device_realtime_parameter_errors(
    client: OAuthClient, changes: dict[str, Any], code: str, message: str
) -> None:
    """More than 100 point ids is 010; neither ps_key_list nor sn_list is 009."""
    await client.log_in()
    body = {"device_type": 11, "ps_key_list": [PLANT_PS_KEY], "point_id_list": ["83022"]}
    body |= changes

    answer = await client.post(
        "/openapi/platform/getDeviceRealTimeData", {k: v for k, v in body.items() if v is not None}
    )

    assert answer["result_code"] == code
    assert message in answer["result_msg"]


async def test_plant_realtime_rows_are_flat(client: OAuthClient) -> None:
    """Rows have ps_id (int) and the points, without a device_point wrapper."""
    await client.log_in()
    body = {
        "ps_id_list": [str(PV_PS_ID), str(PS_ID), "1"],
        "point_id_list": ["83022", "83033"],
        "is_get_point_dict": "1",
    }

    answer = await client.post("/openapi/platform/getPowerStationRealTimeData", body)

    rows = answer["result_data"]["device_point_list"]
    assert [set(row) for row in rows] == [{"ps_id", "p83022", "p83033"}] * 2
    assert [row["ps_id"] for row in rows] == [PS_ID, PV_PS_ID]
    assert all(isinstance(row["p83033"], str) for row in rows)
    units = {
        entry["point_id"]: entry["point_unit"] for entry in answer["result_data"]["point_dict"]
    }
    assert units == {83022: "Wh", 83033: "W"}


async def test_plant_realtime_limits_the_point_ids(client: OAuthClient) -> None:
    """More than 100 point ids is 010; a missing ps_id_list is 009."""
    await client.log_in()
    many = {"ps_id_list": [str(PS_ID)], "point_id_list": [str(i) for i in range(101)]}

    over = await client.post("/openapi/platform/getPowerStationRealTimeData", many)
    missing = await client.post(
        "/openapi/platform/getPowerStationRealTimeData", {"point_id_list": ["83022"]}
    )

    assert (over["result_code"], over["result_msg"]) == (
        "010",
        "Parameters point_id_list size is over 100",
    )
    assert missing["result_code"] == "009"


async def test_pv_plant_without_battery_or_meter_reports_null(client: OAuthClient) -> None:
    """A PV-only plant reports PV; battery, grid and load points are null, not invented."""
    await client.log_in()
    body = {
        "ps_id_list": [str(PV_PS_ID)],
        "point_id_list": ["83022", "83033", "83252", "83129", "83243", "83102", "83106"],
    }

    (row,) = (await client.post("/openapi/platform/getPowerStationRealTimeData", body))[
        "result_data"
    ]["device_point_list"]

    assert float(row["p83033"]) > 0
    assert float(row["p83022"]) > 0
    assert [row[f"p{i}"] for i in (83252, 83129, 83243, 83102, 83106)] == [None] * 5


async def test_string_inverter_agrees_with_its_plant(client: OAuthClient) -> None:
    """Type 1: strings; yield and power match the plant's; a single phase, so B and C null."""
    await client.log_in()
    devices = await client.post(
        "/openapi/platform/getDeviceListByPsId", {"ps_id": PV_PS_ID, "page": 1, "size": 10}
    )
    (inverter,) = [d for d in devices["result_data"]["pageList"] if d["device_type"] == 1]
    points = ["1", "2", "24", "14", "4", "18", "19", "21", "27", "5", "6", "26"]

    answer = await client.post(
        "/openapi/platform/getDeviceRealTimeData",
        {"device_type": 1, "ps_key_list": [inverter["ps_key"]], "point_id_list": points},
    )
    plant = await client.post(
        "/openapi/platform/getPowerStationRealTimeData",
        {"ps_id_list": [str(PV_PS_ID)], "point_id_list": ["83022", "83033"]},
    )

    assert (inverter["device_model_code"], inverter["type_name"]) == ("SG5.0RS", "逆变器")
    (entry,) = answer["result_data"]["device_point_list"]
    point = entry["device_point"]
    (row,) = plant["result_data"]["device_point_list"]
    assert (point["p1"], point["p24"]) == (row["p83022"], row["p83033"])
    assert float(point["p14"]) > float(point["p24"]) > 0
    assert point["p19"] is None
    assert all(isinstance(point[f"p{i}"], str) for i in points if i != "19")
    assert point["p26"] == "0.990"


async def test_charger_reports_kilowatts_while_the_car_charges(
    client: OAuthClient, oauth_simulator: CloudSimulator, clock: Clock
) -> None:
    """Type 51 at 18:00 local: 11 kW (in kW), status 3, part of the plant's load power."""
    clock.now += timedelta(hours=6)  # 18:02 in Berlin, the car arrived at 17:30
    await client.log_in()
    body = {
        "device_type": "51",
        "ps_key_list": [f"{CHARGER_PS_ID}_51_1_1"],
        "point_id_list": ["33708", "33716", "33723", "33702", "33703"],
    }

    answer = await client.post("/openapi/platform/getDeviceRealTimeData", body)
    plant = await client.post(
        "/openapi/platform/getPowerStationRealTimeData",
        {"ps_id_list": [str(CHARGER_PS_ID)], "point_id_list": ["83106"]},
    )
    clock.now -= timedelta(hours=6)
    noon = await client.post("/openapi/platform/getDeviceRealTimeData", body)

    (entry,) = answer["result_data"]["device_point_list"]
    point = entry["device_point"]
    assert point["p33708"] == "11.000"
    assert point["p33723"] == "11.000"
    assert point["p33716"] == "3.0"
    assert float(point["p33703"]) == pytest.approx(11000 / 3 / float(point["p33702"]), abs=0.1)
    (row,) = plant["result_data"]["device_point_list"]
    assert float(row["p83106"]) > 11000
    (idle,) = noon["result_data"]["device_point_list"]
    assert (idle["device_point"]["p33708"], idle["device_point"]["p33716"]) == ("0.000", "1.0")
    assert oauth_simulator.plants[3].devices[-1].model == "AC011E-01"


async def test_microinverters_share_the_plant_power(client: OAuthClient) -> None:
    """Type 55: four microinverters whose powers and yields add up to the plant's."""
    await client.log_in()
    keys = [f"{MICRO_PS_ID}_55_{index}_1" for index in range(1, 5)]
    body = {"device_type": 55, "ps_key_list": keys, "point_id_list": ["51303", "51346", "51301"]}

    answer = await client.post("/openapi/platform/getDeviceRealTimeData", body)
    plant = await client.post(
        "/openapi/platform/getPowerStationRealTimeData",
        {"ps_id_list": [str(MICRO_PS_ID)], "point_id_list": ["83022", "83033"]},
    )

    points = [entry["device_point"] for entry in answer["result_data"]["device_point_list"]]
    (row,) = plant["result_data"]["device_point_list"]
    assert [point["ps_key"] for point in points] == keys
    assert sum(float(p["p51303"]) for p in points) == pytest.approx(float(row["p83033"]), abs=1)
    assert sum(float(p["p51346"]) for p in points) == pytest.approx(float(row["p83022"]), abs=1)
    assert {point["p51301"] for point in points} == {"0.0"}


async def test_pv_plant_with_a_meter_knows_grid_and_load(
    client: OAuthClient, oauth_simulator: CloudSimulator
) -> None:
    """With a meter the PV plant reports grid and load; the battery stays null."""
    oauth_simulator.plants[1] = pv_plant(PV_PS_ID, "Barn", meter=True)
    await client.log_in()
    body = {"ps_id_list": [str(PV_PS_ID)], "point_id_list": ["83102", "83106", "83252"]}

    (row,) = (await client.post("/openapi/platform/getPowerStationRealTimeData", body))[
        "result_data"
    ]["device_point_list"]

    assert float(row["p83106"]) > 0
    assert isinstance(row["p83102"], str)
    assert row["p83252"] is None


def test_every_served_point_has_a_name_and_a_unit() -> None:
    """Each point of each device type is in the catalog that point_dict is built from."""
    plants = [hybrid_plant(charger=True), pv_plant(meter=True), micro_plant(count=2)]

    served = {point for plant in plants for device in plant.devices for point in device.points}
    types = {device.device_type for plant in plants for device in plant.devices}

    assert served <= set(POINTS)
    assert types == {1, 7, 11, 14, 22, 43, 51, 55}


def test_the_ev_session_is_part_of_the_load() -> None:
    """The car takes its session's energy every day, all of it counted as house load."""
    with_ev, without = Household(ev_charge_w=11000.0), Household()

    added_load = with_ev.day_totals["load"] - without.day_totals["load"]

    assert with_ev.day_totals["ev"] == pytest.approx(15000, abs=1)
    assert added_load == pytest.approx(15000, abs=2)
    assert without.day_totals["ev"] == 0
    assert Household(battery_wh=0).day_totals["charge"] == 0
