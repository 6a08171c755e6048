"""The point catalog, the conversion of readings into states, and stable entity ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from conftest import load_script
from fake_homeassistant import VALID_ENTITY_ID

from sungrow.cloud.models import Device, Plant, Reading, parse_number
from sungrow.states.builder import Source, StateBuilder
from sungrow.states.catalog import Catalog, PointSpec, load_catalog
from sungrow.states.freshness import Freshness
from sungrow.states.guard import CounterGuard
from sungrow.states.naming import EntityNames, slugify
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


@pytest.mark.parametrize(
    "raw",
    [
        65535,
        "65535",
        2147483647,
        "2147483647.0",
        4294967295,
        "4294967295.0",
        1.5e14,
        "-1.5e14",
        10**400,
    ],
)
def test_overflow_sentinels_and_absurd_magnitudes_are_no_value(raw: object) -> None:
    """Devices say "no value" with 65535 and the 32-bit maxima; beyond 1e14 nothing is real."""
    assert parse_number(raw) is None


@pytest.mark.parametrize(
    ("raw", "value"),
    [(65534, 65534.0), (-65535, -65535.0), ("1e14", 1e14), (4294967296, 4294967296.0)],
)
def test_values_next_to_the_sentinels_are_kept(raw: object, value: float) -> None:
    """Only the exact sentinels and magnitudes past 1e14 are dropped."""
    assert parse_number(raw) == value


@pytest.mark.parametrize("raw", ["\u0663", "\u0661\u0662\u0663.\u0665", "1_000"])
def test_numbers_written_otherwise_than_in_ascii_are_no_value(raw: str) -> None:
    """Digits of other scripts and Python's digit separators are not the cloud's numbers."""
    assert parse_number(raw) is None


@pytest.mark.parametrize(
    "ps_id",
    ["x/../../services/homeassistant/stop?", "²", "٣", "", " ", "-1", -1, True, 1.5, None],
)
def test_a_plant_whose_ps_id_is_not_ascii_digits_is_skipped(ps_id: object) -> None:
    """Such an item is no plant: from_wire says None, and the item is skipped."""
    assert Plant.from_wire({"ps_id": ps_id, "ps_name": "Trap"}) is None


@pytest.mark.parametrize(("ps_id", "text"), [(5694969, "5694969"), (" 0042 ", "0042")])
def test_a_plant_id_is_read_from_a_number_or_from_digits(ps_id: object, text: str) -> None:
    """A ps_id arrives as a number or as text; it is kept as text, digits as sent."""
    plant = Plant.from_wire({"ps_id": ps_id, "ps_name": "Home"})

    assert plant is not None
    assert (plant.ps_id, plant.name) == (text, "Home")


@pytest.mark.parametrize("device_type", ["²", "٣", "-14", -14, "14.0", True])
def test_a_device_type_that_is_not_ascii_digits_skips_the_device(device_type: object) -> None:
    """A device type the cloud garbled drops the device instead of raising."""
    item = {"ps_key": "1_14_1_1", "device_type": device_type, "device_name": "Inverter"}

    assert Device.from_wire(item) is None


@pytest.mark.parametrize(
    "ps_key", ["1_14_1_1/../x", "1_14 1", "1_14_1_1\n", "ü_14_1_1", "", 11411, "1" * 101]
)
def test_a_device_with_an_unsafe_ps_key_is_skipped(ps_key: object) -> None:
    """A ps_key goes into entity ids and calls: only letters, digits, _ and - are accepted."""
    item = {"ps_key": ps_key, "device_type": 14, "device_name": "Inverter"}

    assert Device.from_wire(item) is None


def test_names_lose_control_characters_and_are_capped() -> None:
    """Names are shown in Home Assistant and the log: no control or invisible characters."""
    device = Device.from_wire(
        {
            "ps_id": 1,
            "ps_key": "1_14_1_1",
            "device_type": "14",
            "device_name": "Inverter\n\u200bOne\x1b",
            "device_model_code": "SH10RT\u202e",
            "device_sn": "A12\r34",
        }
    )
    plant = Plant.from_wire({"ps_id": 1, "ps_name": " " + "x" * 150})
    unnamed = Device.from_wire({"ps_key": "1_14_1_2", "device_type": 14, "type_name": "\x00\t"})

    assert device is not None
    assert (device.name, device.model, device.serial_number) == ("InverterOne", "SH10RT", "A1234")
    assert plant is not None
    assert plant.name == "x" * 100
    assert unnamed is not None
    assert unnamed.name == "1_14_1_2"


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

    source = Source(Plant(ps_id="1", name="Home"), None, reading, None)
    noon = datetime(2026, 6, 21, 12, 0, tzinfo=UTC).timestamp()
    states = builder.reading_states(source, PLANT.published_points(), now=noon)

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
    names.save()
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


def microinverter(ps_id: str, code: int) -> Device:
    """Return an S450S microinverter of a plant, as the device list shows it."""
    return Device(
        ps_id=ps_id,
        ps_key=f"{ps_id}_55_{code}_1",
        device_type=55,
        name=f"S450S {code}",
        model="S450S",
        serial_number=f"A{code:04d}",
    )


def device_ids(names: EntityNames, plant: Plant, devices: list[Device]) -> dict[str, str]:
    """Return each device's entity id of one key, by ps_key."""
    return {device.ps_key: names.entity_id(plant, device, "total_yield") for device in devices}


