"""Write sungrow_addon/sungrow/states/catalog.json, what the add-on loads, from catalog.yaml.

Usage: .venv/bin/python scripts/catalog.py
catalog.yaml is the one to edit; the add-on reads the JSON (ready in 2 ms, where the YAML takes
15 ms even with libyaml, and PyYAML stays out of the image). tests/test_sensors.py checks that
the JSON is this script's output for the YAML as it is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

STATES = Path(__file__).resolve().parent.parent / "sungrow_addon" / "sungrow" / "states"
SOURCE, TARGET = STATES / "catalog.yaml", STATES / "catalog.json"


def compiled() -> str:
    """Return the JSON text of the catalog (aliases resolved, keys as text)."""
    data: Any = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def main() -> int:
    """Write the JSON next to the YAML."""
    TARGET.write_text(compiled(), encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
