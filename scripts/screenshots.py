"""Make the add-on's pictures (README, DOCS) from a real Home Assistant Core running the demo.

Usage: scripts/screenshots [--output DIR] [--time-zone ZONE]
Writes devices.png, history.png and energy.png into DIR (default: sungrow_addon/images,
overwritten; $SUNGROW_SCREENSHOTS_DIR) and prints what it wrote. About a minute.

What runs for real:

- Home Assistant Core 2025.4.4 (`tests/real_core.py`: the e2e tests' install, a fresh config
  folder, English, metric, EUR) with the MQTT integration against Debian's mosquitto on
  loopback. The owner is onboarded through the API; onboarding's "core config" step, which
  would add the weather, radio and translation integrations (they need the internet), is marked
  done in `.storage/onboarding` while Core is stopped, so that the frontend opens.
- The add-on itself, `python -m sungrow --demo` with `publish: mqtt` and `scan_interval: 60`:
  it polls its embedded iSolarCloud simulator (the "Demo Home" plant) and announces its devices
  and sensors through MQTT discovery, as on a real installation. Every device, entity, name,
  unit, icon and current value in the pictures comes from this run.
- Debian's Chromium, headless (DevTools protocol), logged in as the owner through Core's login
  flow, light theme, showing Core's own frontend, nothing hidden.

The time zone: the simulator's plant lives in Home Assistant's time zone, and at night it makes
no power. So that the pictures look the same whenever they are made, Core's time zone is set
(`config/core/update`) to the fixed-offset zone in which it is now LOCAL_HOUR:xx, e.g.
`Etc/GMT-11` (UTC+11) at 03:xx UTC, unless --time-zone names one (e.g. Europe/Berlin: then the
plant shows the time of day in Berlin). The browser uses the same zone.

What is back-filled, because a fresh Core has no past: the recorder's hourly long-term
statistics of the sensors in HISTORY and ENERGY, for each whole hour from two hours before
yesterday's midnight up to the hour in which the pictures are made, imported with
`recorder/import_statistics` under the add-on's own statistic ids (source `recorder`). Each
hour's values are what the add-on would have published at that time: the demo plant's
household model (`sungrow/simulator/household.py`, the model the running demo serves) read
every 5 minutes through the simulator's point tables and converted with the add-on's catalog
(units, rounding): powers and the battery level as hourly mean/min/max, the lifetime energy
totals as their hourly state and sum. So:

- devices.png: the plant's device page (Settings > Devices & services > MQTT > Demo Home) with
  its sensors, diagnostics and connected devices, as tall as the page: entirely live.
- history.png: the history panel over the last 24 hours: plant power, load power, the
  inverter's net grid power and the battery level. (PV power is left out: in the demo it equals
  plant power, and the two lines would be one.) Where the recorder has no states, Home
  Assistant draws the long-term statistics' hourly means: all but the last minutes (the
  current hour up to now, drawn as the last hour's mean, then the live run's recorded states
  at the right end) are back-filled.
- energy.png: the Energy dashboard, configured (`energy/save_prefs`) with the sensors of
  DOCS.md's table, showing yesterday: entirely back-filled statistics.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "sungrow_addon"))

from mosquitto import Mosquitto  # noqa: E402 - from tests/, put on sys.path above
from mosquitto import available as mosquitto_available  # noqa: E402
from real_core import (  # noqa: E402
    PASSWORD,
    USERNAME,
    CoreError,
    RealCore,
    energy_prefs,
    find_python,
)

from sungrow.simulator import demo_simulator  # noqa: E402
from sungrow.states.catalog import PointSpec, load_catalog  # noqa: E402
from sungrow.states.derived import derived_for  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    from sungrow.simulator import SimPlant
    from sungrow.simulator.household import Snapshot

OUTPUT = REPO / "sungrow_addon" / "images"
CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1280, 800
MAX_HEIGHT = 2400
MARGIN = 24  # below the last card of a fitted picture
# name -> height of each picture (WIDTH wide): a number, or None to fit the page's cards.
SHOTS: dict[str, int | None] = {
    "devices.png": None,  # the whole device page: sensors, diagnostics, connected devices
    "history.png": None,  # both charts: the powers and the battery level
    "energy.png": HEIGHT,  # the top of the dashboard: usage, distribution, solar
}
LOCAL_HOUR = 14  # the plant's local time in the pictures, unless --time-zone says otherwise
PLANT_DEVICE_TYPE, INVERTER_DEVICE_TYPE = 11, 14
PLANT = "sensor.sungrow_demo_home_"
INVERTER = f"{PLANT}sh10rt_"
# The sensors of the history picture: (device type, point id or derived key).
HISTORY = {
    f"{PLANT}plant_power": (PLANT_DEVICE_TYPE, "83033"),
    f"{PLANT}load_power": (PLANT_DEVICE_TYPE, "83106"),
    f"{INVERTER}net_grid_power": (INVERTER_DEVICE_TYPE, "net_grid_power"),
    f"{PLANT}battery_level": (PLANT_DEVICE_TYPE, "83252"),
}
# The Energy dashboard's sensors, as DOCS.md's table names them.
SOLAR = f"{PLANT}total_yield"
GRID_IN = f"{PLANT}total_energy_purchased"
GRID_OUT = f"{PLANT}total_feed_in_energy"
BATTERY_IN = f"{PLANT}total_battery_charge"
BATTERY_OUT = f"{PLANT}total_battery_discharge"
ENERGY = {
    SOLAR: (PLANT_DEVICE_TYPE, "83024"),
    GRID_IN: (PLANT_DEVICE_TYPE, "83105"),
    GRID_OUT: (PLANT_DEVICE_TYPE, "83075"),
    BATTERY_IN: (PLANT_DEVICE_TYPE, "83241"),
    BATTERY_OUT: (PLANT_DEVICE_TYPE, "83242"),
}
ENERGY_PREFS = energy_prefs(PLANT)
SCAN_INTERVAL = 60
STEP = timedelta(minutes=5)
HOUR = timedelta(hours=1)
DEMO_TIMEOUT = 60.0  # seconds until every pictured sensor must have a value
CALL_TIMEOUT = 30.0  # seconds for one DevTools call
PAGE_TIMEOUT = 60.0  # seconds until a page must have settled
SETTLED_FOR = 1.5  # seconds without a spinner, a loading chart or a layout change
ANIMATIONS = 1.5  # seconds more for the charts' entry animations

# Runs in the page: is it done? No loading screen or spinner, every chart drawn, no toast;
# `layout` (a hash) changes while elements come and go, move or change size.
SETTLE_PROBE = """
(() => {
  const elements = [];
  const walk = (root) => {
    for (const element of root.querySelectorAll("*")) {
      elements.push(element);
      if (element.shadowRoot) walk(element.shadowRoot);
    }
  };
  walk(document);
  const visible = (e) =>
    e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const tag = (e) => e.tagName.toLowerCase();
  const busy = elements.filter((e) => visible(e) && [
    "hass-loading-screen", "ha-spinner", "ha-circular-progress", "mwc-circular-progress",
    "md-circular-progress", "ha-skeleton",
  ].includes(tag(e))).map(tag);
  const charts = elements.filter((e) => tag(e) === "ha-chart-base" && visible(e));
  const blank = charts.filter((c) => {
    const drawn = c.shadowRoot && c.shadowRoot.querySelector("canvas, svg");
    return !drawn || drawn.getBoundingClientRect().height < 10;
  });
  const toasts = elements.filter((e) => tag(e) === "ha-toast" && visible(e)
    && (e.open || e.hasAttribute("open"))).map((e) => e.labelText || e.textContent.trim());
  let layout = elements.length;  // not SVG: the energy distribution's dots move forever
  for (const e of elements.filter((e) => visible(e) && !(e instanceof SVGElement))) {
    const r = e.getBoundingClientRect();
    for (const n of [r.x, r.y, r.width, r.height]) layout = (layout * 31 + Math.round(n)) | 0;
  }
  const content = elements.filter((e) => visible(e) && [
    "ha-card", "ha-chart-base", "state-history-charts",
  ].includes(tag(e))).map((e) => e.getBoundingClientRect().bottom);
  return {path: location.pathname, busy, charts: charts.length, blank: blank.length, toasts,
          layout, bottom: Math.max(0, ...content)};
})()
"""
# Runs in the page: all text, shadow roots included (to find "no data" and error messages).
TEXT_PROBE = """
(() => {
  const parts = [];
  const walk = (root) => {
    for (const node of root.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        const parent = node.parentElement;
        if (parent && !["STYLE", "SCRIPT", "TEMPLATE"].includes(parent.tagName)
            && parent.getClientRects().length > 0) parts.push(node.textContent.trim());
      } else if (node.nodeType === Node.ELEMENT_NODE) {
        if (node.shadowRoot) walk(node.shadowRoot);
        walk(node);
      }
    }
  };
  walk(document.body);
  return parts.filter((p) => p).join(" | ");
})()
"""
# Words on a page that must not be in a picture.
BAD_TEXT = (
    "No data",
    "No statistics",
    "not available",
    "Unavailable",
    "Unknown error",
    "Failed",
    "Log in",
    "Connection lost",
)


class ScreenshotError(Exception):
    """A picture could not be made, or would not show what it should."""


@dataclass(frozen=True)
class Series:
    """One back-filled statistic: its id, unit and value (as published) at a moment."""

    statistic_id: str
    unit: str
    value: Callable[[Snapshot], float]


# ---------------------------------------------------------------------------- back-filling


def _series(plant: SimPlant, statistic_id: str, device_type: int, point: str) -> Series:
    """Return what the add-on would publish for a point (or derived key) of the demo plant."""
    device = next(d for d in plant.devices if d.device_type == device_type)
    derived = {d.spec.key: d for d in derived_for(device_type)}
    spec: PointSpec
    if point in derived:
        spec, inputs, compute = derived[point].spec, derived[point].inputs, derived[point].compute

        def raw(snapshot: Snapshot) -> float | None:
            return compute({i: device.points[int(i)](snapshot) for i in inputs})

    else:
        spec = next(p for p in load_catalog().get(device_type).points if p.point_id == point)
        read = device.points[int(point)]

        def raw(snapshot: Snapshot) -> float | None:
            return read(snapshot)

    def value(snapshot: Snapshot) -> float:
        number = raw(snapshot)
        if number is None:
            raise ScreenshotError(f"the demo plant has no value for {statistic_id}")
        return float(spec.state(number))

    if spec.unit is None:
        raise ScreenshotError(f"{statistic_id} has no unit")
    return Series(statistic_id, spec.unit, value)


def _hours(first: datetime, end: datetime) -> Iterator[datetime]:
    """Yield the starts (UTC) of the whole hours from `first` up to `end`."""
    hour = first
    while hour < end:
        yield hour
        hour += HOUR


def backfill(plant: SimPlant, first: datetime, end: datetime) -> list[dict[str, Any]]:
    """Return `recorder/import_statistics` commands for the hours from `first` up to `end`.

    A 5-minute step's value is what the simulator serves, and the add-on publishes, during it.
    """

    def at(moment: datetime) -> Snapshot:
        return plant.household.snapshot(plant.local_time(moment))

    commands = []
    for statistic_id, (device_type, point) in HISTORY.items():
        series = _series(plant, statistic_id, device_type, point)
        rows = []
        for hour in _hours(first, end):
            values = [series.value(at(hour + STEP * k)) for k in range(HOUR // STEP)]
            rows.append(
                {
                    "start": hour.isoformat(),
                    "mean": round(statistics.fmean(values), 2),
                    "min": min(values),
                    "max": max(values),
                }
            )
        commands.append(_import(series, rows, has_mean=True))
    for statistic_id, (device_type, point) in ENERGY.items():
        series = _series(plant, statistic_id, device_type, point)
        before = series.value(at(first - STEP))
        rows = []
        for hour in _hours(first, end):
            state = series.value(at(hour + HOUR - STEP))  # the hour's last published value
            rows.append(
                {"start": hour.isoformat(), "state": state, "sum": round(state - before, 2)}
            )
        commands.append(_import(series, rows, has_mean=False))
    return commands


def _import(series: Series, rows: list[dict[str, Any]], *, has_mean: bool) -> dict[str, Any]:
    return {
        "metadata": {
            "has_mean": has_mean,
            "has_sum": not has_mean,
            "name": None,
            "source": "recorder",
            "statistic_id": series.statistic_id,
            "unit_of_measurement": series.unit,
        },
        "stats": rows,
    }


# ------------------------------------------------------------------------------- the browser


class Chromium:
    """Headless Chromium, driven over the DevTools protocol (one page)."""

    def __init__(self, binary: Path, folder: Path) -> None:
        """Use `binary`, with its profile and log in `folder`."""
        self.binary = binary
        self.folder = folder
        self._process: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._next_id = 0

    async def start(self) -> None:
        """Start the browser and connect to its page."""
        profile = self.folder / "profile"
        with (self.folder / "chromium.log").open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603, ASYNC220 - returns at once
                [
                    str(self.binary),
                    "--headless=new",
                    # The sandbox needs user namespaces, which containers and root lack; the
                    # browser only visits Core on loopback.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--remote-debugging-port=0",
                    f"--user-data-dir={profile}",
                    f"--window-size={WIDTH},{HEIGHT}",
                    "--hide-scrollbars",
                    "--lang=en-US",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-sync",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--force-color-profile=srgb",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text(encoding="utf-8").strip()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                said = (self.folder / "chromium.log").read_text(encoding="utf-8", errors="replace")
                raise ScreenshotError(f"Chromium did not start:\n{said[-3000:]}")
            await asyncio.sleep(0.1)
        port = port_file.read_text(encoding="utf-8").split()[0]
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        page = next(t for t in targets if t["type"] == "page")
        self._socket = await self._session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)

    async def stop(self) -> None:
        """Close the connection and end the browser."""
        if self._socket is not None:
            await self._socket.close()
        if self._session is not None:
            await self._session.close()
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, 10)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events in between are dropped)."""
        if self._socket is None:
            raise ScreenshotError("Chromium is not started")
        self._next_id += 1
        await self._socket.send_json({"id": self._next_id, "method": method, "params": params})
        async with asyncio.timeout(CALL_TIMEOUT):
            while True:
                message = await self._socket.receive_json()
                if message.get("id") == self._next_id:
                    break
        if "error" in message:
            raise ScreenshotError(f"{method}: {message['error']}")
        result: dict[str, Any] = message.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its (JSON) value."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise ScreenshotError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def settle(self, path: str) -> int:
        """Wait until the page at `path` shows no spinner, draws every chart and keeps still.

        Return the bottom of the page's content (cards, charts) in CSS pixels.
        """
        deadline = time.monotonic() + PAGE_TIMEOUT
        last: Any = None
        still_since = time.monotonic()
        while True:
            probe = await self.evaluate(SETTLE_PROBE)
            if probe["toasts"]:
                raise ScreenshotError(f"{path}: the frontend shows {probe['toasts']}")
            ready = probe["path"] == path and not probe["busy"] and probe["blank"] == 0
            if not ready or probe["layout"] != last:
                still_since = time.monotonic()
            last = probe["layout"]
            if ready and time.monotonic() - still_since >= SETTLED_FOR:
                break
            if time.monotonic() > deadline:
                raise ScreenshotError(f"{path} did not settle within {PAGE_TIMEOUT:.0f} s: {probe}")
            await asyncio.sleep(0.25)
        await asyncio.sleep(ANIMATIONS)
        return int(probe["bottom"])

    async def resize(self, height: int) -> None:
        """Make the page WIDTH x `height` CSS pixels, at scale 1."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def screenshot(self) -> bytes:
        """Return the page as PNG."""
        shot = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])


@contextlib.asynccontextmanager
async def chromium(binary: Path, folder: Path) -> AsyncIterator[Chromium]:
    """Run a headless Chromium for the block."""
    browser = Chromium(binary, folder)
    try:
        await browser.start()
        yield browser
    finally:
        await browser.stop()


# ------------------------------------------------------------------------ Core and the demo


async def finish_onboarding(core: RealCore) -> None:
    """Mark onboarding's remaining step done (with Core stopped), so that the frontend opens."""
    if core.config_dir is None:
        raise ScreenshotError("Core has not been started")
    await core.stop()
    store = core.config_dir / ".storage" / "onboarding"
    data = json.loads(store.read_text(encoding="utf-8"))
    data["data"]["done"] = ["user", "core_config", "analytics", "integration"]
    store.write_text(json.dumps(data), encoding="utf-8")
    await core.start()


