"""Property-based fuzzing: options, cloud replies and state files, against the invariants.

Whatever comes in: no exception other than the documented one, no negative, absurd or
too-long state published, no lifetime total that goes down, no request outside the states
API, no secret in a log line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sungrow.backoff import CredentialBackoff
from sungrow.cloud.discovery import Discovery
from sungrow.cloud.models import Device, Plant, Reading, wire_fields
from sungrow.cloud.tokens import OAuthStore, TokenStore
from sungrow.exceptions import OptionsError, StateFileError
from sungrow.logs import RedactingFormatter
from sungrow.options import Options
from sungrow.publish.rest import VALID_ENTITY_ID
from sungrow.states.builder import Source, StateBuilder, sensor_keys
from sungrow.states.catalog import load_catalog
from sungrow.states.freshness import Freshness
from sungrow.states.guard import CounterGuard, Moment
from sungrow.states.naming import EntityNames
from sungrow.storage import JsonFile

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
NOON = datetime(2026, 6, 21, 10, 0, tzinfo=UTC)
CATALOG = load_catalog()
ABSURD = 1e14

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
# What options and list items hold: mostly flat values, sometimes a nested surprise.
flat_values = json_scalars | st.lists(json_scalars, max_size=3) | json_values
WIRE_FIELDS = [
    "ps_id",
    "ps_name",
    "ps_key",
    "device_type",
    "device_name",
    "device_model_code",
    "type_name",
    "device_sn",
]
# Numbers as the cloud sends them: strings, numbers, placeholders, garbage.
wire_numbers = (
    st.floats(allow_nan=True, allow_infinity=True).map(str)
    | st.floats(min_value=-1e6, max_value=1e7).map(lambda value: f"{value:.1f}")
    | st.sampled_from(["--", "", "null", "4294967295", "65535", "1e300", "²", "٣", "-0"])
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.none()
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the state files the examples write."""
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(Options.__dataclass_fields__)), flat_values))
def test_options_are_either_valid_or_one_clear_error(data: dict[str, Any]) -> None:
    """Any options.json: Options or an OptionsError of one line; never another exception."""
    data = {"appkey": "A" * 32, "secret_key": "s" * 20, **data}
    problem = ""
    try:
        options = Options.from_dict(data)
    except OptionsError as err:
        problem = str(err)
    password = data.get("password")
    if problem:
        assert "\n" not in problem
        if isinstance(password, str) and len(password) >= 4:
            assert password not in problem
        return
    assert 60 <= options.scan_interval <= 3600
    for plant in options.plants:
        assert plant.isascii()
        assert plant.isdigit()


@FUZZ
@given(st.dictionaries(st.sampled_from(WIRE_FIELDS) | st.text(max_size=8), flat_values))
def test_cloud_items_are_models_or_nothing(item: dict[str, Any]) -> None:
    """Any plant or device list item: a model with safe identifiers, or None; no exception."""
    plant = Plant.from_wire(item)
    device = Device.from_wire(item)
    if plant is not None:
        assert plant.ps_id.isascii()
        assert plant.ps_id.isdigit()
        assert all(ord(char) >= 32 for char in plant.name)
    if device is not None:
        assert all(char.isascii() and (char.isalnum() or char in "_-") for char in device.ps_key)
        assert all(ord(char) >= 32 for char in device.name + device.model)


def builder() -> StateBuilder:
    """A fresh state builder for a plant on UTC."""
    return StateBuilder(
        names=EntityNames(None, keys=partial(sensor_keys, CATALOG)),
        guard=CounterGuard(),
        freshness=Freshness(scan_interval=300),
        timezone=UTC,
    )


def energy_problems(states: list[Any]) -> Iterator[str]:
    """Yield what is wrong with the published states."""
    for state in states:
        if len(state.state) > 255:
            yield f"{state.entity_id}: {len(state.state)} characters"
        if not VALID_ENTITY_ID.fullmatch(state.entity_id):
            yield f"invalid entity id {state.entity_id!r}"
        if state.attributes.get("device_class") == "energy" and state.state != "unavailable":
            value = float(state.state)
            if not math.isfinite(value) or value < 0 or value > ABSURD:
                yield f"{state.entity_id}: {state.state}"


