"""The program in encrypted mode and with OAuth2, across restarts, as the container runs it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from conftest import LIST_IMPORTS, error_lines, imported_packages
from const import APPKEY, SECRET_KEY

from sungrow.simulator import CloudSimulator, SimApp

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import RunAddon
    from fake_homeassistant import FakeHomeAssistant

pytestmark = pytest.mark.slow


async def test_encrypted_calls_against_a_cloud_that_refuses_plain_ones(
    run_addon: RunAddon,
    options: dict[str, Any],
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
) -> None:
    """With rsa_public_key set every call is encrypted and the cycle succeeds."""
    simulator.apps[0] = SimApp(appkey=APPKEY, access_key=SECRET_KEY, require_encryption=True)

    result = await run_addon(
        "--once", options={**options, "rsa_public_key": simulator.rsa_public_key}, env=LIST_IMPORTS
    )

    assert result.returncode == 0, result.stderr
    assert "cryptography" in imported_packages(result.stderr)
    posts = [call for call in simulator.calls if call.path != "/timestamp"]
    assert posts
    assert all(call.encrypted for call in posts)
    assert {call.result_code for call in posts} <= {"1", "E913"}
    assert "sensor.sungrow_home_sh10rt_battery_level" in fake_ha.states


async def test_a_plain_call_to_such_a_cloud_says_to_set_the_key(
    run_addon: RunAddon, options: dict[str, Any], simulator: CloudSimulator
) -> None:
    """E902 exits 3 with the advice to fill in rsa_public_key, after one call."""
    simulator.apps[0] = SimApp(appkey=APPKEY, access_key=SECRET_KEY, require_encryption=True)

    result = await run_addon("--once", options=options)

    assert result.returncode == 3
    (line,) = error_lines(result.stderr)
    assert "'rsa_public_key' option" in line
    assert len(simulator.calls) == 1


async def test_oauth2_exchanges_the_code_once_and_survives_restarts_and_expiry(
    run_addon: RunAddon,
    oauth_options: dict[str, Any],
    simulator: CloudSimulator,
    fake_ha: FakeHomeAssistant,
    tmp_path: Path,
) -> None:
    """Three restarts and two expired access tokens: one exchange, rotated refresh tokens."""
    results = [await run_addon("--once", options=oauth_options)]
    results.append(await run_addon("--once", options=oauth_options))
    simulator.expire_access_tokens()
    results.append(await run_addon("--once", options=oauth_options))
    refresh_after_first_expiry = json.loads((tmp_path / "data" / "oauth.json").read_text())
    simulator.expire_access_tokens()
    results.append(await run_addon("--once", options=oauth_options))

    assert [result.returncode for result in results] == [0, 0, 0, 0], results[-1].stderr
    assert len(simulator.calls_to("/openapi/apiManage/token")) == 1
    refreshes = simulator.calls_to("/openapi/apiManage/refreshToken")
    assert [call.result_code for call in refreshes] == ["1", "1"]
    assert refreshes[1].body is not None
    assert refreshes[1].body["refresh_token"] == refresh_after_first_expiry["refresh_token"]
    assert refreshes[0].body is not None
    assert refreshes[0].body["refresh_token"] != refreshes[1].body["refresh_token"]
    assert "sensor.sungrow_home_plant_power" in fake_ha.states
    assert "sensor.sungrow_home_sh10rt_battery_level" in fake_ha.states
    output = "".join(result.stdout + result.stderr for result in results)
    assert oauth_options["authorization_code"] not in output
    assert refresh_after_first_expiry["refresh_token"] not in output


async def test_oauth2_without_code_shows_where_to_approve(
    run_addon: RunAddon, oauth_options: dict[str, Any], simulator: CloudSimulator
) -> None:
    """No tokens and no code: exit 2 with the approval address, no call made."""
    del oauth_options["authorization_code"]

    result = await run_addon("--once", options=oauth_options)

    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "Neither an iSolarCloud account nor an OAuth2 authorization" in line
    assert "https://web3.isolarcloud.eu/#/authorized-app?cloudId=3&applicationId=4711" in line
    assert simulator.calls == []


async def test_oauth2_with_a_used_code_says_to_get_a_new_one(
    run_addon: RunAddon,
    oauth_options: dict[str, Any],
    simulator: CloudSimulator,
    tmp_path: Path,
) -> None:
    """A code already used elsewhere is refused by the cloud: exit 3 and what to do."""
    code = oauth_options["authorization_code"]
    elsewhere = {"SUNGROW_DATA_DIR": str(tmp_path / "elsewhere")}
    await run_addon("--once", options=oauth_options, env=elsewhere)
    simulator.calls.clear()

    result = await run_addon("--once", options={**oauth_options, "authorization_code": code})

    assert result.returncode == 3
    (line,) = error_lines(result.stderr)
    assert "iSolarCloud refused the code in 'authorization_code'" in line
    assert code not in result.stderr