async def browser_tokens(core: RealCore) -> dict[str, Any]:
    """Log the owner in as the frontend does (login flow, auth code); return its hassTokens."""
    client_id = f"{core.base_url}/"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.post(
            f"{core.base_url}/auth/login_flow",
            json={
                "client_id": client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{client_id}?auth_callback=1",
            },
        ) as response:
            flow = await response.json()
        async with session.post(
            f"{core.base_url}/auth/login_flow/{flow['flow_id']}",
            json={"client_id": client_id, "username": USERNAME, "password": PASSWORD},
        ) as response:
            done = await response.json()
        if done.get("type") != "create_entry":
            raise ScreenshotError(f"the login flow ended with {done}")
        async with session.post(
            f"{core.base_url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": done["result"],
                "client_id": client_id,
            },
        ) as response:
            tokens: dict[str, Any] = await response.json()
    return {
        **tokens,
        "hassUrl": core.base_url,
        "clientId": client_id,
        "expires": int(time.time() * 1000) + tokens["expires_in"] * 1000,
    }


@contextlib.asynccontextmanager
async def demo(core: RealCore, broker: Mosquitto, folder: Path) -> AsyncIterator[Path]:
    """Run the add-on's demo, publishing over MQTT into Core; yield its log file."""
    options = folder / "options.json"
    options.write_text(
        json.dumps({"publish": "mqtt", "mqtt_url": broker.url, "scan_interval": SCAN_INTERVAL}),
        encoding="utf-8",
    )
    log = folder / "addon.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUNGROW_", "HA_"))}
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sungrow",
            "--demo",
            env={
                **env,
                "PYTHONPATH": str(REPO / "sungrow_addon"),
                "SUNGROW_OPTIONS": str(options),
                "SUNGROW_DATA_DIR": str(folder / "data"),
                "HA_API_URL": core.api_url,
                "SUPERVISOR_URL": core.base_url,  # answers 404 for /services/mqtt
                "SUPERVISOR_TOKEN": core.token,
            },
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        yield log
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    """Poll an async condition for up to `seconds`; raise ScreenshotError naming `what`."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise ScreenshotError(f"{what} within {seconds:.0f} s")
        await asyncio.sleep(0.5)


async def published(core: RealCore, units: dict[str, str]) -> bool:
    """Tell whether every sensor has a number in Core, in the unit the back-fill assumes."""
    for entity_id, unit in units.items():
        state = await core.get_state(entity_id)
        if state is None:
            return False
        try:
            float(state["state"])
        except ValueError:
            return False
        if state["attributes"].get("unit_of_measurement") != unit:
            raise ScreenshotError(f"{entity_id} is in {state['attributes']}, not {unit}")
    return True


async def plant_device(core: RealCore) -> str:
    """Return the registry id of the plant's MQTT device ("Demo Home")."""
    devices = await core.ws_command("config/device_registry/list")
    for device in devices:
        if device["name"] == "Demo Home" and any(i[0] == "mqtt" for i in device["identifiers"]):
            return str(device["id"])
    raise ScreenshotError("Core has no MQTT device named Demo Home")


