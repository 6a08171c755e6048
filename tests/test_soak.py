"""A time-compressed soak: a thousand polls (3.5 days) with random cloud and Core faults."""

from __future__ import annotations

import gc
import logging
import random
import tracemalloc
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
import pytest
from conftest import account_cloud
from const import HA_TOKEN, PASSWORD, PS_ID, SECRET_KEY

from sungrow.poller import Poller
from sungrow.publish.rest import HomeAssistant
from sungrow.simulator import Fault, pv_plant
from sungrow.states.naming import EntityNames
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Clock
    from fake_homeassistant import FakeHomeAssistant

    from sungrow.simulator import CloudSimulator

pytestmark = pytest.mark.slow

CYCLES = 1000
REALTIME = "/openapi/getDeviceRealTimeData"
CLOUD_FAULTS = [
    Fault(path=REALTIME, delay=0.2),
    Fault(path=REALTIME, disconnect=True),
    Fault(path=REALTIME, http_status=502, text="Bad Gateway"),
    Fault(path=REALTIME, text="<html>oops</html>"),
    Fault(path=REALTIME, code="-1"),
    Fault(path=REALTIME, code="011"),
    Fault(path=REALTIME, code="E999"),
    Fault(path=REALTIME, code="E901"),
    Fault(path=None, http_status=503, text=""),
]


def sungrow_memory(snapshot: tracemalloc.Snapshot) -> int:
    """Return the bytes allocated by the add-on's own modules (not the simulator's)."""
    traces = snapshot.filter_traces(
        [
            tracemalloc.Filter(inclusive=True, filename_pattern="*/sungrow/*"),
            tracemalloc.Filter(inclusive=False, filename_pattern="*/sungrow/simulator/*"),
        ]
    )
    return sum(stat.size for stat in traces.statistics("filename"))


async def test_a_thousand_polls_with_random_faults(
    simulator: CloudSimulator,
    cloud_url: str,
    ha_url: str,
    fake_ha: FakeHomeAssistant,
    clock: Clock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No crash, memory that stops growing, counters that never step back, no secret logged."""
    simulator.plants[:] = [pv_plant(PS_ID, "Home")]
    rng = random.Random(2026)  # noqa: S311 - a repeatable choice of faults
    caplog.set_level(logging.DEBUG)
    lifetime: dict[str, float] = {}
    faults = 0
    async with aiohttp.ClientSession() as session:
        poller = Poller(
            cloud=account_cloud(session, cloud_url, request_timeout=0.1, retry_delay=0.001),
            publisher=HomeAssistant(session=session, token=HA_TOKEN, api_url=ha_url),
            names=EntityNames(JsonFile(tmp_path / "names.json")),
            scan_interval=300,
            clock=lambda: clock.now.timestamp(),  # noqa: PLW0108 - clock.now changes
            # The inverter's total yield, off by default: a second lifetime total to watch.
            extra_points=lambda kind: {"2"} if kind == 1 else set(),
        )
        tracemalloc.start()
        try:
            for cycle in range(CYCLES):
                roll = rng.random()
                fake_ha.status_override = 502 if 0.90 < roll < 0.93 else None
                if roll < 0.2:
                    simulator.faults.append(rng.choice(CLOUD_FAULTS))
                    faults += 1
                elif roll < 0.22:
                    simulator.expire_tokens()
                elif roll > 0.98:
                    fake_ha.states.clear()
                clock.now += timedelta(minutes=5)
                await poller._guarded_cycle()
                for posted in fake_ha.posted:
                    if posted.entity_id.endswith(("total_yield", "_total_yield")):
                        value = float(posted.body["state"])
                        assert value >= lifetime.get(posted.entity_id, 0.0), posted
                        lifetime[posted.entity_id] = value
                fake_ha.posted.clear()
                simulator.calls.clear()
                simulator.faults.clear()
                if cycle == CYCLES // 5:
                    gc.collect()
                    early = sungrow_memory(tracemalloc.take_snapshot())
            gc.collect()
            late = sungrow_memory(tracemalloc.take_snapshot())
        finally:
            tracemalloc.stop()
        fake_ha.status_override = None
        await poller.run_once()

    assert faults > 150
    assert late - early < 256 * 1024, (early, late)
    assert "sensor.sungrow_home_total_yield" in fake_ha.states
    assert "sensor.sungrow_home_sg5_0rs_total_yield" in fake_ha.states
    text = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (PASSWORD, SECRET_KEY, HA_TOKEN):
        assert secret not in text
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if "Unexpected error" in r.getMessage()]
