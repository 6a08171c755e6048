"""Derived sensors: computed from readings of the same moment, never from counters subtracted.

Net grid and net battery power come from the hybrid inverter's simultaneous power readings.
Today's self-consumption and self-sufficiency are shares of today's energy; with nothing to
share (no yield yet, no consumption yet) they are defined as 100 %: nothing was fed in, nothing
was bought.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sungrow.cloud.models import PLANT_DEVICE_TYPE
from sungrow.states.catalog import PointSpec

HYBRID_INVERTER = 14
Values = Mapping[str, float | None]


@dataclass(frozen=True, kw_only=True)
class DerivedSpec:
    """A sensor computed from other points of the same reading."""

    spec: PointSpec
    inputs: tuple[str, ...]
    compute: Callable[[Values], float | None]


def _difference(plus: str, minus: str) -> Callable[[Values], float | None]:
    def compute(values: Values) -> float | None:
        first, second = values.get(plus), values.get(minus)
        return None if first is None or second is None else first - second

    return compute


def _kept_share(part_out: str, whole: str) -> Callable[[Values], float | None]:
    """Return the share of `whole` that did not go out as `part_out`, as a fraction 0..1."""

    def compute(values: Values) -> float | None:
        out, total = values.get(part_out), values.get(whole)
        if out is None or total is None:
            return None
        if total <= 0:
            return 1.0
        return min(max(1.0 - out / total, 0.0), 1.0)

    return compute


def _power(key: str, name: str, icon: str) -> PointSpec:
    return PointSpec(
        point_id=f"derived:{key}",
        key=key,
        name=name,
        unit="W",
        precision=0,
        device_class="power",
        state_class="measurement",
        icon=icon,
    )


def _share(key: str, name: str, icon: str) -> PointSpec:
    return PointSpec(
        point_id=f"derived:{key}",
        key=key,
        name=name,
        unit="%",
        factor=100.0,
        precision=1,
        state_class="measurement",
        icon=icon,
    )


DERIVED: dict[int, tuple[DerivedSpec, ...]] = {
    PLANT_DEVICE_TYPE: (
        DerivedSpec(
            spec=_share("self_consumption_today", "Self-consumption today", "mdi:home-percent"),
            inputs=("83072", "83022"),
            compute=_kept_share("83072", "83022"),
        ),
        DerivedSpec(
            spec=_share("self_sufficiency_today", "Self-sufficiency today", "mdi:home-battery"),
            inputs=("83102", "83118"),
            compute=_kept_share("83102", "83118"),
        ),
    ),
    HYBRID_INVERTER: (
        # Home Assistant's standard grid sign: positive while importing.
        DerivedSpec(
            spec=_power("net_grid_power", "Net grid power", "mdi:transmission-tower"),
            inputs=("13149", "13121"),
            compute=_difference("13149", "13121"),
        ),
        # Positive while charging, negative while discharging.
        DerivedSpec(
            spec=_power("net_battery_power", "Net battery power", "mdi:home-battery"),
            inputs=("13126", "13150"),
            compute=_difference("13126", "13150"),
        ),
    ),
}


def derived_for(device_type: int) -> tuple[DerivedSpec, ...]:
    """Return the derived sensors of a device type."""
    return DERIVED.get(device_type, ())