# --------------------------------------------------------------------------------- pictures


async def open_page(browser: Chromium, url: str) -> int:
    """Navigate (in a WIDTH x HEIGHT page), wait until it has settled; return its bottom."""
    await browser.resize(HEIGHT)
    await browser.send("Page.navigate", url=url)
    return await browser.settle(urlsplit(url).path)


async def check_text(browser: Chromium, name: str) -> None:
    """Raise when the page says it has no data or failed."""
    text: str = await browser.evaluate(TEXT_PROBE)
    found = [word for word in BAD_TEXT if word.lower() in text.lower()]
    if found:
        raise ScreenshotError(f"{name} shows {found}: {text[:2000]}")


async def take_pictures(browser: Chromium, core: RealCore, zone: str, output: Path) -> list[Path]:
    """Log in, open each page, wait for it, write the PNG files; return them."""
    tokens = json.dumps(await browser_tokens(core))
    await browser.send("Page.enable")
    await browser.send(
        "Page.addScriptToEvaluateOnNewDocument",
        source=(
            f"if (location.origin === {json.dumps(core.base_url)})"
            f" localStorage.setItem('hassTokens', {json.dumps(tokens)});"
        ),
    )
    await browser.send("Emulation.setTimezoneOverride", timezoneId=zone)
    await browser.send(
        "Emulation.setEmulatedMedia",
        features=[
            {"name": "prefers-color-scheme", "value": "light"},
            {"name": "prefers-reduced-motion", "value": "no-preference"},
        ],
    )
    written = []
    base = core.base_url

    device = await plant_device(core)
    bottom = await open_page(browser, f"{base}/config/devices/device/{device}")
    written.append(await _write(browser, output, "devices.png", bottom))

    now = datetime.now(UTC)
    query = "&".join(
        [
            f"entity_id={quote(','.join(HISTORY))}",
            f"start_date={quote((now - timedelta(hours=24)).isoformat())}",
            f"end_date={quote(now.isoformat())}",
        ]
    )
    bottom = await open_page(browser, f"{base}/history?{query}")
    written.append(await _write(browser, output, "history.png", bottom))

    await open_page(browser, f"{base}/energy")
    if not await browser.evaluate(PREVIOUS_DAY):
        raise ScreenshotError("no 'previous' button on the Energy dashboard")
    yesterday = now.astimezone(ZoneInfo(zone)).date() - timedelta(days=1)
    shown = _midnight(yesterday, zone).timestamp() * 1000

    async def showing_yesterday() -> bool:
        return bool(await browser.evaluate(ENERGY_PERIOD) == shown)

    await until(showing_yesterday, PAGE_TIMEOUT, "the Energy dashboard did not load yesterday")
    bottom = await browser.settle("/energy")
    written.append(await _write(browser, output, "energy.png", bottom))
    return written


