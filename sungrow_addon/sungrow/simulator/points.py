"""Measuring points per device type: the documented point ids, valued from the household.

Point ids follow the developer portal's "common measuring points" tables; each value is in the
table's unit (W, Wh, V, A, kW for the charger, fractions for levels and ratios) or None when
the device cannot know it.
"""

from __future__ import annotations

from collections.abc import Callable

from .household import Snapshot

PointTable = dict[int, Callable[[Snapshot], float | None]]
_INVERTER_EFFICIENCY = 0.97
_MICRO_EFFICIENCY = 0.965
_RUNNING, _STANDBY = 0.0, 5120.0  # operating status enum of points 29 and 51301
_CHARGER_IDLE, _CHARGER_CHARGING, _CHARGER_DONE = 1.0, 3.0, 6.0  # enum of point 33716


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def _running(s: Snapshot) -> float:
    return _RUNNING if s.step.pv > 0 else _STANDBY


def plant_points(
    *, battery: bool = True, meter: bool = True, installed_w: float = 5600.0
) -> PointTable:
    """Return the plant's points (device type 11).

    Grid and load values need a meter (or a hybrid inverter), battery values a battery;
    without one those points are None rather than invented. Equivalent hours are the day's
    yield over the installed power.
    """
    table: PointTable = {
        83022: lambda s: s.today["pv"],
        83024: lambda s: s.lifetime["pv"],
        83033: lambda s: s.step.pv,
        83067: lambda s: s.step.pv,
        83002: lambda s: s.step.pv + s.step.discharge - s.step.charge,
        83025: lambda s: s.today["pv"] / installed_w,
    }
    if meter:
        table |= {
            83106: lambda s: s.step.load,
            83052: lambda s: s.step.load,
            83118: lambda s: s.today["load"],
            83124: lambda s: s.lifetime["load"],
            83102: lambda s: s.today["grid_import"],
            83105: lambda s: s.lifetime["grid_import"],
            83072: lambda s: s.today["grid_export"],
            83075: lambda s: s.lifetime["grid_export"],
            83119: lambda s: s.today["grid_export"],
            83097: lambda s: s.today["direct"],
            83100: lambda s: s.lifetime["direct"],
            # Meter convention of the cloud: positive while exporting.
            83032: lambda s: s.step.grid_export - s.step.grid_import,
            83549: lambda s: s.step.grid_export - s.step.grid_import,
        }
    if battery:
        table |= {
            83252: lambda s: s.step.soc,
            83129: lambda s: s.step.soc,
            83238: lambda s: s.step.discharge - s.step.charge,
            83243: lambda s: s.today["charge"],
            83244: lambda s: s.today["discharge"],
            83241: lambda s: s.lifetime["charge"],
            83242: lambda s: s.lifetime["discharge"],
        }
    return table


def hybrid_inverter_points() -> PointTable:
    """Return the energy-storage (hybrid) inverter's points (device type 14)."""
    return {
        13011: lambda s: s.step.pv + s.step.discharge - s.step.charge,
        13003: lambda s: s.step.pv,
        13001: lambda s: 355.0 + 40.0 * (s.step.pv > 0),
        13002: lambda s: s.step.pv * 0.55 / 380.0,
        13105: lambda s: 340.0 + 38.0 * (s.step.pv > 0),
        13106: lambda s: s.step.pv * 0.45 / 370.0,
        13157: lambda _: 231.2,
        13158: lambda _: 230.4,
        13159: lambda _: 232.0,
        13008: lambda s: abs(s.step.pv + s.step.discharge - s.step.charge) / 3 / 231.0,
        13009: lambda s: abs(s.step.pv + s.step.discharge - s.step.charge) / 3 / 230.0,
        13010: lambda s: abs(s.step.pv + s.step.discharge - s.step.charge) / 3 / 232.0,
        13007: lambda _: 50.01,
        13019: lambda s: 24.0 + s.step.pv / 400.0,
        13112: lambda s: s.today["pv"],
        13134: lambda s: s.lifetime["pv"],
        13122: lambda s: s.today["grid_export"],
        13125: lambda s: s.lifetime["grid_export"],
        13147: lambda s: s.today["grid_import"],
        13148: lambda s: s.lifetime["grid_import"],
        13149: lambda s: s.step.grid_import,
        13121: lambda s: s.step.grid_export,
        13141: lambda s: s.step.soc,
        13142: lambda _: 0.98,
        13126: lambda s: s.step.charge,
        13150: lambda s: s.step.discharge,
        13028: lambda s: s.today["charge"],
        13029: lambda s: s.today["discharge"],
        13034: lambda s: s.lifetime["charge"],
        13035: lambda s: s.lifetime["discharge"],
        13174: lambda s: s.today["charge_from_pv"],
        13176: lambda s: s.lifetime["charge_from_pv"],
        13138: lambda s: 192.0 + 24.0 * s.step.soc,
        13139: lambda s: (s.step.charge - s.step.discharge) / (192.0 + 24.0 * s.step.soc),
        13143: lambda s: 18.0 + (s.step.charge + s.step.discharge) / 600.0,
        13140: lambda _: 6400.0,
        13119: lambda s: s.step.load,
        13199: lambda s: s.today["load"],
        13130: lambda s: s.lifetime["load"],
        13116: lambda s: s.today["direct"],
        13137: lambda s: s.lifetime["direct"],
        13144: lambda s: _ratio(s.today["pv"] - s.today["grid_export"], s.today["pv"]),
        13172: lambda s: _ratio(s.today["load"] - s.today["grid_import"], s.today["load"]),
        13146: lambda _: 0.0,
        18068: lambda _: 0.0,
    }


