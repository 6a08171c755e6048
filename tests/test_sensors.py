"""The point catalog, the conversion of readings into states, and stable entity ids."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from fake_homeassistant import VALID_ENTITY_ID

from sungrow.catalog import Catalog, PointSpec, load_catalog
from sungrow.freshness import Freshness
from sungrow.guard import CounterGuard
from sungrow.models import Plant, Reading, parse_number
from sungrow.naming import EntityNames, slugify
from sungrow.sensors import StateBuilder
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from pathlib import Path

PLANT = load_catalog().get(11)


def point(point_id: str) -> PointSpec:
    """Return the catalog entry of a plant point."""
    return next(spec for spec in PLANT.points if spec.point_id == point_id)


@pytest.mark.parametrize(
    ("point_id", "unit", "device_class", "state_class"),
    [
        ("83022", "kWh", "energy", "total_increasing"),
        ("83024", "kWh", "energy", "total"),
        ("83033", "W", "power", "measurement"),
        ("83106", "W", "power", "measurement"),
        ("83102", "kWh", "energy", "total_increasing"),
        ("83105", "kWh", "energy", "total"),
        ("83072", "kWh", "energy", "total_increasing"),
        ("83075", "kWh", "energy", "total"),
        ("83118", "kWh", "energy", "total_increasing"),
        ("83124", "kWh", "energy", "total"),
        ("83252", "%", "battery", "measurement"),
    ],
)
def test_plant_points_are_published_with_energy_dashboard_classes(
    point_id: str, unit: str, device_class: str, state_class: str
) -> None:
    """The plant sensors the walking skeleton promises carry the right unit and classes."""
    spec = point(point_id)

    assert spec.enabled
    assert spec.attributes("x")["unit_of_measurement"] == unit
    assert spec.device_class == device_class
    assert spec.state_class == state_class


@pytest.mark.parametrize(
    ("point_id", "raw", "state"),
    [
        ("83022", 20200.0, "20.20"),
        ("83022", 4.0, "0.00"),
        ("83024", 49364051.3, "49364.05"),
        ("83033", 9276.4, "9276"),
        ("83033", -0.3, "0"),
        ("83252", 0.791, "79.1"),
        ("83252", 1.0, "100.0"),
    ],
)
def test_values_are_converted_and_rounded(point_id: str, raw: float, state: str) -> None:
    """Wh become kWh, fractions become %, and every value is rounded for display."""
    assert point(point_id).state(raw) == state


@pytest.mark.parametrize(
    ("raw", "value"),
    [("108500.0", 108500.0), ("0.0", 0.0), ("-166", -166.0), (12, 12.0), (" 3.5 ", 3.5)],
)
def test_numbers_are_parsed(raw: object, value: float) -> None:
    """Point values arrive as strings (sometimes numbers)."""
    assert parse_number(raw) == value


@pytest.mark.parametrize("raw", [None, "--", "", "null", "NaN", "inf", True, [], {}])
def test_missing_values_are_none_never_zero(raw: object) -> None:
    """null, "--", text and non-finite numbers carry no value."""
    assert parse_number(raw) is None


def test_states_leave_out_points_without_a_value(tmp_path: Path) -> None:
    """A point with no value publishes nothing, not 0."""
    reading = Reading(
        ps_key="1_11_0_0",
        device_time=None,
        values={"83022": 20200.0, "83033": None, "83252": 0.5},
    )
    builder = StateBuilder(
        names=EntityNames(JsonFile(tmp_path / "names.json")),
        guard=CounterGuard(),
        freshness=Freshness(scan_interval=300),
    )

    states = builder.reading_states(
        Plant(ps_id="1", name="Home"), None, reading, PLANT.published_points(), now=0.0
    )

    assert {state.entity_id: state.state for state in states} == {
        "sensor.sungrow_home_daily_yield": "20.20",
        "sensor.sungrow_home_battery_level": "50.0",
    }
    daily = next(state for state in states if state.entity_id.endswith("daily_yield"))
    assert daily.attributes == {
        "friendly_name": "Home Daily yield",
        "unit_of_measurement": "kWh",
        "device_class": "energy",
        "state_class": "total_increasing",
        "icon": "mdi:solar-power",
    }


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Home", "home"),
        ("Casa Müller-Lüdenscheidt", "casa_muller_ludenscheidt"),
        ("  My   Plant #2 ", "my_plant_2"),
        ("阳光电站", ""),
        ("__x__", "x"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    """Names become lowercase ASCII words joined by single underscores."""
    assert slugify(name) == slug


def test_entity_ids_are_valid_and_survive_a_rename(tmp_path: Path) -> None:
    """A plant keeps its entity ids when renamed in the app, also after a restart."""
    file = JsonFile(tmp_path / "names.json")
    names = EntityNames(file)

    first = names.entity_id(Plant(ps_id="7", name="Home"), None, "plant_power")
    stored = json.loads((tmp_path / "names.json").read_text())
    again = EntityNames.from_dict(file, stored).entity_id(
        Plant(ps_id="7", name="Renamed"), None, "plant_power"
    )

    assert first == again == "sensor.sungrow_home_plant_power"
    assert VALID_ENTITY_ID.match(first)


def test_entity_ids_of_plants_with_the_same_or_no_latin_name(tmp_path: Path) -> None:
    """Two plants named alike get distinct ids; a name without Latin letters uses the id."""
    names = EntityNames(JsonFile(tmp_path / "names.json"))

    ids = [
        names.entity_id(Plant(ps_id="1", name="Home"), None, "load_power"),
        names.entity_id(Plant(ps_id="2", name="home"), None, "load_power"),
        names.entity_id(Plant(ps_id="3", name="阳光电站"), None, "load_power"),
    ]

    assert ids == [
        "sensor.sungrow_home_load_power",
        "sensor.sungrow_home_2_load_power",
        "sensor.sungrow_plant_3_load_power",
    ]
    assert all(VALID_ENTITY_ID.match(entity_id) for entity_id in ids)


def test_every_device_type_of_the_issue_has_a_default_set() -> None:
    """Plant, inverters, meter, battery, WiNet-S, charger and microinverter have sensors."""
    catalog = load_catalog()

    for device_type in (11, 1, 14, 7, 43, 22, 51, 55):
        points = catalog.get(device_type).published_points()
        assert 2 <= len(points) <= 50, device_type
        assert all(point.key and point.name for point in points)


def minimal_catalog(point: dict[str, object], kind: dict[str, object]) -> dict[str, object]:
    """Return a catalog with one kind and one point, as catalog.yaml parses."""
    return {
        "kinds": {"power": kind},
        "enums": {},
        "device_types": {11: {"name": "Plant", "points": {83033: point}}},
    }


@pytest.mark.parametrize(
    ("point", "kind", "problem"),
    [
        ({"key": "p", "name": "P", "kind": "power", "pubish_unit": "W"}, {}, "'pubish_unit'"),
        ({"key": "p", "name": "P", "kind": "power"}, {"presicion": 0}, "'presicion'"),
        ({"key": "p", "name": "P", "kind": "pwoer"}, {}, "unknown kind 'pwoer'"),
        ({"key": "p", "name": "P", "counter": "yearly"}, {}, "counter must be"),
    ],
)
def test_the_catalog_rejects_what_it_does_not_know(
    point: dict[str, object], kind: dict[str, object], problem: str
) -> None:
    """A typo in catalog.yaml fails at load, naming the key, instead of dropping a unit."""
    with pytest.raises(ValueError, match=problem):
        Catalog.from_dict(minimal_catalog(point, kind))


def test_a_kind_and_a_point_share_one_set_of_defaults() -> None:
    """What neither sets comes from PointSpec: no other defaults hide in the loader."""
    catalog = Catalog.from_dict(minimal_catalog({"key": "p", "name": "P", "kind": "power"}, {}))

    (spec,) = catalog.get(11).points
    assert spec == PointSpec(point_id="83033", key="p", name="P")


def test_extra_points_add_catalog_entries_and_unknown_ids() -> None:
    """An extra id the catalog knows gets its spec; an unknown one a plain numeric sensor."""
    hybrid = load_catalog().get(14)

    chosen = {point.point_id: point for point in hybrid.published_points({"13158", "13999"})}

    assert chosen["13158"].key == "phase_b_voltage"
    assert chosen["13158"].unit == "V"
    unknown = chosen["13999"]
    assert (unknown.key, unknown.name, unknown.unit) == ("point_13999", "Point 13999", None)
    assert unknown.state(12.3456) == "12.346"
    assert load_catalog().get(9).published_points() == ()


def test_status_points_are_published_as_text() -> None:
    """Status codes become the documented text; unknown codes stay numbers."""
    status = point_of(14, "13146")

    assert status.state(0.0) == "Grid-connected"
    assert status.state(37120.0) == "Running with alarm"
    assert status.state(777.0) == "777"
    attributes = status.attributes("Home SH10RT Operating status")
    assert attributes["device_class"] == "enum"
    assert "Running with alarm" in attributes["options"]
    assert "unit_of_measurement" not in attributes


def test_charger_power_in_kilowatts_is_published_in_watts() -> None:
    """The charger sends kW; every power sensor is in W."""
    assert point_of(51, "33708").state(7.4) == "7400"
    assert point_of(51, "33708").unit == "W"


def point_of(device_type: int, point_id: str) -> PointSpec:
    """Return the catalog entry of a point of a device type."""
    return next(p for p in load_catalog().get(device_type).points if p.point_id == point_id)