# Runs in the page: press the Energy dashboard's "previous period" arrow (today -> yesterday).
PREVIOUS_DAY = """
(() => {
  const find = (root, name) => {
    for (const element of root.querySelectorAll("*")) {
      if (element.tagName.toLowerCase() === name) return element;
      const inner = element.shadowRoot && find(element.shadowRoot, name);
      if (inner) return inner;
    }
    return null;
  };
  const selector = find(document, "hui-energy-period-selector");
  const button = selector && selector.shadowRoot.querySelector("ha-icon-button-prev");
  if (!button) return false;
  button.click();
  return true;
})()
"""


# Runs in the page: the start (ms) of the period whose data the Energy dashboard has loaded.
ENERGY_PERIOD = """
(() => {
  const collection = document.querySelector("home-assistant").hass.connection._energy_dashboard;
  const loaded = collection && collection.state;
  return loaded && loaded.start ? loaded.start.getTime() : null;
})()
"""


async def _write(browser: Chromium, output: Path, name: str, bottom: int) -> Path:
    """Take the picture; write it when the page shows no failure, else as failed-<name>."""
    height = SHOTS[name]
    path = await browser.evaluate("location.pathname")
    if height is None:  # the whole content, which a taller page may lay out anew
        height = HEIGHT
        for _ in range(3):
            fitted = min(max(bottom + MARGIN, HEIGHT), MAX_HEIGHT)
            if fitted == height:
                break
            height = fitted
            await browser.resize(height)
            bottom = await browser.settle(path)
    elif height != HEIGHT:
        await browser.resize(height)
        await browser.settle(path)
    picture = await browser.screenshot()
    try:
        await check_text(browser, name)
    except ScreenshotError as err:
        failed = output / f"failed-{name}"
        failed.write_bytes(picture)
        err.add_note(f"the page is in {failed}")
        raise
    target = output / name
    target.write_bytes(picture)
    return target


