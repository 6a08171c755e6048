"""Write the sensor tables of sungrow_addon/DOCS.md from the point catalog.

Usage: PYTHONPATH=sungrow_addon .venv/bin/python scripts/sensor_docs.py
tests/test_addon_files.py checks that DOCS.md holds exactly what this writes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from sungrow.states.catalog import PointSpec, load_catalog
from sungrow.states.derived import derived_for

DOCS = Path(__file__).parent.parent / "sungrow_addon" / "DOCS.md"
START, END = "<!-- sensor tables: start -->", "<!-- sensor tables: end -->"
PREFIXES = {11: "sensor.sungrow_<plant>_", None: "sensor.sungrow_<plant>_<device>_"}


def sensor_tables() -> str:
    """Return the Markdown tables: one per device type, the sensors on by default."""
    catalog = load_catalog()
    blocks = []
    for device_type, spec in catalog.device_types.items():
        prefix = PREFIXES.get(device_type, PREFIXES[None])
        rows = [_row(point, point.point_id) for point in spec.points if point.enabled]
        rows += [_row(derived.spec, "derived") for derived in derived_for(device_type)]
        off = [p for p in spec.points if not p.enabled and not p.repeats_plant]
        repeating = [p for p in spec.points if p.repeats_plant]
        notes = f"Off by default, available through `extra_points`: {_ids(off)}.\n"
        if repeating:
            notes += (
                f"\nEnergy counters that repeat the plant's, off by default (kept where an "
                f"earlier version published them): {_ids(repeating)}.\n"
            )
        blocks.append(
            f"#### {spec.name} (device type {device_type}): `{prefix}…`\n\n"
            "| Key | Name | Unit | Device class | State class | Point |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n" + notes
        )
    return "\n".join(blocks)


def _ids(points: list[PointSpec]) -> str:
    return ", ".join(f"{point.point_id} (`{point.key}`)" for point in points) or "none"


def _row(point: PointSpec, source: str) -> str:
    return (
        f"| `{point.key}` | {point.name} | {point.unit or ''} | {point.device_class or ''} "
        f"| {point.state_class or ''} | {source} |"
    )


def main() -> int:
    """Rewrite the part of DOCS.md between the markers."""
    text = DOCS.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        print(f"{DOCS}: markers not found", file=sys.stderr)
        return 1
    DOCS.write_text(
        pattern.sub(lambda _: f"{START}\n\n{sensor_tables()}\n{END}", text), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
