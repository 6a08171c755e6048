"""The counter guard: lifetime totals never go down; daily counters restart only at midnight."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from sungrow.cloud.models import Plant, Reading
from sungrow.states.builder import Source, StateBuilder
from sungrow.states.catalog import load_catalog
from sungrow.states.derived import derived_for
from sungrow.states.freshness import Freshness
from sungrow.states.guard import CounterGuard, Moment
from sungrow.states.naming import EntityNames
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from pathlib import Path

    from sungrow.publish.model import SensorState

DAY = date(2026, 6, 21)
BERLIN = ZoneInfo("Europe/Berlin")
NOON = datetime(2026, 6, 21, 12, 0, tzinfo=BERLIN)
PLANT_ID = "5694969"
LIFETIME = f"{PLANT_ID}/{PLANT_ID}_11_0_0/total_yield"
DAILY = f"{PLANT_ID}/{PLANT_ID}_11_0_0/daily_yield"
OVERFLOW = 4294967295.0


def at(local: datetime, day: date | None = None) -> Moment:
    """Return the moment of a reading taken at plant-local `local` (of `day`, if given)."""
    return Moment(epoch=local.timestamp(), local=local, day=day or local.date())


def every_5_minutes(start: datetime, count: int) -> list[Moment]:
    """Return `count` poll moments five minutes apart."""
    return [at(start + timedelta(minutes=5 * step)) for step in range(count)]


def lifetimes(guard: CounterGuard, values: list[float], start: datetime = NOON) -> list[Any]:
    """Feed a lifetime total one value per poll; return what would be published."""
    moments = every_5_minutes(start, len(values))
    return [
        guard.lifetime(LIFETIME, value, plant=PLANT_ID, at=moment)
        for value, moment in zip(values, moments, strict=True)
    ]


def dailies(guard: CounterGuard, values: list[float], start: datetime = NOON) -> list[Any]:
    """Feed a daily counter one value per poll; return what would be published."""
    moments = every_5_minutes(start, len(values))
    return [
        guard.daily(DAILY, value, plant=PLANT_ID, at=moment)
        for value, moment in zip(values, moments, strict=True)
    ]


def test_a_lifetime_total_nudged_down_is_held() -> None:
    """8635.66 → 8635.56 (a server-side recompute) publishes 8635.66 again."""
    published = lifetimes(CounterGuard(), [8635660.0, 8635560.0, 8635700.0])

    assert published == [8635660.0, 8635660.0, 8635700.0]


def test_a_lifetime_total_reported_as_0_is_held() -> None:
    """A 0 from a glitch keeps the last value."""
    assert lifetimes(CounterGuard(), [5000.0, 0.0]) == [5000.0, 5000.0]


def test_a_first_lifetime_0_is_not_published() -> None:
    """A first-ever 0 would make the next real total count as this hour's energy."""
    assert lifetimes(CounterGuard(), [0.0, 5000.0]) == [None, 5000.0]


