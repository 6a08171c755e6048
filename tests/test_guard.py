"""The counter guard: lifetime totals never go down; daily counters restart only at midnight."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from sungrow.catalog import load_catalog
from sungrow.derived import derived_for
from sungrow.freshness import Freshness
from sungrow.guard import CounterGuard
from sungrow.models import Plant, Reading
from sungrow.naming import EntityNames
from sungrow.sensors import StateBuilder
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from pathlib import Path

    from sungrow.homeassistant import SensorState

DAY = date(2026, 6, 21)
NOON = datetime(2026, 6, 21, 12, 0)  # noqa: DTZ001 - plant-local wall time
LIFETIME = "sensor.sungrow_home_total_yield"
DAILY = "sensor.sungrow_home_daily_yield"


def test_a_lifetime_total_nudged_down_is_held() -> None:
    """8635.66 → 8635.56 (a server-side recompute) publishes 8635.66 again."""
    guard = CounterGuard()

    published = [
        guard.lifetime(LIFETIME, value, day=DAY) for value in (8635660.0, 8635560.0, 8635700.0)
    ]

    assert published == [8635660.0, 8635660.0, 8635700.0]


def test_a_lifetime_total_reported_as_0_is_held() -> None:
    """A 0 from a glitch keeps the last value."""
    guard = CounterGuard()
    guard.lifetime(LIFETIME, 5000.0, day=DAY)

    assert guard.lifetime(LIFETIME, 0.0, day=DAY) == 5000.0


def test_a_first_lifetime_0_is_not_published() -> None:
    """A first-ever 0 would make the next real total count as this hour's energy."""
    guard = CounterGuard()

    assert guard.lifetime(LIFETIME, 0.0, day=DAY) is None
    assert guard.lifetime(LIFETIME, 5000.0, day=DAY) == 5000.0


def test_the_memory_survives_a_restart(tmp_path: Path) -> None:
    """Saved, restored, and a dip after the restart is still held."""
    file = JsonFile(tmp_path / "counters.json")
    first = CounterGuard(file)
    first.lifetime(LIFETIME, 5000.0, day=DAY)
    first.daily(DAILY, 1200.0, day=DAY, local_time=NOON)
    first.save()

    second = CounterGuard.from_dict(file, file.load() or {})

    assert second.lifetime(LIFETIME, 4990.0, day=DAY) == 5000.0
    assert second.daily(DAILY, 0.0, day=DAY, local_time=NOON) == 1200.0


def test_unreadable_entries_are_dropped() -> None:
    """A hand-edited or foreign file loses only the entries that do not parse."""
    guard = CounterGuard.from_dict(
        None, {"counters": {"a": [1.0, "2026-06-21"], "b": "x", "c": [1, "yesterday"]}}
    )

    assert set(guard.memory) == {"a"}


@pytest.mark.parametrize(
    ("hour", "value", "published"),
    [
        (0, 300.0, 300.0),  # the late reset, 20 minutes after midnight
        (0, 19900.0, 20000.0),  # a nudge in the first hour is still a nudge
        (1, 300.0, 20000.0),  # after the first hour a drop is held
        (12, 0.0, 20000.0),  # a 0 at noon is held
    ],
)
def test_a_daily_counter_restarts_only_in_the_first_hour(
    hour: int, value: float, published: float
) -> None:
    """Same plant-local day: a drop to under half is a reset only between 00:00 and 01:00."""
    guard = CounterGuard()
    guard.daily(DAILY, 20000.0, day=DAY, local_time=NOON.replace(hour=0, minute=5))

    local = NOON.replace(hour=hour, minute=20)
    assert guard.daily(DAILY, value, day=DAY, local_time=local) == published


def test_a_new_day_restarts_a_daily_counter_whenever_it_is_seen() -> None:
    """After a night without polling, the first value of the new day is taken as it is."""
    guard = CounterGuard()
    guard.daily(DAILY, 20000.0, day=DAY, local_time=NOON)

    next_morning = NOON.replace(day=22, hour=9)
    assert guard.daily(DAILY, 4200.0, day=date(2026, 6, 22), local_time=next_morning) == 4200.0


def builder(zone: str, tmp_path: Path) -> StateBuilder:
    """A state builder for a plant in `zone`."""
    return StateBuilder(
        names=EntityNames(JsonFile(tmp_path / "names.json")),
        guard=CounterGuard(),
        freshness=Freshness(scan_interval=300),
        timezone=ZoneInfo(zone),
    )


def daily_yield(states: list[SensorState]) -> str:
    """Return the published daily yield."""
    return next(state.state for state in states if state.entity_id == DAILY)


def test_midnight_is_the_plants_not_the_machines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plant in Auckland restarts its day at Auckland's midnight, whatever TZ the host has."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        states_builder = builder("Pacific/Auckland", tmp_path)
        points = load_catalog().get(11).published_points()
        plant = Plant(ps_id="1", name="Home")
        auckland = ZoneInfo("Pacific/Auckland")

        def cycle(local: datetime, value: float) -> str:
            reading = Reading(ps_key="1_11_0_0", device_time=None, values={"83022": value})
            moment = local.replace(tzinfo=auckland).timestamp()
            return daily_yield(
                states_builder.reading_states(plant, None, reading, points, now=moment)
            )

        evening = cycle(datetime(2026, 6, 21, 23, 50), 20000.0)  # noqa: DTZ001 - Auckland time
        after_midnight = cycle(datetime(2026, 6, 22, 0, 20), 100.0)  # noqa: DTZ001
        noon_glitch = cycle(datetime(2026, 6, 22, 12, 0), 0.0)  # noqa: DTZ001
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()

    assert (evening, after_midnight, noon_glitch) == ("20.00", "0.10", "0.10")


@pytest.mark.parametrize(
    ("values", "consumption", "sufficiency"),
    [
        ({"83022": 0.0, "83072": 0.0, "83118": 0.0, "83102": 0.0}, 1.0, 1.0),
        ({"83022": 10000.0, "83072": 4000.0, "83118": 8000.0, "83102": 2000.0}, 0.6, 0.75),
        ({"83022": 1000.0, "83072": 1500.0, "83118": 500.0, "83102": 900.0}, 0.0, 0.0),
        ({"83022": None, "83072": 0.0, "83118": -5.0, "83102": 1.0}, None, 1.0),
    ],
)
def test_todays_shares_never_divide_by_zero(
    values: dict[str, float | None], consumption: float | None, sufficiency: float | None
) -> None:
    """Nothing produced or consumed is 100 %; shares stay within 0..100 %; None stays None."""
    plant = {derived.spec.key: derived for derived in derived_for(11)}

    assert plant["self_consumption_today"].compute(values) == consumption
    assert plant["self_sufficiency_today"].compute(values) == sufficiency


def test_net_powers_need_both_readings() -> None:
    """A difference of powers needs both simultaneous readings."""
    hybrid = {derived.spec.key: derived for derived in derived_for(14)}

    assert hybrid["net_grid_power"].compute({"13149": 300.0, "13121": 0.0}) == 300.0
    assert hybrid["net_grid_power"].compute({"13149": 0.0, "13121": 2500.0}) == -2500.0
    assert hybrid["net_battery_power"].compute({"13126": None, "13150": 800.0}) is None
    assert derived_for(7) == ()
