"""A deterministic household with PV, a battery, an EV and a grid connection, in 5-minute steps.

Every day is the same day, so that lifetime counters grow by exactly one day's totals at
each midnight and never step back. Values depend only on the plant-local time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

STEP_MINUTES = 5
STEPS_PER_DAY = 24 * 60 // STEP_MINUTES
_STEP_HOURS = STEP_MINUTES / 60
_CHARGE_EFFICIENCY = 0.95


@dataclass(frozen=True)
class Step:
    """Average powers (W) during one 5-minute step and the battery level after it.

    `load` includes the EV charging power `ev`.
    """

    pv: float
    load: float
    charge: float
    discharge: float
    grid_import: float
    grid_export: float
    soc: float
    ev: float = 0.0

    @property
    def direct(self) -> float:
        """PV power used by the house right away."""
        return min(self.pv, self.load)

    @property
    def charge_from_pv(self) -> float:
        """Battery charging power that came from PV (all of it: the model never grid-charges)."""
        return self.charge


_ENERGY_FIELDS = (
    "pv",
    "load",
    "charge",
    "discharge",
    "grid_import",
    "grid_export",
    "direct",
    "charge_from_pv",
    "ev",
)


@dataclass(frozen=True)
class Snapshot:
    """The household at one moment: the current step, today's energies, lifetime energies."""

    at: datetime
    step: Step
    today: dict[str, float]
    lifetime: dict[str, float]


@dataclass(frozen=True)
class Household:
    """Sizes of the installation; everything else follows from the time of day.

    `battery_wh=0` is a PV-only household; `ev_charge_w=0` (the default) one without an EV.
    """

    pv_peak_w: float = 5600.0
    base_load_w: float = 420.0
    battery_wh: float = 6400.0
    battery_max_w: float = 3200.0
    battery_min_soc: float = 0.10
    commissioned: date = date(2023, 6, 1)
    ev_charge_w: float = 0.0
    ev_session_wh: float = 15000.0
    ev_arrival_hour: float = 17.5

    def pv_power(self, step: int) -> float:
        """PV power: a clear-sky bell from 06:00 to 20:00 with deterministic passing clouds."""
        hour = (step + 0.5) * _STEP_HOURS
        if not 6.0 < hour < 20.0:  # noqa: PLR2004
            return 0.0
        clear_sky = float(math.sin(math.pi * (hour - 6.0) / 14.0) ** 1.6)
        cloud = 1.0 - 0.45 * _noise(step) ** 4
        return self.pv_peak_w * clear_sky * cloud

    def load_power(self, step: int) -> float:
        """House load: a base plus morning, noon and evening peaks, and small jitter."""
        hour = (step + 0.5) * _STEP_HOURS
        peaks = (
            900.0 * _bump(hour, 7.25, 0.6)
            + 1400.0 * _bump(hour, 12.5, 0.7)
            + 1900.0 * _bump(hour, 19.5, 1.4)
        )
        return self.base_load_w + peaks + 150.0 * _noise(step + 7919)

    def ev_power(self, step: int, delivered_wh: float) -> float:
        """EV charging: full power from the car's arrival until the session's energy is in."""
        remaining = self.ev_session_wh - delivered_wh
        if self.ev_charge_w <= 0 or step * _STEP_HOURS < self.ev_arrival_hour or remaining < 1:
            return 0.0
        return min(self.ev_charge_w, remaining / _STEP_HOURS)

    @cached_property
    def day(self) -> tuple[Step, ...]:
        """The 288 steps of the (only) day, starting from the level the day ends with."""
        end_level = self._simulate(start_soc=0.5)[-1].soc
        return self._simulate(start_soc=end_level)

    @cached_property
    def day_totals(self) -> dict[str, float]:
        """Energies (Wh) of one whole day."""
        return _energies(self.day)

    def snapshot(self, local_time: datetime) -> Snapshot:
        """Return the state at a plant-local time, after the last finished 5-minute step."""
        finished = (local_time.hour * 60 + local_time.minute) // STEP_MINUTES
        today = _energies(self.day[:finished])
        days = max((local_time.date() - self.commissioned).days, 0)
        lifetime = {
            name: 1000 + days * self.day_totals[name] + today[name] for name in _ENERGY_FIELDS
        }
        # Step -1 is the last step of the day before: every day is the same day.
        return Snapshot(at=local_time, step=self.day[finished - 1], today=today, lifetime=lifetime)

    def _simulate(self, *, start_soc: float) -> tuple[Step, ...]:
        soc = start_soc
        delivered = 0.0
        steps = []
        for index in range(STEPS_PER_DAY):
            ev = self.ev_power(index, delivered)
            delivered += ev * _STEP_HOURS
            pv, load = self.pv_power(index), self.load_power(index) + ev
            charge = discharge = grid_import = grid_export = 0.0
            if self.battery_wh > 0 and pv >= load:
                room = self.battery_wh * (1.0 - soc) / _STEP_HOURS / _CHARGE_EFFICIENCY
                charge = min(pv - load, self.battery_max_w, room)
            elif self.battery_wh > 0:
                stored = self.battery_wh * (soc - self.battery_min_soc) / _STEP_HOURS
                discharge = max(min(load - pv, self.battery_max_w, stored), 0.0)
            balance = pv + discharge - charge - load
            grid_export, grid_import = max(balance, 0.0), max(-balance, 0.0)
            if self.battery_wh > 0:
                delta = (charge * _CHARGE_EFFICIENCY - discharge) * _STEP_HOURS
                soc = min(max(soc + delta / self.battery_wh, 0.0), 1.0)
            steps.append(Step(pv, load, charge, discharge, grid_import, grid_export, soc, ev))
        return tuple(steps)


def _energies(steps: tuple[Step, ...]) -> dict[str, float]:
    """Whole watt-hours, so that lifetime sums are exact and never step back."""
    return {
        name: round(sum(getattr(step, name) for step in steps) * _STEP_HOURS)
        for name in _ENERGY_FIELDS
    }


def _noise(seed: int) -> float:
    """Return a repeatable number in [0, 1) for a step."""
    return ((seed * 2654435761) % 2**32) / 2**32


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))
