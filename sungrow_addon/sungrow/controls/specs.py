"""The settings the add-on offers, as Home Assistant entities, and how each maps to Appendix 10.

Values on the wire are raw steps of the device's own unit, which its read-back tells (`steps`);
for a percentage Appendix 10's `scale` stands in until then (a SOC limit of 95 % is 950).
Battery settings exist only on hybrid inverters of plants with a battery: a battery command on
a PV-only inverter has held one in external-dispatch mode for a whole day (KRoperUK#148).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Literal

HYBRID_INVERTER, STRING_INVERTER, BATTERY = 14, 1, 43

SOC_UPPER, SOC_LOWER = "10001", "10002"
EMS_MODE, BATTERY_COMMAND, BATTERY_POWER = "10003", "10004", "10005"
FEED_IN_SWITCH, FEED_IN_LIMIT = "10012", "10013"
SELF_CONSUMPTION, FORCED = "0", "2"
CHARGE, DISCHARGE, STOP = "170", "187", "204"
ENABLE, DISABLE = "170", "85"
RATED_POWER_W = 5000  # Appendix 10's range of the charging/discharging power
_UNIT_SIZE = {"w": 1.0, "kw": 1000.0}  # watts per unit


@dataclass(frozen=True, kw_only=True)
class ControlSpec:
    """One entity: its platform, the parameter it sets (None: kept by the add-on) and range."""

    key: str
    name: str
    platform: Literal["number", "select", "switch"]
    code: str | None
    battery: bool
    icon: str
    minimum: float = 0
    maximum: float = 0
    step: float = 1
    unit: str | None = None
    scale: int = 1  # raw = value x scale, per Appendix 10 (a percentage's stand-in)
    options: tuple[tuple[str, str], ...] = ()  # (option shown, raw value)

    def steps(self, unit: str, precision: str) -> float | None:
        """Return how many raw steps one unit of the entity is, for the device's unit and step.

        None when that cannot be known: a power whose device unit was not read back yet (a
        live SH10RT counts its battery power in 0.01 kW, Appendix 10 in W).
        """
        if self.platform != "number" or self.code is None:
            return None
        if not precision:
            return None if self.unit == "W" else float(self.scale)
        try:
            step = float(precision)
        except ValueError:
            return None
        if not math.isfinite(step) or step <= 0:
            return None
        per_unit = _UNIT_SIZE.get(unit.strip().lower())
        if self.unit == "W":
            return None if per_unit is None else 1.0 / per_unit / step
        return 1.0 / step

    def raw(self, payload: str) -> str:
        """Return a command's value: a raw value, or a number in the entity's unit.

        Raise ValueError with the reason when the payload is not a value of this control.
        """
        text = payload.strip()
        if self.platform == "select":
            for option, raw in self.options:
                if text == option:
                    return raw
            msg = f"{text!r} is not one of {', '.join(o for o, _ in self.options)}"
            raise ValueError(msg)
        if self.platform == "switch":
            if text not in ("ON", "OFF"):
                msg = f"{text!r} is neither ON nor OFF"
                raise ValueError(msg)
            return ENABLE if text == "ON" else DISABLE
        try:
            value = float(text)
        except ValueError:
            msg = f"{text!r} is not a number"
            raise ValueError(msg) from None
        if not self.minimum <= value <= self.maximum:
            msg = f"{text} is outside {self.minimum:g} to {self.maximum:g} {self.unit or ''}"
            raise ValueError(msg.rstrip())
        return f"{value:g}"

    def shown(self, raw: str, steps: float | None = None) -> str | None:
        """Return a raw value as the entity shows it (None: a value the entity cannot show).

        A number needs `steps`, the raw steps per unit of the entity (see `steps()`).
        """
        if self.platform == "select":
            return next((option for option, value in self.options if value == raw), None)
        if self.platform == "switch":
            return {ENABLE: "ON", DISABLE: "OFF"}.get(raw)
        if self.code is None:
            return raw
        try:
            return f"{round(int(raw) / steps, 3):g}" if steps else None
        except ValueError:
            return None


SOC_UPPER_LIMIT = ControlSpec(
    key="soc_upper_limit",
    name="Battery SOC upper limit",
    platform="number",
    code=SOC_UPPER,
    battery=True,
    icon="mdi:battery-arrow-up",
    minimum=70,
    maximum=100,
    unit="%",
    scale=10,
)
SOC_LOWER_LIMIT = ControlSpec(
    key="soc_lower_limit",
    name="Battery SOC lower limit",
    platform="number",
    code=SOC_LOWER,
    battery=True,
    icon="mdi:battery-arrow-down",
    minimum=0,
    maximum=50,
    unit="%",
    scale=10,
)
ENERGY_MANAGEMENT_MODE = ControlSpec(
    key="energy_management_mode",
    name="Energy management mode",
    platform="select",
    code=EMS_MODE,
    battery=True,
    icon="mdi:home-battery",
    options=(
        ("Self-consumption", SELF_CONSUMPTION),
        ("Forced", FORCED),
        ("External dispatch", "3"),
    ),
)
FORCED_COMMAND = ControlSpec(
    key="forced_command",
    name="Forced charge or discharge",
    platform="select",
    code=BATTERY_COMMAND,
    battery=True,
    icon="mdi:battery-charging",
    options=(("Charge", CHARGE), ("Discharge", DISCHARGE), ("Stop", STOP)),
)
FORCED_POWER = ControlSpec(
    key="forced_power",
    name="Forced charge or discharge power",
    platform="number",
    code=BATTERY_POWER,
    battery=True,
    icon="mdi:flash",
    maximum=RATED_POWER_W,
    step=100,
    unit="W",
)
FORCED_DURATION = ControlSpec(
    key="forced_duration",
    name="Forced mode duration",
    platform="number",
    code=None,
    battery=True,
    icon="mdi:timer-outline",
    minimum=5,
    maximum=1440,
    step=5,
    unit="min",
)
FEED_IN_LIMITATION = ControlSpec(
    key="feed_in_limitation",
    name="Feed-in limitation",
    platform="switch",
    code=FEED_IN_SWITCH,
    battery=False,
    icon="mdi:transmission-tower-export",
)
FEED_IN_LIMIT_VALUE = ControlSpec(
    key="feed_in_limit",
    name="Feed-in limit",
    platform="number",
    code=FEED_IN_LIMIT,
    battery=False,
    icon="mdi:transmission-tower-export",
    maximum=10000,
    step=100,
    unit="W",
)
ALL = (
    SOC_UPPER_LIMIT,
    SOC_LOWER_LIMIT,
    ENERGY_MANAGEMENT_MODE,
    FORCED_COMMAND,
    FORCED_POWER,
    FORCED_DURATION,
    FEED_IN_LIMITATION,
    FEED_IN_LIMIT_VALUE,
)
DEFAULT_DURATION_MIN = 60
# Modes the inverter must not be left in: they end by themselves after the duration.
EXPIRING_MODES = frozenset({FORCED, "3"})


# Sungrow's model codes start with the rated power in kW: SH10RT, SG5.0RS, SG110CX-P2.
_RATED_KW = re.compile(r"S[GH](\d{1,3}(?:\.\d{1,2})?)(?![\d.])")


def rated_power_w(model: str) -> int | None:
    """Return an inverter's rated power (W) read from its model code, None when unknown."""
    found = _RATED_KW.match(model.strip().upper())
    return round(float(found[1]) * 1000) if found else None


def controls_for(
    device_type: int, *, plant_has_battery: bool, model: str = ""
) -> tuple[ControlSpec, ...]:
    """Return the controls of a device: battery ones only on a hybrid with a battery.

    Powers are bounded by the inverter's rated power where its model code tells it.
    """
    if device_type == HYBRID_INVERTER:
        specs = tuple(spec for spec in ALL if plant_has_battery or not spec.battery)
    elif device_type == STRING_INVERTER:
        specs = tuple(spec for spec in ALL if not spec.battery)
    else:
        return ()
    rated = rated_power_w(model)
    if rated is None:
        return specs
    maxima = {FORCED_POWER.key: min(FORCED_POWER.maximum, rated), FEED_IN_LIMIT_VALUE.key: rated}
    return tuple(
        replace(spec, maximum=maxima[spec.key]) if spec.key in maxima else spec for spec in specs
    )
