"""The control panel against the simulator: what each command sends, and every refusal."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import pytest
from conftest import account_cloud
from const import APPKEY, PASSWORD, PS_ID, SECRET_KEY, USER_ID, USERNAME

from sungrow.cloud.control import DeviceSettings
from sungrow.cloud.discovery import discover
from sungrow.controls.panel import ControlPanel
from sungrow.controls.specs import controls_for, rated_power_w
from sungrow.service import _control_panel
from sungrow.simulator import CloudSimulator, SimAccount, SimApp, pv_plant
from sungrow.simulator.quirks import Quirks
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from pathlib import Path

    import aiohttp

    from sungrow.cloud.client import ISolarCloud

HYBRID = f"sungrow_{PS_ID}_{PS_ID}_14_1_1"
HYBRID_UUID = PS_ID * 100 + 14
SETTING = "/openapi/paramSetting"


async def no_wait(_seconds: float) -> None:
    """Let the task's state be asked for again at once."""
    await asyncio.sleep(0)


class Now:
    """The panel's wall clock, moved by the test."""

    def __init__(self) -> None:
        """Start at a fixed time."""
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        """Return the time."""
        return self.now


async def panel_for(cloud: ISolarCloud, file: JsonFile, now: Now) -> ControlPanel:
    """A panel of the account's devices, their values read back as at start."""
    panel = ControlPanel.from_dict(
        DeviceSettings(cloud=cloud, sleep=no_wait), file, file.load() or {}, clock=now
    )
    panel.describe(await discover(cloud, wanted=(), now=now()))
    await panel.maintain()
    return panel


@pytest.fixture
def now() -> Now:
    """The panel's clock."""
    return Now()


@pytest.fixture
async def panel(
    session: aiohttp.ClientSession, cloud_url: str, tmp_path: Path, now: Now
) -> ControlPanel:
    """A panel of the test plant (hybrid inverter with a battery)."""
    return await panel_for(account_cloud(session, cloud_url), JsonFile(tmp_path / "c.json"), now)


def settings_sent(simulator: CloudSimulator, set_type: int = 0) -> list[dict[str, str]]:
    """Return each paramSetting task's parameters (code -> value), in order."""
    return [
        {p["param_code"]: p["set_value"] for p in (call.body or {})["param_list"]}
        for call in simulator.calls_to(SETTING)
        if call.result_code == "1" and (call.body or {}).get("set_type") == set_type
    ]


async def test_the_values_are_read_back_at_start(panel: ControlPanel) -> None:
    """Every control shows the device's value in its own unit; the duration its default."""
    assert panel.state(HYBRID) == {
        "soc_upper_limit": "100",
        "soc_lower_limit": "10",
        "energy_management_mode": "Self-consumption",
        "forced_command": "Stop",
        "forced_power": "1000",
        "forced_duration": "60",
        "feed_in_limitation": "OFF",
        "feed_in_limit": "0",
    }


async def test_a_forced_charge_sets_the_mode_and_its_end(
    panel: ControlPanel, simulator: CloudSimulator, now: Now, caplog: pytest.LogCaptureFixture
) -> None:
    """Charge = command 170, compulsory mode 2 and the power, in one task; ends in 60 min."""
    caplog.set_level(logging.INFO)
    await panel.command(HYBRID, "forced_power", "2500")
    await panel.command(HYBRID, "forced_command", "Charge")

    assert settings_sent(simulator)[-2:] == [  # the SH10RT counts in 0.01 kW
        {"10005": "250"},
        {"10004": "170", "10003": "2", "10005": "250"},
    ]
    assert panel.state(HYBRID)["forced_command"] == "Charge"
    assert panel.ends == {str(HYBRID_UUID): now.now + 3600}
    assert simulator.controls.forced(simulator.plants[0]) == ("170", 2500.0)
    assert "Setting Home SH10RT Forced charge or discharge from Stop to Charge" in caplog.text