# -------------------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Settings:
    """What the command line chose."""

    output: Path
    chromium: Path
    time_zone: str | None  # None: the zone in which it is LOCAL_HOUR now


def daytime_zone(now: datetime, hour: int = LOCAL_HOUR) -> str:
    """Return the fixed-offset zone (`Etc/GMT-11` is UTC+11) in which it is `hour` o'clock now."""
    offset = (hour - now.astimezone(UTC).hour) % 24
    if offset > 14:  # noqa: PLR2004 - the zones run from UTC-12 to UTC+14
        offset -= 24
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


async def make_pictures(settings: Settings) -> list[Path]:
    """Run Core, the broker and the demo; back-fill; take the pictures; return their files."""
    python = find_python()
    if python is None:
        raise ScreenshotError("no Python 3.13 (pyenv's versions/3.13.*, python3.13 on PATH)")
    if not mosquitto_available():
        raise ScreenshotError("mosquitto is missing: apt-get install mosquitto")
    if not settings.chromium.exists():
        raise ScreenshotError(f"{settings.chromium} is missing: apt-get install chromium")
    core = RealCore(python)
    core.install()
    settings.output.mkdir(parents=True, exist_ok=True)
    for name in SHOTS:  # left by an earlier run that failed
        (settings.output / f"failed-{name}").unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="sungrow-screenshots-") as temporary:
        folder = Path(temporary)
        broker = Mosquitto(folder)
        broker.start()
        try:
            async with core, contextlib.AsyncExitStack() as stack:
                try:
                    return await _with_core(core, broker, folder, settings, stack)
                except Exception as err:
                    err.add_note(core.log_tail(40))
                    log = folder / "addon.log"
                    if log.exists():
                        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()
                        err.add_note("--- the add-on's log ---\n" + "\n".join(tail[-30:]))
                    raise
        finally:
            broker.stop()


