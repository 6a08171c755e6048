"""The add-on folder as the Supervisor reads it: config.yaml, translations, Dockerfile, run.sh."""

from __future__ import annotations

import os
import re
import struct
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from addon_linter import lint
from conftest import ADDON_DIR, dockerfile_healthcheck, health_check, load_script
from supervisor_options import OptionsRefused, validate, visible_in_form

from sungrow.cloud.regions import Server
from sungrow.options import LOG_LEVELS, PUBLISH_MODES, SCAN_INTERVAL_RANGE, Options

REPO = ADDON_DIR.parent
# The Supervisor's option type grammar (apps/options.py), written out for the types we use.
SCHEMA_TYPE = re.compile(
    r"^(?:str|password)(?:\((?:\d+)?,(?:\d+)?\))?\??$"
    r"|^(?:int|float)(?:\(-?[\d.]*,-?[\d.]*\))?\??$"
    r"|^(?:bool|email|url|port)\??$"
    r"|^match\(.+\)\??$"
    r"|^list\((?:[^|()]+\|)*[^|()]+\)\??$"
)
ISSUE_SCHEMA: dict[str, str | list[str]] = {
    "appkey": "str",
    "secret_key": "password",
    "username": "str?",
    "password": "password?",
    "server": "list(europe|international|china|australia|india)",
    "server_url": "url?",
    "rsa_public_key": "str?",
    "authorization_code": "password?",
    "redirect_uri": "url?",
    "application_id": "str?",
    "plants": ["str?"],
    "extra_points": ["str?"],
    "scan_interval": "int(60,3600)?",
    "log_level": "list(debug|info|warning|error)?",
    "publish": "list(auto|mqtt|rest)?",
    "mqtt_url": "password?",
    "controls": "bool?",
    "history_days": "int(0,365)?",
}


def load_yaml(path: Path) -> Any:
    """Parse a YAML file safely."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The add-on's config.yaml."""
    data: dict[str, Any] = load_yaml(ADDON_DIR / "config.yaml")
    return data


def test_config_identity_and_runtime_keys(config: dict[str, Any]) -> None:
    """Name, quoted version, slug, archs and the keys the add-on relies on."""
    raw = (ADDON_DIR / "config.yaml").read_text(encoding="utf-8")
    assert raw.startswith("---\n")
    assert re.search(r'^version: "\d+\.\d+\.\d+"$', raw, re.MULTILINE)
    assert isinstance(config["version"], str)
    assert re.fullmatch(r"[-_.A-Za-z0-9]+", config["slug"])
    assert config["name"]
    assert config["description"]
    assert config["arch"] == ["aarch64", "amd64"]
    assert config["init"] is False
    assert config["homeassistant_api"] is True
    assert "image" not in config
    assert "watchdog" not in config


def test_version_matches_the_package_and_the_changelog(config: dict[str, Any]) -> None:
    """One version everywhere: config.yaml, the Python package, the changelog's top entry."""
    from sungrow import __version__  # noqa: PLC0415

    changelog = (ADDON_DIR / "CHANGELOG.md").read_text(encoding="utf-8")
    assert config["version"] == __version__
    assert re.search(r"^## (\S+)", changelog, re.MULTILINE)[1] == __version__  # type: ignore[index]


def test_schema_is_the_one_promised(config: dict[str, Any]) -> None:
    """The options UI offers exactly the options and types the walking skeleton promises."""
    assert config["schema"] == ISSUE_SCHEMA
    for kind in config["schema"].values():
        (element,) = kind if isinstance(kind, list) else [kind]
        assert SCHEMA_TYPE.match(element), kind


def test_the_form_shows_what_a_user_must_fill_in(config: dict[str, Any]) -> None:
    """On a fresh install the account fields are in the form; the rarely needed ones wait."""
    options, schema = config["options"], config["schema"]

    assert visible_in_form(schema, options) == {
        "appkey",
        "secret_key",
        "username",
        "password",
        "server",
        "scan_interval",
        "log_level",
        "publish",
        "history_days",
    }
    assert options["appkey"] is None
    assert options["secret_key"] is None
    assert options["username"] == options["password"] == ""


def test_the_supervisor_accepts_the_defaults_once_the_keys_are_in(config: dict[str, Any]) -> None:
    """The shipped defaults lack only what nobody but the user knows; filled in, they work."""
    schema, defaults = config["schema"], config["options"]
    with pytest.raises(OptionsRefused, match=r"Missing required option '(appkey|secret_key)'"):
        validate(schema, defaults)

    stored = validate(schema, {**defaults, "appkey": "A" * 32, "secret_key": "s" * 32})
    options = Options.from_dict(stored)

    assert not options.uses_account  # empty account fields: OAuth2
    assert options.gateway == "https://gateway.isolarcloud.eu"
    assert (options.scan_interval, options.log_level, options.publish) == (300, "info", "auto")