async def test_a_forced_charge_ends_on_time_across_a_restart(
    session: aiohttp.ClientSession,
    cloud_url: str,
    simulator: CloudSimulator,
    tmp_path: Path,
    now: Now,
) -> None:
    """The end is kept in the data folder: a new panel past it returns to self-consumption."""
    file = JsonFile(tmp_path / "controls.json")
    first = await panel_for(account_cloud(session, cloud_url), file, now)
    await first.command(HYBRID, "forced_duration", "30")
    await first.command(HYBRID, "forced_command", "Discharge")
    assert simulator.controls.forced(simulator.plants[0]) == ("187", 1000.0)

    now.now += 30 * 60 - 1
    second = await panel_for(account_cloud(session, cloud_url), JsonFile(file.path), now)
    assert simulator.controls.forced(simulator.plants[0]) is not None  # not yet
    now.now += 1
    await second.maintain()

    assert simulator.controls.forced(simulator.plants[0]) is None
    assert settings_sent(simulator)[-1] == {"10004": "204", "10003": "0"}
    assert second.ends == {}
    assert JsonFile(file.path).load() == {"ends": {}, "durations": {str(HYBRID_UUID): 30}}
    assert second.state(HYBRID)["energy_management_mode"] == "Self-consumption"


async def test_an_end_the_inverter_cannot_take_is_tried_again_and_logged_once(
    panel: ControlPanel, simulator: CloudSimulator, now: Now, caplog: pytest.LogCaptureFixture
) -> None:
    """Offline at the end: one warning, tried every 30 s, and said when it worked."""
    caplog.set_level(logging.INFO)
    await panel.command(HYBRID, "forced_command", "Charge")
    simulator.controls.offline.add(HYBRID_UUID)
    now.now += 3600

    await panel.maintain()
    await panel.maintain()
    simulator.controls.offline.clear()
    await panel.maintain()

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        warnings.count(
            "Home SH10RT not back in self-consumption: iSolarCloud will not change the device's "
            "settings now: the device is offline (trying again every 30 s)"
        )
        == 1
    )
    assert "Home SH10RT is back in self-consumption" in caplog.text
    assert simulator.controls.forced(simulator.plants[0]) is None
    assert panel.ends == {}


async def test_stop_returns_to_self_consumption_and_forgets_the_end(
    panel: ControlPanel, simulator: CloudSimulator
) -> None:
    """Stop = command 204 and mode 0; nothing left to end."""
    await panel.command(HYBRID, "forced_command", "Charge")
    await panel.command(HYBRID, "forced_command", "Stop")

    assert settings_sent(simulator)[-1] == {"10004": "204", "10003": "0"}
    assert panel.ends == {}


@pytest.mark.parametrize(("option", "raw"), [("Forced", "2"), ("External dispatch", "3")])
async def test_a_forced_mode_chosen_directly_also_ends_by_itself(
    panel: ControlPanel, simulator: CloudSimulator, now: Now, option: str, raw: str
) -> None:
    """Compulsory or external dispatch carry the same end; self-consumption clears it."""
    await panel.command(HYBRID, "energy_management_mode", option)
    assert settings_sent(simulator)[-1] == {"10003": raw}
    assert panel.ends == {str(HYBRID_UUID): now.now + 3600}

    await panel.command(HYBRID, "energy_management_mode", "Self-consumption")

    assert settings_sent(simulator)[-1] == {"10003": "0", "10004": "204"}
    assert panel.ends == {}


@pytest.mark.parametrize(
    ("key", "payload", "reason"),
    [
        ("soc_upper_limit", "120", "120 is outside 70 to 100 %"),
        ("soc_lower_limit", "-5", "-5 is outside 0 to 50 %"),
        ("forced_power", "lots", "'lots' is not a number"),
        ("forced_command", "Boost", "'Boost' is not one of Charge, Discharge, Stop"),
        ("feed_in_limitation", "maybe", "'maybe' is neither ON nor OFF"),
        ("forced_duration", "2", "2 is outside 5 to 1440 min"),
    ],
)
async def test_a_value_out_of_range_is_refused_before_any_call(
    panel: ControlPanel,
    simulator: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
    key: str,
    payload: str,
    reason: str,
) -> None:
    """One warning naming the value and the range; the cloud is not called."""
    calls = len(simulator.calls)

    await panel.command(HYBRID, key, payload)

    assert len(simulator.calls) == calls
    assert reason in caplog.text