async def _with_core(
    core: RealCore,
    broker: Mosquitto,
    folder: Path,
    settings: Settings,
    stack: contextlib.AsyncExitStack,
) -> list[Path]:
    browser = await stack.enter_async_context(chromium(settings.chromium, folder))
    await finish_onboarding(core)
    started = datetime.now(UTC)
    zone = settings.time_zone or daytime_zone(started)
    await core.ws_command("config/core/update", time_zone=zone)
    await core.setup_mqtt(broker.port)
    await stack.enter_async_context(demo(core, broker, folder))
    plant = demo_simulator(ZoneInfo(zone)).plants[0]
    units = {
        statistic_id: _series(plant, statistic_id, *where).unit
        for statistic_id, where in (HISTORY | ENERGY).items()
    }
    await until(
        lambda: published(core, units), DEMO_TIMEOUT, "the demo did not publish every sensor"
    )
    yesterday = started.astimezone(ZoneInfo(zone)).date() - timedelta(days=1)
    first = _midnight(yesterday, zone) - 2 * HOUR
    this_hour = started.replace(minute=0, second=0, microsecond=0)
    commands = backfill(plant, first, this_hour)
    for command in commands:
        await core.ws_command("recorder/import_statistics", **command)

    async def imported() -> bool:  # the recorder imports in its own thread
        found = await core.ws_command(
            "recorder/statistics_during_period",
            start_time=(this_hour - HOUR).isoformat(),
            statistic_ids=[command["metadata"]["statistic_id"] for command in commands],
            period="hour",
        )
        return len(found) == len(commands)

    await until(imported, DEMO_TIMEOUT, "the recorder did not import the statistics")
    await core.ws_command("energy/save_prefs", **ENERGY_PREFS)
    print(f"the plant's time: {datetime.now(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})")
    return await take_pictures(browser, core, zone, settings.output)