def battery_points() -> PointTable:
    """Return the battery's points (device type 43)."""
    return {
        58601: lambda s: 192.0 + 24.0 * s.step.soc,
        58602: lambda s: (s.step.charge - s.step.discharge) / (192.0 + 24.0 * s.step.soc),
        58603: lambda s: 18.0 + (s.step.charge + s.step.discharge) / 600.0,
        58604: lambda s: s.step.soc,
        58605: lambda _: 0.98,
        58606: lambda s: s.lifetime["charge"],
        58607: lambda s: s.lifetime["discharge"],
        58608: lambda s: 1.0 if s.step.charge else (2.0 if s.step.discharge else 0.0),
        58610: lambda s: 3310.0 + 80.0 * s.step.soc,
        58612: lambda s: 3290.0 + 80.0 * s.step.soc,
        58614: lambda s: 19.0 + (s.step.charge + s.step.discharge) / 600.0,
        58616: lambda s: 17.5 + (s.step.charge + s.step.discharge) / 700.0,
    }


def meter_points() -> PointTable:
    """Return the energy meter's points (device type 7)."""

    def grid(s: Snapshot) -> float:
        return s.step.grid_export - s.step.grid_import

    return {
        8018: grid,
        8076: lambda s: grid(s) / 3,
        8077: lambda s: grid(s) / 3,
        8078: lambda s: grid(s) / 3,
        8030: lambda s: s.lifetime["grid_import"],
        8031: lambda s: s.lifetime["grid_export"],
        8062: lambda s: s.today["grid_import"],
        8063: lambda s: s.today["grid_export"],
        8000: lambda _: 231.4,
        8001: lambda _: 230.6,
        8002: lambda _: 232.1,
        8006: lambda s: abs(grid(s)) / 3 / 231.4,
        8007: lambda s: abs(grid(s)) / 3 / 230.6,
        8008: lambda s: abs(grid(s)) / 3 / 232.1,
        8064: lambda _: 50.0,
        8014: lambda _: 0.99,
    }


def communication_module_points() -> PointTable:
    """Return the communication module's points (device type 22)."""
    return {23001: lambda _: 78.0, 23014: lambda _: -61.0}


def string_inverter_points() -> PointTable:
    """Return a single-phase string inverter's points (device type 1, e.g. SG5.0RS).

    Phases B and C do not exist on a single-phase inverter: their points are None.
    """

    def dc(s: Snapshot) -> float:
        return s.step.pv / _INVERTER_EFFICIENCY

    def mppt_volts(s: Snapshot, volts: float) -> float:
        return volts if s.step.pv > 0 else 0.0

    return {
        1: lambda s: s.today["pv"],
        2: lambda s: s.lifetime["pv"],
        24: lambda s: s.step.pv,
        14: dc,
        4: lambda s: 22.0 + s.step.pv / 350.0,
        18: lambda _: 231.2,
        19: lambda _: None,
        20: lambda _: None,
        21: lambda s: s.step.pv / 231.2,
        22: lambda _: None,
        23: lambda _: None,
        27: lambda _: 50.01,
        5: lambda s: mppt_volts(s, 380.0),
        6: lambda s: dc(s) * 0.5 / 380.0,
        7: lambda s: mppt_volts(s, 365.0),
        8: lambda s: dc(s) * 0.5 / 365.0,
        26: lambda _: 0.99,
        29: _running,
    }


def charger_points(max_kw: float = 11.0) -> PointTable:
    """Return a three-phase AC charger's points (device type 51); powers in kW as documented."""

    def status(s: Snapshot) -> float:
        if s.step.ev > 0:
            return _CHARGER_CHARGING
        return _CHARGER_DONE if s.today["ev"] > 0 else _CHARGER_IDLE

    return {
        33708: lambda s: s.step.ev / 1000.0,
        33722: lambda _: 4.14,
        33723: lambda _: max_kw,
        33702: lambda _: 230.8,
        33704: lambda _: 231.5,
        33706: lambda _: 229.9,
        33703: lambda s: s.step.ev / 3 / 230.8,
        33705: lambda s: s.step.ev / 3 / 231.5,
        33707: lambda s: s.step.ev / 3 / 229.9,
        33728: lambda _: 16.0,
        33729: lambda _: 6.0,
        33716: status,
    }


def microinverter_points(share: float) -> PointTable:
    """Return a microinverter's points (device type 55) for its `share` of the plant's PV."""

    def ac(s: Snapshot) -> float:
        return s.step.pv * share

    return {
        51301: _running,
        51302: lambda s: s.lifetime["pv"] * share,
        51346: lambda s: s.today["pv"] * share,
        51303: ac,
        51305: lambda s: ac(s) / _MICRO_EFFICIENCY,
        51307: lambda _: 0.99,
        51308: lambda _: 50.0,
        51309: lambda _: 230.6,
        51312: lambda s: ac(s) / 230.6,
    }