@FUZZ
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["83022", "83024", "83033", "83124", "83252"]), wire_numbers
        ),
        min_size=1,
        max_size=12,
    )
)
def test_any_plant_readings_publish_nothing_wrong(rows: list[dict[str, Any]]) -> None:
    """Garbage in the readings never becomes a negative, absurd or falling energy state."""
    states_builder = builder()
    points = CATALOG.get(11).published_points()
    plant = Plant(ps_id="1", name="Home")
    published: dict[str, float] = {}
    for step, row in enumerate(rows):
        wire = {"ps_key": "1_11_0_0", **{f"p{key}": value for key, value in row.items()}}
        reading = Reading.from_wire(wire, wire_fields([point.point_id for point in points]))
        now = (NOON + timedelta(minutes=5 * step)).timestamp()
        states = states_builder.reading_states(Source(plant, None, reading, None), points, now=now)
        assert list(energy_problems(states)) == []
        for state in states:
            if state.attributes.get("state_class") == "total":
                value = float(state.state)
                assert value >= published.get(state.entity_id, 0.0)
                published[state.entity_id] = value


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=-1e15, max_value=1e15, allow_nan=False),
            st.integers(min_value=0, max_value=86400 * 3),
        ),
        max_size=30,
    )
)
def test_a_lifetime_total_never_goes_down_whatever_the_cloud_sends(
    sequence: list[tuple[float, int]],
) -> None:
    """Any sequence of readings: what is published never falls and is never negative."""
    guard = CounterGuard()
    now = NOON
    last = 0.0
    for value, seconds in sequence:
        now += timedelta(seconds=seconds)
        moment = Moment(epoch=now.timestamp(), local=now, day=now.date())
        published = guard.lifetime("k", value, plant="1", at=moment)
        if published is not None:
            assert published >= last
            assert published >= 0
            last = published


@FUZZ
@given(json_values)
def test_state_files_of_any_shape_are_read_without_a_crash(data: Any) -> None:
    """Whatever a state file holds once parsed: each reader keeps what it can, no exception."""
    content = data if isinstance(data, dict) else {"x": data}
    CounterGuard.from_dict(None, content)
    EntityNames.from_dict(None, content)
    Freshness.from_dict(None, content, scan_interval=300)
    CredentialBackoff.from_dict(None, content, options_version="1:1")
    Discovery.from_dict(content)
    for key in ("counters", "plants", "devices", "sensors", "largest_power"):
        CounterGuard.from_dict(None, {key: data})
        EntityNames.from_dict(None, {key: data})
        Freshness.from_dict(None, {key: data}, scan_interval=300)
        Discovery.from_dict({key: data, "found_at": 1})


@FUZZ
@given(st.binary(max_size=200) | json_values.map(lambda value: json.dumps(value).encode()))
def test_state_files_of_any_bytes_raise_only_state_file_errors(workdir: Path, raw: bytes) -> None:
    """Any bytes on disk: the loaders return something or raise StateFileError, nothing else."""
    path = workdir / "state.json"
    path.write_bytes(raw)
    for load in (
        JsonFile(path).load,
        TokenStore(JsonFile(path), "a").load,
        OAuthStore(JsonFile(path), "a").load,
    ):
        path.write_bytes(raw)
        with contextlib.suppress(StateFileError):
            load()


@FUZZ
@given(
    st.lists(st.tuples(st.text(max_size=30), st.text(max_size=30), st.integers(0, 99)), max_size=6)
)
def test_entity_ids_are_always_valid_and_distinct(devices: list[tuple[str, str, int]]) -> None:
    """Any names and models: valid entity ids, no two sensors sharing one."""
    names = EntityNames(None, keys=partial(sensor_keys, CATALOG))
    plant = Plant(ps_id="7", name=devices[0][0] if devices else "")
    listed = [
        Device(
            ps_id="7",
            ps_key=f"7_{device_type}_{index}_1",
            device_type=device_type,
            name=name,
            model=model,
        )
        for index, (name, model, device_type) in enumerate(devices)
    ]
    names.assign(plant, listed)
    ids = [names.entity_id(plant, None, key) for key in sensor_keys(CATALOG, 11)]
    ids += [
        names.entity_id(plant, device, key)
        for device in listed
        for key in sensor_keys(CATALOG, device.device_type)
    ]
    assert all(VALID_ENTITY_ID.fullmatch(entity_id) for entity_id in ids)
    assert len(ids) == len(set(ids))


@FUZZ
@given(st.text(min_size=4, max_size=40), st.sampled_from(["{}", "x{}y", "'{}'", "…{}…"]))
def test_a_secret_never_reaches_a_log_line(secret: str, template: str) -> None:
    """Any registered secret, raw, JSON-escaped or URL-encoded, is redacted."""
    formatter = RedactingFormatter()
    formatter.add_secret(secret)
    for shown in (secret, json.dumps(secret)[1:-1], _quoted(secret)):
        record = logging.LogRecord(
            "t", logging.INFO, __file__, 1, template.format(shown), None, None
        )
        assert secret not in formatter.format(record)


def _quoted(text: str) -> str:
    from urllib.parse import quote  # noqa: PLC0415

    return quote(text, safe="")
