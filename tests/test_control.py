"""Changing settings against the simulator: the three calls, their verdicts, every refusal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from conftest import account_cloud, oauth_cloud
from const import APPKEY, PASSWORD, PS_ID, SECRET_KEY, USER_ID, USERNAME

from sungrow.cloud.control import (
    ControlNotPermittedError,
    ControlRefusedError,
    ControlTimeoutError,
    DeviceSettings,
    TaskRow,
)
from sungrow.exceptions import ISolarCloudRateLimitError
from sungrow.simulator import CloudSimulator, SimAccount, SimApp, pv_plant
from sungrow.simulator.quirks import Quirks

if TYPE_CHECKING:
    import aiohttp

HYBRID_UUID = str(PS_ID * 100 + 14)  # the simulator's SH10RT
CHECK, SETTING, TASK = (
    "/openapi/paramSettingCheck",
    "/openapi/paramSetting",
    "/openapi/getParamSettingTask",
)


class FakeTime:
    """A monotonic clock that the settings' waits advance, so that no test waits."""

    def __init__(self) -> None:
        """Start at 0."""
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        """Return the time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Pass `seconds` at once."""
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    """The settings' clock."""
    return FakeTime()


@pytest.fixture
def settings(session: aiohttp.ClientSession, cloud_url: str, fake_time: FakeTime) -> DeviceSettings:
    """Settings through a V1 client of the test account."""
    return DeviceSettings(
        cloud=account_cloud(session, cloud_url), sleep=fake_time.sleep, clock=fake_time
    )


def bodies(simulator: CloudSimulator, path: str) -> list[dict[str, Any]]:
    """Return the bodies of the calls to one path, without the envelope's own keys."""
    envelope = {"appkey", "token", "lang", "sys_code", "api_key_param"}
    return [
        {k: v for k, v in (call.body or {}).items() if k not in envelope}
        for call in simulator.calls_to(path)
    ]


async def test_a_setting_is_checked_set_and_followed_until_the_device_confirms(
    settings: DeviceSettings, simulator: CloudSimulator, fake_time: FakeTime
) -> None:
    """95 % upper SOC limit: raw 950 on the hybrid's uuid, confirmed on the second look."""
    confirmed = await settings.write(HYBRID_UUID, {"10001": "950"}, task_name="HA SOC limit")

    assert confirmed == {"10001": "950"}
    assert bodies(simulator, CHECK) == [{"uuid": HYBRID_UUID, "set_type": 0}]
    assert bodies(simulator, SETTING) == [
        {
            "uuid": HYBRID_UUID,
            "set_type": 0,
            "task_name": "HA SOC limit",
            "expire_second": 120,
            "param_list": [{"param_code": "10001", "set_value": "950"}],
        }
    ]
    assert len(bodies(simulator, TASK)) == 2  # in progress, then completed
    assert fake_time.waits == [2.0, 5.0]
    hybrid = simulator.plants[0].devices[1]
    assert simulator.controls.value(hybrid, "10001") == "950"


async def test_a_read_back_returns_raw_steps_from_display_units(
    settings: DeviceSettings, simulator: CloudSimulator
) -> None:
    """The cloud answers 95 (%, precision 0.1): the add-on reads 950, as it would write it."""
    await settings.write(HYBRID_UUID, {"10001": "950"}, task_name="HA")

    rows = await settings.read(
        HYBRID_UUID, ["10001", "10002", "10004", "10005"], task_name="HA read"
    )

    values = {code: (row.raw_value, row.unit, row.precision) for code, row in rows.items()}
    assert values == {
        "10001": ("950", "%", "0.1"),
        "10002": ("100", "%", "0.1"),
        "10004": ("204", "", ""),
        "10005": ("100", "kW", "0.01"),  # 1 kW as the live SH10RT counts it
    }
    assert bodies(simulator, SETTING)[-1]["param_list"] == [
        {"param_code": "10001", "set_value": ""},
        {"param_code": "10002", "set_value": ""},
        {"param_code": "10004", "set_value": ""},
        {"param_code": "10005", "set_value": ""},
    ]


async def test_an_offline_device_is_refused_at_the_check_without_a_task(
    settings: DeviceSettings, simulator: CloudSimulator
) -> None:
    """check_result 6: one line saying the device is offline; nothing dispatched."""
    simulator.controls.offline.add(int(HYBRID_UUID))

    with pytest.raises(ControlRefusedError, match="the device is offline"):
        await settings.write(HYBRID_UUID, {"10001": "950"}, task_name="HA")

    assert simulator.calls_to(SETTING) == []


async def test_a_setting_the_model_does_not_have_is_refused_before_a_task(
    session: aiohttp.ClientSession, fake_time: FakeTime
) -> None:
    """A PV-only inverter has no battery command: code 6-1, no task followed."""
    plant = pv_plant(PS_ID, "Home")
    simulator = CloudSimulator(
        plants=[plant],
        apps=[SimApp(appkey=APPKEY, access_key=SECRET_KEY)],
        accounts=[
            SimAccount(username=USERNAME, password=PASSWORD, user_id=USER_ID, ps_ids=(PS_ID,))
        ],
    )
    async with simulator.serve() as url:
        settings = DeviceSettings(
            cloud=account_cloud(session, url), sleep=fake_time.sleep, clock=fake_time
        )
        inverter = str(plant.devices[1].uuid)
        with pytest.raises(ControlRefusedError, match="does not support this setting"):
            await settings.write(inverter, {"10004": "170"}, task_name="HA")
        assert await settings.write(inverter, {"10012": "170"}, task_name="HA") == {"10012": "170"}

    assert len(simulator.calls_to(TASK)) == 2  # only the feed-in limitation's task


