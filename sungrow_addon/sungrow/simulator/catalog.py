"""Names and units of the points the simulator serves, as the portal's tables give them.

`point_dict` in real-time answers is built from this: `{point_id, point_name, point_unit}`.
Levels and ratios have the unit "" (their values are fractions). Point ids are unique across
device types, so one dictionary serves them all.
"""

from __future__ import annotations

from types import MappingProxyType

_PLANT = {
    83002: ("Inverter AC Power", "W"),
    83022: ("Daily Yield of Plant", "Wh"),
    83024: ("Plant Total Yield", "Wh"),
    83025: ("Plant Equivalent Hours", "h"),
    83032: ("Meter AC Power", "W"),
    83033: ("Plant Power", "W"),
    83052: ("Load Power", "W"),
    83067: ("Total Active Power of PV", "W"),
    83072: ("Feed-in Energy Today", "Wh"),
    83075: ("Feed-in Energy Total", "Wh"),
    83097: ("Daily Direct Energy Consumption", "Wh"),
    83100: ("Total Direct Energy Consumption", "Wh"),
    83102: ("Energy Purchased Today", "Wh"),
    83105: ("Total Purchased Energy", "Wh"),
    83106: ("Load Power", "W"),
    83118: ("Daily Load Consumption", "Wh"),
    83119: ("Daily Feed-in Energy (PV)", "Wh"),
    83124: ("Total Load Consumption", "Wh"),
    83129: ("Battery SOC", ""),
    83238: ("Total field energy storage active power", "W"),
    83241: ("Total field charge capacity", "Wh"),
    83242: ("Total field discharge capacity", "Wh"),
    83243: ("Daily field charge capacity", "Wh"),
    83244: ("Daily field discharge capacity", "Wh"),
    83252: ("Battery Level (SOC)", ""),
    83549: ("Grid Active Power", "W"),
}
_HYBRID_INVERTER = {
    13001: ("MPPT1 Voltage", "V"),
    13002: ("MPPT1 Current", "A"),
    13003: ("Total DC Power", "W"),
    13007: ("Grid Frequency", "Hz"),
    13008: ("Phase A Current", "A"),
    13009: ("Phase B Current", "A"),
    13010: ("Phase C Current", "A"),
    13011: ("Active Power", "W"),
    13019: ("Internal Air Temperature", "°C"),
    13028: ("Battery Charging Energy Today", "Wh"),
    13029: ("Battery Discharging Energy Today", "Wh"),
    13034: ("Total Battery Charging Energy", "Wh"),
    13035: ("Total Battery Discharging Energy", "Wh"),
    13105: ("MPPT2 Voltage", "V"),
    13106: ("MPPT2 Current", "A"),
    13112: ("Daily PV Yield", "Wh"),
    13116: ("Daily Direct Energy Consumption", "Wh"),
    13119: ("Load Power", "W"),
    13121: ("Feed-in Power", "W"),
    13122: ("Feed-in Energy Today", "Wh"),
    13125: ("Total Feed-in Energy", "Wh"),
    13126: ("Battery Charging Power", "W"),
    13130: ("Total Load Consumption", "Wh"),
    13134: ("Total PV Yield", "Wh"),
    13137: ("Total Load Energy Consumption from PV", "Wh"),
    13138: ("Battery Voltage", "V"),
    13139: ("Battery Current", "A"),
    13140: ("Battery Capacity (kWh)", "Wh"),
    13141: ("Battery Level (SOC)", ""),
    13142: ("Battery Health (SOH)", ""),
    13143: ("Battery Temperature", "°C"),
    13144: ("Daily Self-consumption Rate", ""),
    13146: ("Operating status", ""),
    13147: ("Energy Purchased Today", "Wh"),
    13148: ("Total Purchased Energy", "Wh"),
    13149: ("Purchased Power", "W"),
    13150: ("Battery Discharging Power", "W"),
    13157: ("Phase A Voltage", "V"),
    13158: ("Phase B Voltage", "V"),
    13159: ("Phase C Voltage", "V"),
    13172: ("Daily Self-Sufficiency Rate", ""),
    13174: ("Daily Battery Charging Energy from PV", "Wh"),
    13176: ("Total Battery Charging Energy from PV", "Wh"),
    13199: ("Daily Load Consumption", "Wh"),
    18068: ("Total Backup Power", "W"),
}
_BATTERY = {
    58601: ("Battery Voltage", "V"),
    58602: ("Battery Current", "A"),
    58603: ("Battery Temperature", "°C"),
    58604: ("Battery Level", ""),
    58605: ("Battery Health (SOH)", ""),
    58606: ("Total Battery Charging Energy", "Wh"),
    58607: ("Total Battery Discharging Energy", "Wh"),
    58608: ("Battery Opreration Status", ""),
    58610: ("Max.Voltage of Cell", "mV"),
    58612: ("Min.Voltage of Cell", "mV"),
    58614: ("Max.Temperature of Module", "°C"),
    58616: ("Min.Temperature of Module", "°C"),
}
_METER = {
    8000: ("Phase A Voltage", "V"),
    8001: ("Phase B Voltage", "V"),
    8002: ("Phase C Voltage", "V"),
    8006: ("Phase A Current", "A"),
    8007: ("Phase B Current", "A"),
    8008: ("Phase C Current", "A"),
    8014: ("PF", ""),
    8018: ("Meter Active Power", "W"),
    8030: ("Forward Active Energy", "Wh"),
    8031: ("Reverse Active Energy", "Wh"),
    8062: ("Daily Forward Active Energy", "Wh"),
    8063: ("Daily Reverse Active Energy", "Wh"),
    8064: ("Frequency", "Hz"),
    8076: ("Meter Phase A Active Power", "W"),
    8077: ("Meter Phase B Active Power", "W"),
    8078: ("Meter Phase C Active Power", "W"),
}
_COMMUNICATION_MODULE = {
    23001: ("Wireless Signal Strength", ""),
    23014: ("WLAN Signal Strength", ""),
}
_STRING_INVERTER = {
    1: ("Yield Today", "Wh"),
    2: ("Total Yield", "Wh"),
    4: ("Internal Air Temperature", "°C"),
    5: ("MPPT1 Voltage", "V"),
    6: ("MPPT1 Current", "A"),
    7: ("MPPT2 Voltage", "V"),
    8: ("MPPT2 Current", "A"),
    14: ("Total DC Power", "W"),
    18: ("Phase A Voltage", "V"),
    19: ("Phase B Voltage", "V"),
    20: ("Phase C Voltage", "V"),
    21: ("Phase A Current", "A"),
    22: ("Phase B Current", "A"),
    23: ("Phase C Current", "A"),
    24: ("Total Active Power", "W"),
    26: ("Total Power Factor", ""),
    27: ("Grid Frequency", "Hz"),
    29: ("Operating status", ""),
}
_CHARGER = {
    33702: ("Phase A Charging Voltage", "V"),
    33703: ("Phase A Charging Current", "A"),
    33704: ("Phase B Charging Voltage", "V"),
    33705: ("Phase B Charging Current", "A"),
    33706: ("Phase C Charging Voltage", "V"),
    33707: ("Phase C Charging Current", "A"),
    33708: ("Charging Power", "kW"),
    33716: ("Charging Status", ""),
    33722: ("Min. Charge Power", "kW"),
    33723: ("Max. Charging Power", "kW"),
    33728: ("Max. Charging Current", "A"),
    33729: ("Min. Charge Current", "A"),
}
_MICROINVERTER = {
    51301: ("Running Status", ""),
    51302: ("Total Yield", "Wh"),
    51303: ("Total Active Power", "W"),
    51305: ("Total DC Power", "W"),
    51307: ("Total Power Factor", ""),
    51308: ("Grid Frequency", "Hz"),
    51309: ("AC Voltage", "V"),
    51312: ("AC Current", "A"),
    51346: ("Yield Today", "Wh"),
}

POINTS = MappingProxyType(
    _PLANT
    | _HYBRID_INVERTER
    | _BATTERY
    | _METER
    | _COMMUNICATION_MODULE
    | _STRING_INVERTER
    | _CHARGER
    | _MICROINVERTER
)


def point_dict(point_ids: list[int]) -> list[dict[str, object]]:
    """Return `point_dict` entries for the known ones of `point_ids`, in request order."""
    return [
        {"point_id": point_id, "point_name": POINTS[point_id][0], "point_unit": POINTS[point_id][1]}
        for point_id in dict.fromkeys(point_ids)
        if point_id in POINTS
    ]