def test_an_overflow_reading_is_held_and_never_holds_the_true_values_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One 4294967295 Wh reading is not a rise: the true values go on, also after a restart."""
    file = JsonFile(tmp_path / "counters.json")
    guard = CounterGuard(file)

    first = lifetimes(guard, [5000000.0, OVERFLOW, 5000400.0])
    guard.save()
    restored = CounterGuard.from_dict(file, file.load() or {})
    later = lifetimes(restored, [5000800.0], start=NOON + timedelta(minutes=15))

    assert first == [5000000.0, 5000000.0, 5000400.0]
    assert later == [5000800.0]
    assert [r.levelname for r in caplog.records if "more than the plant" in r.getMessage()] == [
        "WARNING"
    ]


def test_a_glitch_the_cloud_repeats_is_never_taken() -> None:
    """An overflow value repeated poll after poll is not a counter going on: still held."""
    published = lifetimes(CounterGuard(), [5000000.0, 9e12, 9e12, 9e12, 9e12])

    assert published == [5000000.0] * 5


def test_a_jump_the_next_readings_confirm_is_taken() -> None:
    """The cloud caught up after its own outage: held twice, then taken when it goes on."""
    published = lifetimes(CounterGuard(), [5000000.0, 5900000.0, 5900200.0, 5900400.0])

    assert published == [5000000.0, 5000000.0, 5000000.0, 5900400.0]


def test_a_rise_after_a_long_absence_is_plausible() -> None:
    """Two days without polling: the plant had time to make it."""
    guard = CounterGuard()
    guard.lifetime(LIFETIME, 5000000.0, plant=PLANT_ID, at=at(NOON))

    two_days_later = at(NOON + timedelta(days=2))
    assert guard.lifetime(LIFETIME, 5090000.0, plant=PLANT_ID, at=two_days_later) == 5090000.0


def test_a_large_plant_proves_its_power_by_its_readings() -> None:
    """A 1 MW plant raises its own bound; a power glitch cannot raise it by more than 4 times."""
    guard = CounterGuard()
    for watts in (90_000.0, 350_000.0, 1_000_000.0, 9e12):
        guard.observe_power(PLANT_ID, watts)
    moments = every_5_minutes(NOON, 2)
    guard.lifetime(LIFETIME, 1e9, plant=PLANT_ID, at=moments[0])

    # 1 MW for 5 minutes is 83 kWh.
    assert guard.lifetime(LIFETIME, 1e9 + 83_000.0, plant=PLANT_ID, at=moments[1]) == 1e9 + 83_000
    assert guard.largest_power[PLANT_ID] == 1_000_000.0


def test_the_memory_survives_a_restart(tmp_path: Path) -> None:
    """Saved, restored, and a dip after the restart is still held."""
    file = JsonFile(tmp_path / "counters.json")
    first = CounterGuard(file)
    first.lifetime(LIFETIME, 5000.0, plant=PLANT_ID, at=at(NOON))
    first.daily(DAILY, 1200.0, plant=PLANT_ID, at=at(NOON))
    first.observe_power(PLANT_ID, 7000.0)
    first.save()

    second = CounterGuard.from_dict(file, file.load() or {})

    assert second.lifetime(LIFETIME, 4990.0, plant=PLANT_ID, at=at(NOON)) == 5000.0
    assert second.daily(DAILY, 0.0, plant=PLANT_ID, at=at(NOON)) == 1200.0
    assert second.largest_power == {PLANT_ID: 7000.0}


def test_memory_kept_under_the_entity_id_moves_to_the_counters_key() -> None:
    """Memory from before 0.6 (keyed by entity id) still holds the counter back."""
    guard = CounterGuard.from_dict(
        None, {"counters": {"sensor.sungrow_home_total_yield": [5000.0, "2026-06-21"]}}
    )

    guard.adopt(LIFETIME, "sensor.sungrow_home_total_yield")

    assert guard.lifetime(LIFETIME, 4000.0, plant=PLANT_ID, at=at(NOON)) == 5000.0


def test_unreadable_entries_are_dropped() -> None:
    """A hand-edited, foreign or poisoned file loses only the entries that do not parse."""
    now = NOON.timestamp()
    guard = CounterGuard.from_dict(
        None,
        {
            "counters": {
                "a": [1.0, "2026-06-21"],
                "b": "x",
                "c": [1, "yesterday"],
                "d": [5.0, "2099-01-01", now],
                "e": [True, "2026-06-21"],
                "f": [5.0, "2026-06-21", now + 86400 * 3],
            },
            "largest_power": {"1": "x", "2": -5, "3": 5000},
        },
        now=now,
    )

    assert set(guard.memory) == {"a"}
    assert guard.largest_power == {"3": 5000.0}


@pytest.mark.parametrize(
    ("hour", "value", "published"),
    [
        (0, 300.0, 300.0),  # a reset 20 minutes after midnight
        (0, 1990.0, 2000.0),  # a nudge in the first hour is still a nudge
        (1, 300.0, 2000.0),  # after the first hour a drop is held
        (12, 0.0, 2000.0),  # a 0 at noon is held
    ],
)
def test_a_daily_counter_restarts_only_in_the_first_hour(
    hour: int, value: float, published: float
) -> None:
    """Same plant-local day: a drop to under half is a reset only between 00:00 and 01:00."""
    guard = CounterGuard()
    guard.daily(DAILY, 2000.0, plant=PLANT_ID, at=at(NOON.replace(hour=0, minute=5)))

    local = NOON.replace(hour=hour, minute=20)
    assert guard.daily(DAILY, value, plant=PLANT_ID, at=at(local)) == published


def test_yesterdays_total_repeated_after_midnight_is_not_todays() -> None:
    """The cloud resets late: 20 kWh stamped 00:05 cannot be today's; the reset is taken."""
    guard = CounterGuard()
    evening = NOON.replace(hour=23, minute=55) - timedelta(days=1)

    published = dailies(guard, [20000.0, 20000.0, 20000.0, 150.0], start=evening)

    assert published == [20000.0, 20000.0, 20000.0, 150.0]