def test_a_lost_names_file_gives_back_the_same_ids_whatever_the_cloud_order(
    tmp_path: Path,
) -> None:
    """Same-model devices get their ids from their identity, not from the list's order."""
    plant = Plant(ps_id="9", name="Home")
    devices = [microinverter("9", code) for code in (1, 2, 10, 3)]
    first = EntityNames(JsonFile(tmp_path / "a.json"))
    first.assign(plant, devices)
    rebuilt = EntityNames(JsonFile(tmp_path / "b.json"))
    rebuilt.assign(plant, list(reversed(devices)))

    assert device_ids(first, plant, devices) == device_ids(rebuilt, plant, devices)
    assert device_ids(first, plant, devices)["9_55_1_1"] == "sensor.sungrow_home_s450s_total_yield"
    assert device_ids(first, plant, devices)["9_55_10_1"] == (
        "sensor.sungrow_home_s450s_4_total_yield"
    )


def test_no_two_sensors_share_an_entity_id(tmp_path: Path) -> None:
    """A battery modelled like its hybrid, ps_keys without the plant id: all ids distinct."""
    catalog = load_catalog()

    def keys(device_type: int) -> set[str]:
        return {point.key for point in catalog.get(device_type).points}

    names = EntityNames(JsonFile(tmp_path / "names.json"), keys=keys)
    home, cabin = Plant(ps_id="1", name="Home"), Plant(ps_id="2", name="Home Cabin")
    hybrid = Device(ps_id="1", ps_key="x_14_1_1", device_type=14, name="SH10RT", model="SH10RT")
    battery = Device(ps_id="1", ps_key="x_43_1_1", device_type=43, name="SH10RT", model="SH10RT")
    same_key = Device(ps_id="2", ps_key="x_14_1_1", device_type=14, name="SH10RT", model="SH10RT")
    names.assign(home, [battery, hybrid])
    names.assign(cabin, [same_key])

    ids = [
        names.entity_id(plant, device, point.key)
        for plant, device in ((home, hybrid), (home, battery), (cabin, same_key))
        for point in catalog.get(device.device_type).points
    ]
    ids += [names.entity_id(plant, None, key) for plant in (home, cabin) for key in keys(11)]

    assert len(ids) == len(set(ids))
    assert all(VALID_ENTITY_ID.match(entity_id) for entity_id in ids)


def test_names_kept_by_ps_key_alone_are_still_honoured(tmp_path: Path) -> None:
    """names.json from before 0.6 keyed devices by ps_key: their ids do not move."""
    stored = {"plants": {"9": "home"}, "devices": {"9_55_3_1": "s450s"}}
    names = EntityNames.from_dict(JsonFile(tmp_path / "names.json"), stored)
    plant = Plant(ps_id="9", name="Home")

    names.assign(plant, [microinverter("9", 1), microinverter("9", 3)])

    assert names.entity_id(plant, microinverter("9", 3), "x") == "sensor.sungrow_home_s450s_x"
    assert names.entity_id(plant, microinverter("9", 1), "x") == "sensor.sungrow_home_s450s_2_x"


def test_every_device_type_of_the_issue_has_a_default_set() -> None:
    """Plant, inverters, meter, battery, WiNet-S, charger and microinverter have sensors."""
    catalog = load_catalog()

    for device_type in (11, 1, 14, 7, 43, 22, 51, 55):
        points = catalog.get(device_type).published_points()
        assert 2 <= len(points) <= 50, device_type
        assert all(point.key and point.name for point in points)


def test_every_numeric_sensor_has_a_unit() -> None:
    """Statistics need a unit: every point with a state class has one.

    A power factor has none, by Home Assistant's definition.
    """
    catalog = load_catalog()

    unitless = [
        f"{device_type}:{point.point_id}"
        for device_type, spec in catalog.device_types.items()
        for point in spec.points
        if point.state_class and not point.unit and point.device_class != "power_factor"
    ]

    assert unitless == []


def test_a_devices_copy_of_a_plant_counter_is_off_unless_it_was_published() -> None:
    """The hybrid inverter's copy of the plant's feed-in total: off, kept for an upgrade."""
    hybrid = load_catalog().get(14)

    fresh = {point.key for point in hybrid.published_points()}
    upgraded = {
        point.key for point in hybrid.published_points(published_before={"total_feed_in_energy"})
    }

    assert "total_feed_in_energy" not in fresh
    assert upgraded - fresh == {"total_feed_in_energy"}


def test_the_catalog_the_add_on_loads_is_the_yaml_compiled() -> None:
    """catalog.json is scripts/catalog.py's output for catalog.yaml as it stands."""
    script = load_script("catalog")

    assert script.TARGET.read_text(encoding="utf-8") == script.compiled(), (
        "catalog.yaml changed: run .venv/bin/python scripts/catalog.py"
    )


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
