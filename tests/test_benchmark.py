"""The benchmark command (README, "Performance") runs and reports every figure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mosquitto import available as mosquitto_available

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "benchmark.py"
FIGURES = (
    "Cloud calls per poll, one hybrid plant",
    "Cloud calls per poll, two hybrid plants",
    "Cloud calls per poll, 150 microinverters",
    "Peak memory (RSS), one hybrid plant, REST",
    "Peak memory (RSS), one hybrid plant, MQTT",
    "Memory growth (RSS), poll",
    "CPU per daytime poll, MQTT, 1478 sensors",
    "CPU per poll, REST, 1478 sensors",
    "Cold start to the first state",
    "Synced writes per poll",
)


@pytest.mark.slow
@pytest.mark.skipif(not mosquitto_available(), reason="mosquitto is not installed")
def test_the_quick_benchmark_reports_every_figure_with_its_bound() -> None:
    """`--quick` is the command's smoke test: the real add-on, simulator, broker, fake Core."""
    finished = subprocess.run(  # noqa: S603 - the repository's own script
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr
    rows = [line for line in finished.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == len(FIGURES) + 1  # and the header
    for name, row in zip(FIGURES, rows[1:], strict=True):
        assert row.startswith(f"| {name}")
        assert row.endswith(("| ok |", "| **out of bounds** |"))
    # Deterministic whatever the machine's load: one call per device type and poll.
    for row in rows[1:4]:
        assert "| 1.00x | ≤ 1.00x | ok |" in row