def test_a_new_day_restarts_a_daily_counter_whenever_it_is_seen() -> None:
    """After a night without polling, the first value of the new day is taken as it is."""
    guard = CounterGuard()
    guard.daily(DAILY, 20000.0, plant=PLANT_ID, at=at(NOON))

    next_morning = at(NOON + timedelta(hours=21))
    assert guard.daily(DAILY, 4200.0, plant=PLANT_ID, at=next_morning) == 4200.0


def test_a_daily_spike_is_not_held_until_midnight() -> None:
    """10^9 Wh at noon is held as a suspect; the next true value is published at once."""
    published = dailies(CounterGuard(), [20000.0, 1e9, 20400.0, 20800.0])

    assert published == [20000.0, 20000.0, 20400.0, 20800.0]


def test_a_first_daily_value_beyond_what_the_day_allows_is_not_taken() -> None:
    """At 00:10 nobody made 10^9 Wh today: not published, the next true value is."""
    guard = CounterGuard()
    ten_past = NOON.replace(hour=0, minute=10)

    assert dailies(guard, [1e9, 150.0], start=ten_past) == [None, 150.0]


def test_a_reading_of_an_earlier_day_does_not_move_the_day_back() -> None:
    """A late reading stamped yesterday after today's first one is held."""
    guard = CounterGuard()
    guard.daily(DAILY, 300.0, plant=PLANT_ID, at=at(NOON.replace(hour=0, minute=10)))

    late = at(NOON.replace(hour=0, minute=15), day=DAY - timedelta(days=1))
    assert guard.daily(DAILY, 25000.0, plant=PLANT_ID, at=late) == 300.0


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
    return next(state.state for state in states if state.entity_id.endswith("_daily_yield"))


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
            source = Source(plant, None, reading, None)
            return daily_yield(states_builder.reading_states(source, points, now=moment))

        evening = cycle(datetime(2026, 6, 21, 23, 50), 20000.0)  # noqa: DTZ001 - Auckland time
        after_midnight = cycle(datetime(2026, 6, 22, 0, 20), 100.0)  # noqa: DTZ001
        noon_glitch = cycle(datetime(2026, 6, 22, 12, 0), 0.0)  # noqa: DTZ001
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()

    assert (evening, after_midnight, noon_glitch) == ("20.00", "0.10", "0.10")


@pytest.mark.parametrize(
    ("stamp", "counted_day"),
    [
        (datetime(2099, 1, 1, 12, 0), None),  # noqa: DTZ001 - plant-local
        (datetime(2026, 6, 22, 12, 0), None),  # noqa: DTZ001 - a day ahead
        (datetime(2026, 6, 18, 12, 0), None),  # noqa: DTZ001 - three days behind
        (datetime(2026, 6, 21, 12, 10), date(2026, 6, 21)),  # noqa: DTZ001 - minutes ahead
        (datetime(2026, 6, 20, 23, 55), date(2026, 6, 20)),  # noqa: DTZ001 - just before midnight
    ],
)
def test_a_data_time_counts_only_within_sane_bounds(
    tmp_path: Path, stamp: datetime, counted_day: date | None
) -> None:
    """A reading stamped in 2099 or a day ahead does not decide the day of the counters."""
    states_builder = builder("Europe/Berlin", tmp_path)
    reading = Reading(ps_key="1_11_0_0", device_time=stamp, values={})

    data_time = states_builder.data_time(reading, NOON.timestamp())

    assert (data_time.date() if data_time else None) == counted_day


def test_a_day_ahead_stamp_with_0_at_noon_is_not_a_new_day(tmp_path: Path) -> None:
    """The cloud stamps tomorrow and sends 0 at noon: held, no energy counted twice."""
    states_builder = builder("Europe/Berlin", tmp_path)
    points = load_catalog().get(11).published_points()
    plant = Plant(ps_id="1", name="Home")

    def cycle(stamp: datetime, value: float, now: datetime) -> str:
        reading = Reading(ps_key="1_11_0_0", device_time=stamp, values={"83022": value})
        data_time = states_builder.data_time(reading, now.timestamp())
        source = Source(plant, None, reading, data_time)
        return daily_yield(states_builder.reading_states(source, points, now=now.timestamp()))

    noon = NOON.replace(tzinfo=None)
    assert cycle(noon, 12000.0, NOON) == "12.00"
    assert cycle(noon + timedelta(days=1), 0.0, NOON + timedelta(minutes=5)) == "12.00"
    assert cycle(noon + timedelta(minutes=10), 12300.0, NOON + timedelta(minutes=10)) == "12.30"


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
