"""frenck's add-on linter (github.com/frenck/action-addon-linter), its checks run as a test.

The JSON schema is the linter's own (`fixtures/addon_linter/`, MIT licence, see LICENSE.md
there), taken at commit 2bd8faa8 (2026-04-09). The checks of its `lint.py` that can apply to
this add-on are written out below; like the linter, every key set to the schema's default is
an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

SCHEMA = Path(__file__).parent / "fixtures" / "addon_linter" / "config.schema.json"
DEPRECATED_ARCHS = ("armhf", "armv7", "i386")
OBSOLETE_KEYS = {
    "watchdog": "'watchdog' is obsolete: use the Docker HEALTHCHECK",
    "codenotary": "'codenotary' is deprecated",
    "auto_uart": "'auto_uart' is deprecated, use 'uart'",
    "advanced": "'advanced' is about to be deprecated",
}


def lint(config: dict[str, Any]) -> list[str]:
    """Return the linter's errors and warnings for a config.yaml, empty when it passes."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    problems = sorted(error.message for error in Draft7Validator(schema).iter_errors(config))
    problems += [
        f"'{key}' should be removed, it uses a default value"
        for key, spec in schema["properties"].items()
        if "default" in spec and key in config and config[key] == spec["default"]
    ]
    problems += [message for key, message in OBSOLETE_KEYS.items() if config.get(key)]
    problems += [
        f"architecture '{arch}' is deprecated"
        for arch in config.get("arch", [])
        if arch in DEPRECATED_ARCHS
    ]
    if config.get("ingress") and config.get("webui"):
        problems.append("'webui' should be removed, Ingress is enabled")
    if config.get("full_access"):
        problems.append("'full_access': use 'devices' and the like instead")
    if any(":" in device for device in config.get("devices", [])):
        problems.append("'devices' uses the deprecated format")
    if not isinstance(config.get("tmpfs", False), bool):
        problems.append("'tmpfs' uses the deprecated format")
    if config.get("backup") == "cold":
        problems += [
            f"'{key}' is not valid with cold backups"
            for key in ("backup_pre", "backup_post")
            if key in config
        ]
    folders = {
        entry.split(":")[0] if isinstance(entry, str) else entry.get("type")
        for entry in config.get("map", [])
    }
    if "config" in folders:
        problems.append("'map' contains 'config': use 'homeassistant_config'")
    return problems