def _midnight(day: date, zone: str) -> datetime:
    """Return the start of a local day, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def main(argv: list[str] | None = None) -> int:
    """Make the pictures; print what was written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(os.environ.get("SUNGROW_SCREENSHOTS_DIR") or OUTPUT),
        help="folder for the PNG files (default: $SUNGROW_SCREENSHOTS_DIR or %(default)s)",
    )
    parser.add_argument(
        "--chromium",
        type=Path,
        default=Path(os.environ.get("CHROMIUM") or CHROMIUM),
        help="the Chromium binary (default: $CHROMIUM or %(default)s)",
    )
    parser.add_argument(
        "--time-zone",
        help=f"Home Assistant's (and so the plant's) time zone, e.g. Europe/Berlin (default: "
        f"the fixed-offset zone in which it is now {LOCAL_HOUR}:xx, so that the plant's "
        "values are the same by day and by night)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    settings = Settings(output=args.output, chromium=args.chromium, time_zone=args.time_zone)
    try:
        written = asyncio.run(make_pictures(settings))
    except (ScreenshotError, CoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        for note in getattr(err, "__notes__", []):
            print(note, file=sys.stderr)
        return 1
    for path in written:
        with path.open("rb") as png:
            width, height = struct.unpack(">II", png.read(24)[16:24])
        print(f"wrote {path} ({width}x{height})")
    print(f"{len(written)} pictures in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
