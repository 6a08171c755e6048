"""The add-on folder as the Supervisor reads it: config.yaml, translations, Dockerfile, run.sh."""

from __future__ import annotations

import importlib.util
import os
import re
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ADDON_DIR

from sungrow.cloud.regions import Server
from sungrow.options import LOG_LEVELS, SCAN_INTERVAL_RANGE, Options

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
    "plants": ["str"],
    "extra_points": ["str"],
    "scan_interval": "int(60,3600)",
    "log_level": "list(debug|info|warning|error)",
    "publish": "list(auto|mqtt|rest)",
    "mqtt_url": "password?",
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
    assert config["startup"] == "application"
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


def test_defaults_fit_the_schema(config: dict[str, Any]) -> None:
    """Required options have a default (null when the user must fill it); optional ones none."""
    options, schema = config["options"], config["schema"]
    assert set(options) <= set(schema)
    for key, kind in schema.items():
        if isinstance(kind, list):
            assert options[key] == [], key
        elif kind.endswith("?"):
            assert key not in options, key
        else:
            assert key in options, key
    assert options["appkey"] is None
    assert options["secret_key"] is None
    assert options["server"] == "europe"
    assert options["scan_interval"] == 300
    assert options["log_level"] == "info"


def test_choices_agree_with_the_program(config: dict[str, Any]) -> None:
    """The UI's choices and bounds are the ones the program validates."""
    schema = config["schema"]
    assert schema["server"] == f"list({'|'.join(server.value for server in Server)})"
    assert schema["log_level"] == f"list({'|'.join(LOG_LEVELS)})"
    assert schema["scan_interval"] == "int({},{})".format(*SCAN_INTERVAL_RANGE)


def test_the_ui_defaults_plus_credentials_are_valid_options(config: dict[str, Any]) -> None:
    """What the Supervisor writes for a user who fills the required fields is accepted."""
    written = {
        **{key: value for key, value in config["options"].items() if value is not None},
        "appkey": "A" * 32,
        "secret_key": "s" * 32,
        "username": "me@example.com",
        "password": "pw",
    }

    assert Options.from_dict(written).gateway == "https://gateway.isolarcloud.eu"


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
    assert 'CMD ["python3", "-m", "sungrow.health"]' in text
    assert "HEALTHCHECK" in text
    assert lines[-1] == 'CMD ["/run.sh"]'


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
    spec = importlib.util.spec_from_file_location("sensor_docs", REPO / "scripts/sensor_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    docs = (ADDON_DIR / "DOCS.md").read_text(encoding="utf-8")

    assert f"{module.START}\n\n{module.sensor_tables()}\n{module.END}" in docs