async def test_a_value_the_device_refuses_is_not_taken_for_set(
    settings: DeviceSettings, simulator: CloudSimulator
) -> None:
    """Task completed (8) but the parameter failed (5): refused, and the device kept its value."""
    simulator.controls.failing.add("10005")

    with pytest.raises(ControlRefusedError, match="the device refused 10005"):
        await settings.write(HYBRID_UUID, {"10005": "300"}, task_name="HA")

    assert simulator.controls.value(simulator.plants[0].devices[1], "10005") == "100"


async def test_a_device_that_never_confirms_times_out_after_the_tasks_expiry(
    settings: DeviceSettings, simulator: CloudSimulator, fake_time: FakeTime
) -> None:
    """Followed for 120 s (2 s, then every 5 s), then one line; no second task."""
    simulator.controls.confirm_after = 10**6

    with pytest.raises(ControlTimeoutError, match="did not confirm the setting within 120 s"):
        await settings.write(HYBRID_UUID, {"10001": "950"}, task_name="HA")

    assert len(simulator.calls_to(SETTING)) == 1
    assert sum(fake_time.waits) <= 120
    assert len(simulator.calls_to(TASK)) == 24  # at 2, 7, ..., 117 s


async def test_an_application_without_the_control_permission_gets_one_clear_error(
    session: aiohttp.ClientSession, cloud_url: str, simulator: CloudSimulator
) -> None:
    """E900 on the control endpoints (after the one token renewal E900 may call for)."""
    simulator.quirks = Quirks(control_denied=True)
    settings = DeviceSettings(cloud=account_cloud(session, cloud_url))

    with pytest.raises(ControlNotPermittedError, match="allow parameter setting"):
        await settings.write(HYBRID_UUID, {"10001": "950"}, task_name="HA")

    assert simulator.calls_to(SETTING) == []


async def test_a_setting_with_the_hourly_quota_used_up_is_refused(
    settings: DeviceSettings, simulator: CloudSimulator
) -> None:
    """E999: the quota error reaches the caller; nothing is set."""
    await settings.read(HYBRID_UUID, ["10001"], task_name="HA read")
    simulator.hourly_quota = len(simulator.calls)

    with pytest.raises(ISolarCloudRateLimitError, match="E999"):
        await settings.write(HYBRID_UUID, {"10001": "950"}, task_name="HA")

    assert simulator.controls.value(simulator.plants[0].devices[1], "10001") == "1000"


async def test_a_forced_charge_shows_in_the_real_time_data(
    settings: DeviceSettings, simulator: CloudSimulator
) -> None:
    """Compulsory mode, charge at 3 kW (300 steps of 0.01 kW): 83238 = -3000 W."""
    plant = simulator.plants[0]

    await settings.write(
        HYBRID_UUID, {"10004": "170", "10003": "2", "10005": "300"}, task_name="HA charge"
    )

    assert simulator.controls.forced(plant) == ("170", 3000.0)
    client = settings.cloud
    readings = await client.realtime(
        device_type=11, ps_keys=[f"{PS_ID}_11_0_0"], point_ids=["83238"]
    )
    assert readings[f"{PS_ID}_11_0_0"].values["83238"] == -3000.0


def test_a_read_back_row_without_a_number_has_no_value() -> None:
    """Empty or garbled values are no value, never 0."""
    row = TaskRow(code="10001", set_value="", return_value="", precision="0.1", status="4")

    assert row.raw_value is None
    assert TaskRow("10001", "", "ninety", "0.1", "4").raw_value is None
    assert TaskRow("10001", "", "95.5", "0.1", "4").raw_value == "955"
    assert TaskRow("10004", "", "204", "", "4").raw_value == "204"


async def test_an_oauth2_application_sets_through_the_platform_paths(
    session: aiohttp.ClientSession,
    cloud_url: str,
    simulator: CloudSimulator,
    fake_time: FakeTime,
) -> None:
    """The same three steps on /openapi/platform/..., with the bearer token."""
    cloud = oauth_cloud(session, cloud_url, simulator)
    settings = DeviceSettings(cloud=cloud, sleep=fake_time.sleep, clock=fake_time)

    assert await settings.write(HYBRID_UUID, {"10002": "200"}, task_name="HA") == {"10002": "200"}

    paths = [call.path for call in simulator.calls if "aram" in call.path]
    assert paths == [
        "/openapi/platform/paramSettingCheck",
        "/openapi/platform/paramSetting",
        "/openapi/platform/getParamSettingTask",
        "/openapi/platform/getParamSettingTask",
    ]
    assert simulator.controls.value(simulator.plants[0].devices[1], "10002") == "200"