async def test_the_feed_in_limit_needs_the_limitation_on_first(
    panel: ControlPanel, simulator: CloudSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Appendix 10: the limit can be set only with the limitation enabled."""
    await panel.command(HYBRID, "feed_in_limit", "3000")
    assert settings_sent(simulator) == []
    assert "turn the feed-in limitation on first" in caplog.text

    await panel.command(HYBRID, "feed_in_limitation", "ON")
    await panel.command(HYBRID, "feed_in_limit", "3000")

    assert settings_sent(simulator) == [{"10012": "170"}, {"10013": "300"}]
    assert panel.state(HYBRID)["feed_in_limit"] == "3000"


async def test_a_power_is_not_set_before_the_device_said_its_unit(
    session: aiohttp.ClientSession,
    cloud_url: str,
    simulator: CloudSimulator,
    tmp_path: Path,
    now: Now,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """W or 0.01 kW differ by 10x: without a read-back, no power is sent (a SOC limit is)."""
    simulator.controls.offline.add(HYBRID_UUID)
    panel = await panel_for(account_cloud(session, cloud_url), JsonFile(tmp_path / "c"), now)
    simulator.controls.offline.clear()

    await panel.command(HYBRID, "forced_power", "2500")
    await panel.command(HYBRID, "soc_upper_limit", "90")

    assert "its unit on the device is not known yet" in caplog.text
    assert settings_sent(simulator) == [{"10001": "900"}]


async def test_a_refused_setting_shows_what_the_device_holds(
    panel: ControlPanel, simulator: CloudSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The device refuses the value: one line, and the entity keeps the device's value."""
    simulator.controls.failing.add("10001")

    await panel.command(HYBRID, "soc_upper_limit", "90")

    assert panel.state(HYBRID)["soc_upper_limit"] == "100"
    assert "not set: the device refused 10001" in caplog.text


async def test_a_setting_the_device_never_confirms_times_out_once(
    session: aiohttp.ClientSession,
    cloud_url: str,
    simulator: CloudSimulator,
    tmp_path: Path,
    now: Now,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No confirmation within the task's time: one line, no second attempt, value unchanged."""
    panel = await panel_for(account_cloud(session, cloud_url), JsonFile(tmp_path / "c"), now)
    panel.settings.task_seconds = 0.0
    simulator.controls.confirm_after = 10**6

    await panel.command(HYBRID, "soc_upper_limit", "90")

    assert len(settings_sent(simulator)) == 1
    assert "did not confirm the setting within 0 s" in caplog.text
    assert panel.state(HYBRID)["soc_upper_limit"] == "100"


async def test_one_setting_at_a_time_per_device(
    panel: ControlPanel, simulator: CloudSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A second command while the first is under way is refused, not queued or repeated."""
    await asyncio.gather(
        panel.command(HYBRID, "soc_upper_limit", "90"),
        panel.command(HYBRID, "soc_lower_limit", "20"),
    )

    assert settings_sent(simulator) == [{"10001": "900"}]
    assert "a setting of this device is still under way" in caplog.text


async def test_without_the_control_permission_the_controls_go_unavailable(
    panel: ControlPanel, simulator: CloudSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """E900 on the control endpoints: one error line; later commands are not sent."""
    simulator.quirks = Quirks(control_denied=True)

    await panel.command(HYBRID, "soc_upper_limit", "90")
    calls = len(simulator.calls)
    await panel.command(HYBRID, "soc_upper_limit", "95")

    assert panel.permitted is False
    assert len(simulator.calls) == calls
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "allow parameter setting" in errors[0].getMessage()


async def test_with_the_quota_used_up_a_setting_says_so(
    panel: ControlPanel, simulator: CloudSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """E999: not set, and the log says the quota is why."""
    simulator.hourly_quota = len(simulator.calls)

    await panel.command(HYBRID, "soc_upper_limit", "90")

    assert "hourly call quota" in caplog.text
    assert simulator.controls.value(simulator.plants[0].devices[1], "10001") == "1000"


async def test_a_pv_only_plant_offers_no_battery_control(
    session: aiohttp.ClientSession, tmp_path: Path, now: Now, caplog: pytest.LogCaptureFixture
) -> None:
    """A string inverter without a battery: the feed-in limitation only, up to its rating."""
    simulator = CloudSimulator(
        plants=[pv_plant(PS_ID, "Home")],
        apps=[SimApp(appkey=APPKEY, access_key=SECRET_KEY)],
        accounts=[
            SimAccount(username=USERNAME, password=PASSWORD, user_id=USER_ID, ps_ids=(PS_ID,))
        ],
    )
    async with simulator.serve() as url:
        panel = await panel_for(account_cloud(session, url), JsonFile(tmp_path / "c"), now)
        inverter = f"sungrow_{PS_ID}_{PS_ID}_1_1_1"

        assert list(panel.devices) == [inverter]
        assert panel.state(inverter) == {"feed_in_limitation": "OFF", "feed_in_limit": "0"}
        await panel.command(inverter, "forced_command", "Charge")
        await panel.command(inverter, "feed_in_limitation", "ON")
        await panel.command(inverter, "feed_in_limit", "6000")  # above the SG5.0RS's 5 kW
        await panel.command(inverter, "feed_in_limit", "4000")

    assert settings_sent(simulator) == [{"10012": "170"}, {"10013": "4000"}]  # in W steps
    assert "6000 is outside 0 to 5000 W" in caplog.text


def test_controls_in_rest_mode_are_refused_with_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Home Assistant cannot command REST sensors: the log says the controls need MQTT."""
    options: Any = type("Options", (), {"controls": True})()
    rest: Any = object()

    assert _control_panel(options, rest, rest, rest) is None
    assert "needs the MQTT mode" in caplog.text


async def test_a_plant_discovered_again_keeps_the_values_shown(
    panel: ControlPanel, session: aiohttp.ClientSession, cloud_url: str
) -> None:
    """The hourly discovery does not forget what the entities show."""
    before = panel.state(HYBRID)

    panel.describe(await discover(account_cloud(session, cloud_url), wanted=(), now=0.0))

    assert panel.state(HYBRID) == before


@pytest.mark.parametrize(
    ("model", "watts"),
    [("SH10RT", 10000), ("SH5.0RT", 5000), ("SG110CX-P2-CN", 110000), ("SBR064", None), ("", None)],
)
def test_the_rated_power_comes_from_the_model_code(model: str, watts: int | None) -> None:
    """SH10RT is 10 kW; a code without a rating gives none (the documented range stays)."""
    assert rated_power_w(model) == watts


def test_the_powers_are_bounded_by_the_rating_and_the_documented_range() -> None:
    """An SH3.6RS charges at most 3600 W; an SH10RT at most Appendix 10's 5000 W."""
    small = {s.key: s.maximum for s in controls_for(14, plant_has_battery=True, model="SH3.6RS")}
    large = {s.key: s.maximum for s in controls_for(14, plant_has_battery=True, model="SH10RT")}

    assert (small["forced_power"], small["feed_in_limit"]) == (3600, 3600)
    assert (large["forced_power"], large["feed_in_limit"]) == (5000, 10000)


@pytest.mark.parametrize("precision", ["", "0", "-1", "nan", "inf", "lots"])
def test_a_power_step_the_device_garbles_is_no_step(precision: str) -> None:
    """No conversion is guessed from a step that is not a positive number."""
    (power,) = (s for s in controls_for(14, plant_has_battery=True) if s.key == "forced_power")

    assert power.steps("kW", precision) is None
    assert power.steps("kW", "0.01") == pytest.approx(0.1)
    assert power.steps("W", "1") == 1.0
    assert power.steps("MW", "1") is None
