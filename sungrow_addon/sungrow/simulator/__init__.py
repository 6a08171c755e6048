"""An embedded iSolarCloud Open API simulator, for the demo and the tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .household import Household
from .plants import SimPlant, hybrid_plant, micro_plant, pv_plant
from .quirks import AUSTRALIAN_EXPIRY, EUROPEAN_EXPIRY, Quirks, RefreshRefusal
from .server import Call, CloudSimulator, Fault, SimApp
from .v1 import SimAccount

if TYPE_CHECKING:
    from datetime import tzinfo

DEMO_APPKEY = "D3M0A11C5E3B4F2A9C8D7E6F5A4B3C2D"
DEMO_SECRET_KEY = "demo-secret-key-0123456789abcdef"  # noqa: S105 - public demo value
DEMO_USERNAME = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the simulator's own public demo account

__all__ = [
    "AUSTRALIAN_EXPIRY",
    "DEMO_APPKEY",
    "DEMO_PASSWORD",
    "DEMO_SECRET_KEY",
    "DEMO_USERNAME",
    "EUROPEAN_EXPIRY",
    "Call",
    "CloudSimulator",
    "Fault",
    "Household",
    "Quirks",
    "RefreshRefusal",
    "SimAccount",
    "SimApp",
    "SimPlant",
    "demo_simulator",
    "hybrid_plant",
    "micro_plant",
    "pv_plant",
]


def demo_simulator(timezone: tzinfo | None = None) -> CloudSimulator:
    """Return a gateway with the demo application, the demo account and one hybrid plant.

    The plant has a hybrid inverter, a battery, a meter, a WiNet-S and an EV charger.
    """
    plant = hybrid_plant(charger=True, timezone=timezone)
    return CloudSimulator(
        plants=[plant],
        apps=[SimApp(appkey=DEMO_APPKEY, access_key=DEMO_SECRET_KEY)],
        accounts=[
            SimAccount(
                username=DEMO_USERNAME,
                password=DEMO_PASSWORD,
                user_id=999125867,
                ps_ids=(plant.ps_id,),
            )
        ],
    )