def docs_examples() -> list[str]:
    """Return the YAML blocks of DOCS.md and README.md that are add-on options."""
    blocks = [
        block
        for name in ("sungrow_addon/DOCS.md", "README.md")
        for block in re.findall(
            r"```yaml\n(.*?)```", (REPO / name).read_text(encoding="utf-8"), re.DOTALL
        )
    ]
    return [block for block in blocks if block.startswith("appkey:")]


def test_the_docs_have_examples_to_paste() -> None:
    """The account login and the OAuth2 examples, at least."""
    assert len(docs_examples()) >= 2


@pytest.mark.parametrize("example", docs_examples())
def test_every_docs_example_pastes_into_edit_in_yaml(config: dict[str, Any], example: str) -> None:
    """A docs example pasted as a whole into "Edit in YAML" is saved and then runs."""
    stored = validate(config["schema"], yaml.safe_load(example))

    assert Options.from_dict(stored).appkey


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"appkey": "k", "secret_key": "s"}, "Missing option 'server'"),
        ({"appkey": None, "secret_key": "s", "server": "europe"}, "Missing required option"),
        ({"appkey": "k", "secret_key": "s", "server": "mars"}, "Option 'server'"),
        ({"appkey": "k", "secret_key": "s", "server": "europe", "scan_interval": 5}, "Option"),
        ({"appkey": "k", "secret_key": "s", "server": "europe", "plants": "1"}, "Invalid list"),
        ({"appkey": "k", "secret_key": "s", "server": "europe", "redirect_uri": "x"}, "Option"),
    ],
)
def test_the_supervisor_model_refuses_what_the_supervisor_refuses(
    config: dict[str, Any], options: dict[str, Any], message: str
) -> None:
    """The model of the Supervisor's validation used above is strict where the real one is."""
    with pytest.raises(OptionsRefused, match=message):
        validate(config["schema"], options)


def test_the_supervisor_model_drops_unknown_options(config: dict[str, Any]) -> None:
    """An option the schema does not know is dropped, as the Supervisor does."""
    options = {"appkey": "k", "secret_key": "s", "server": "europe", "startup": "x"}

    assert validate(config["schema"], options) == {
        k: v for k, v in options.items() if k != "startup"
    }


def test_the_addon_linter_passes(config: dict[str, Any]) -> None:
    """Frenck's add-on linter: its schema, no key set to its default, nothing deprecated."""
    assert lint(config) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"startup": "application"}, "'startup' should be removed, it uses a default value"),
        ({"watchdog": "tcp://[HOST]:[PORT:80]"}, "'watchdog' is obsolete"),
        ({"arch": ["amd64", "armv7"]}, "architecture 'armv7' is deprecated"),
        ({"unknown_key": True}, "Additional properties are not allowed"),
    ],
)
def test_the_addon_linter_catches_what_it_should(
    config: dict[str, Any], change: dict[str, Any], problem: str
) -> None:
    """The linter as written here fails a config.yaml the real one fails."""
    assert any(found.startswith(problem) for found in lint({**config, **change}))


def test_choices_agree_with_the_program(config: dict[str, Any]) -> None:
    """The UI's choices and bounds are the ones the program validates."""
    schema = config["schema"]
    assert schema["server"] == f"list({'|'.join(server.value for server in Server)})"
    assert schema["log_level"] == f"list({'|'.join(LOG_LEVELS)})?"
    assert schema["publish"] == f"list({'|'.join(PUBLISH_MODES)})?"
    assert schema["scan_interval"] == "int({},{})?".format(*SCAN_INTERVAL_RANGE)


def test_every_option_is_named_and_described(config: dict[str, Any]) -> None:
    """translations/en.yaml names every option and says where to find its value."""
    raw = (ADDON_DIR / "translations" / "en.yaml").read_text(encoding="utf-8")
    translations = load_yaml(ADDON_DIR / "translations" / "en.yaml")["configuration"]

    assert raw.startswith("---\n")
    assert set(translations) == set(config["schema"])
    for key, entry in translations.items():
        assert entry["name"], key
        description = entry["description"]
        assert description[0].isupper(), key
        assert description.rstrip().endswith("."), key
        assert len(description.split()) >= 10, key


def test_docs_describe_every_option(config: dict[str, Any]) -> None:
    """DOCS.md has an `### Option:` section for each option."""
    docs = (ADDON_DIR / "DOCS.md").read_text(encoding="utf-8")

    documented = set(re.findall(r"^### Option: `([a-z_]+)`$", docs, re.MULTILINE))
    assert documented == set(config["schema"])


def test_repository_file() -> None:
    """repository.yaml at the root names the repository."""
    repository = load_yaml(REPO / "repository.yaml")

    assert set(repository) <= {"name", "url", "maintainer"}
    assert repository["name"]


def test_no_other_file_looks_like_an_addon() -> None:
    """The Supervisor takes any config.yaml/yml/json outside dot-folders for an add-on."""
    found = []
    for directory, subdirectories, files in os.walk(REPO):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".") and d != "rootfs"]
        found += [
            Path(directory, name).relative_to(REPO)
            for name in files
            if re.fullmatch(r"config\.(?:ya?ml|json)", name)
        ]

    assert found == [Path("sungrow_addon/config.yaml")]


def test_dockerfile() -> None:
    """A pinned base-python 3.13 image, unbuffered output, the package, and a HEALTHCHECK."""
    lines = (ADDON_DIR / "Dockerfile").read_text(encoding="utf-8").splitlines()

    assert re.fullmatch(
        r"ARG BUILD_FROM=ghcr\.io/home-assistant/base-python:3\.13-alpine3\.\d+", lines[0]
    )
    assert lines[1] == "FROM ${BUILD_FROM}"
    text = "\n".join(lines)
    assert "PYTHONUNBUFFERED=1" in text
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in text
    assert "COPY sungrow/ /app/sungrow/" in text
    assert "COPY run.sh healthcheck.sh /" in text
    assert lines[-1] == 'CMD ["/run.sh"]'


def test_the_health_check_is_a_cheap_script_with_explicit_timing() -> None:
    """A shell script (no interpreter start at every check), every flag spelled out.

    No --start-interval: the builder of Docker 24, which the Supervisor still supports,
    refuses the flag; a 10 s interval reports the start as quickly everywhere.
    """
    healthcheck = dockerfile_healthcheck()
    script = ADDON_DIR / "healthcheck.sh"

    assert healthcheck.endswith('CMD ["/healthcheck.sh"]')
    for flag in ("interval", "timeout", "start-period", "retries"):
        assert f"--{flag}=" in healthcheck, flag
    assert "--start-interval" not in healthcheck
    assert os.access(script, os.X_OK)
    assert script.read_bytes().startswith(b"#!/bin/sh\n")
    assert b"\r" not in script.read_bytes()


@pytest.mark.parametrize(
    ("promise", "verdict"),
    [(+3600, True), (+1, True), (-5, False)],
)
def test_the_health_check_holds_the_loop_to_its_promise(
    tmp_path: Path, promise: float, verdict: object
) -> None:
    """Healthy until the time the loop promised (its grace included), unhealthy after."""
    heartbeat = tmp_path / "heartbeat"
    heartbeat.touch()
    deadline = time.time() + promise
    os.utime(heartbeat, (deadline, deadline))

    assert health_check(heartbeat) is verdict


def test_the_health_check_is_unhealthy_without_a_heartbeat(tmp_path: Path) -> None:
    """No heartbeat yet (starting) or any more (stopped): not healthy."""
    assert not health_check(tmp_path / "heartbeat")


def test_run_script() -> None:
    """run.sh is executable, has LF endings, logs a banner and execs the program."""
    path = ADDON_DIR / "run.sh"
    raw = path.read_bytes()

    assert os.access(path, os.X_OK)
    assert b"\r" not in raw
    lines = raw.decode().splitlines()
    assert lines[0] == "#!/usr/bin/with-contenv bashio"
    assert any(line.startswith("bashio::log.info") for line in lines)
    assert lines[-1] == "exec python3 -m sungrow"


def test_requirements_are_pinned() -> None:
    """The image installs exact versions."""
    lines = (ADDON_DIR / "requirements.txt").read_text(encoding="utf-8").split()

    assert lines
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.]+", line) for line in lines)


@pytest.mark.parametrize(("name", "size"), [("icon.png", (128, 128)), ("logo.png", (250, 100))])
def test_images(name: str, size: tuple[int, int]) -> None:
    """The store's icon and logo are PNG files of the recommended sizes."""
    raw = (ADDON_DIR / name).read_bytes()

    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", raw[16:24]) == size


def test_docs_list_the_sensors_the_catalog_publishes() -> None:
    """DOCS.md's sensor tables are the ones scripts/sensor_docs.py writes from the catalog."""
    module = load_script("sensor_docs")
    docs = (ADDON_DIR / "DOCS.md").read_text(encoding="utf-8")

    assert f"{module.START}\n\n{module.sensor_tables()}\n{module.END}" in docs
