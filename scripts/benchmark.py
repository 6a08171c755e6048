"""The add-on's footprint, measured: every figure a ratio to a baseline measured in the same run.

Usage: scripts/benchmark [--quick]
Prints the figures with their bounds and exits 1 when one is out of bounds (`--quick` runs
fewer cycles and checks nothing: a smoke test of the command itself).

How it measures:

- This process serves the iSolarCloud simulator (the add-on's own, `sungrow/simulator`, with a
  virtual clock), a fake Home Assistant (`tests/fake_homeassistant.py`: the REST API, its
  websocket, the Supervisor's `/services/mqtt`) and Debian's mosquitto, all on loopback.
- Each scenario runs in a child process (`benchmark.py --child SPEC`) that wires the add-on as
  the service does (`service.build_poller`, `publish.choice.choose`, the real data folder) and
  runs its poll cycles back to back, each 5 minutes of plant time after the previous one (it
  sets the simulator's clock through a control port before each cycle: not measured). The
  child measures its own process CPU, its resident memory, and its `os.fsync` calls.
- Cold start runs the real `python -m sungrow` (the package compiled to bytecode, as the
  Dockerfile does) and times it from the spawn to the first state Home Assistant receives; its
  baseline is `python -c "import aiohttp"`, spawn to exit.
- CPU per poll: the polls of a daytime run (every value moves), each poll's least CPU over five
  runs of the same polls (as `timeit` takes the least: more is other load on the machine).
- The baselines: the cloud calls one call per device type present would cost; a bare
  interpreter holding one aiohttp session that has made one request; the same child replaying,
  with one aiohttp session and one POST after another, exactly the states the add-on posted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
ADDON = REPO / "sungrow_addon"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(ADDON))

from benchmark_child import APPKEY, HA_TOKEN, PASSWORD, POLL, SECRET_KEY, USERNAME  # noqa: E402
from fake_homeassistant import FakeHomeAssistant  # noqa: E402 - from tests/, on sys.path above
from mosquitto import Mosquitto  # noqa: E402

from sungrow import __version__  # noqa: E402
from sungrow.simulator import (  # noqa: E402
    CloudSimulator,
    SimAccount,
    SimApp,
    SimPlant,
    hybrid_plant,
    micro_plant,
)

START = datetime(2026, 6, 1, tzinfo=UTC).timestamp()  # midnight
NOON = START + 12 * 3600
DATA_PATHS = {"/openapi/getDeviceRealTimeData"}
LIST_PATHS = {"/openapi/getPowerStationList", "/openapi/getDeviceList"}
MIB = 1024 * 1024


# The parent: the simulator, the fake Home Assistant, the broker, and the children.


@dataclass
class Backend:
    """The simulator with a virtual clock and the fake Home Assistant, counted per cycle."""

    plants: list[SimPlant]
    now: float = START
    calls: list[list[str]] = field(default_factory=list)
    simulator: CloudSimulator = field(init=False)
    home_assistant: FakeHomeAssistant = field(init=False)

    def __post_init__(self) -> None:
        """Give the simulator the benchmark's account, every plant on it."""
        self.simulator = CloudSimulator(
            plants=self.plants,
            apps=[SimApp(appkey=APPKEY, access_key=SECRET_KEY)],
            accounts=[
                SimAccount(
                    username=USERNAME,
                    password=PASSWORD,
                    user_id=4711,
                    ps_ids=tuple(plant.ps_id for plant in self.plants),
                )
            ],
            clock=lambda: datetime.fromtimestamp(self.now, UTC),
        )
        self.home_assistant = FakeHomeAssistant(token=HA_TOKEN, time_zone="UTC")

    def control_app(self) -> web.Application:
        """Return the control port: set the clock (a new cycle), read the posted states."""

        async def set_clock(request: web.Request) -> web.Response:
            self.calls.append([call.path for call in self.simulator.calls])
            self.simulator.calls.clear()
            self.home_assistant.posted.clear()
            self.home_assistant.requests.clear()
            self.now = float((await request.json())["t"])
            return web.json_response({})

        async def posts(_request: web.Request) -> web.Response:
            """Return the states posted since the last call (or since the clock was set)."""
            posted = [[post.entity_id, post.body] for post in self.home_assistant.posted]
            self.home_assistant.posted.clear()
            return web.json_response(posted)

        app = web.Application()
        app.router.add_post("/clock", set_clock)
        app.router.add_get("/posts", posts)
        return app


# The CPU figure: polls from 10:00 to 13:15 (every value moves), each the least of five runs.
MORNING = START + 10 * 3600
CPU_POLLS = 40
CPU_REPEATS = 5
REPLAYED = 20  # the last polls of a REST run, each replayed right after it by bare aiohttp


def large_plant() -> list[SimPlant]:
    """Return a plant of about 1500 sensors: 210 microinverters."""
    return [micro_plant(3, "Large", count=210, timezone=UTC)]


async def _serve(app: web.Application, stack: AsyncExitStack) -> str:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
    return f"http://127.0.0.1:{port}"


async def run_scenario(
    plants: list[SimPlant], mode: str, cycles: int, broker: str | None, *, start: float = START
) -> tuple[Backend, dict[str, Any]]:
    """Run one scenario in a child process; return the backend's counts and the child's."""
    backend = Backend(plants)
    async with AsyncExitStack() as stack:
        cloud = await stack.enter_async_context(backend.simulator.serve())
        ha = await stack.enter_async_context(backend.home_assistant.serve())
        control = await _serve(backend.control_app(), stack)
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="sungrow-bench-"))
        spec = {
            "mode": mode,
            "cloud": cloud,
            "ha": ha,
            "control": control,
            "mqtt": broker if mode == "mqtt" else None,
            "data_dir": data_dir,
            "cycles": cycles,
            "start": start,
            "replay": REPLAYED if mode == "rest" else 0,
        }
        measured = await _run_child(spec)
    return backend, measured


async def _run_child(spec: dict[str, Any]) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("benchmark_child.py")),
        json.dumps(spec),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        msg = f"the {spec['mode']} child failed:\n{stderr.decode()}"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(stdout)
    return result


async def cold_start(runs: int) -> tuple[float, float]:
    """Return the median seconds to the first state, and to `import aiohttp`."""
    backend = Backend([hybrid_plant(timezone=UTC)], now=time.time())
    backend.simulator.clock = lambda: datetime.now(UTC)
    ours, bare = [], []
    async with AsyncExitStack() as stack:
        cloud = await stack.enter_async_context(backend.simulator.serve())
        ha = await stack.enter_async_context(backend.home_assistant.serve())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sungrow-bench-")))
        # The package as the image holds it: compiled to bytecode by the Dockerfile.
        app = folder / "app"
        shutil.copytree(ADDON / "sungrow", app / "sungrow", ignore=shutil.ignore_patterns("__py*"))
        compiling = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "compileall", "-q", str(app / "sungrow")
        )
        await compiling.wait()
        options = folder / "options.json"
        options.write_text(
            json.dumps(
                {
                    "appkey": APPKEY,
                    "secret_key": SECRET_KEY,
                    "username": USERNAME,
                    "password": PASSWORD,
                    "server_url": cloud,
                }
            ),
            encoding="utf-8",
        )
        for run in range(runs + 1):  # the first run warms the page cache: not counted
            env = {
                **os.environ,
                "PYTHONPATH": str(app),
                "SUNGROW_OPTIONS": str(options),
                "SUNGROW_DATA_DIR": str(folder / f"data-{run}"),
                "HA_API_URL": ha,
                "SUPERVISOR_URL": ha.removesuffix("/api"),
                "SUPERVISOR_TOKEN": HA_TOKEN,
            }
            backend.home_assistant.posted.clear()
            started = time.perf_counter()
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sungrow", env=env, stderr=asyncio.subprocess.DEVNULL
            )
            while not backend.home_assistant.posted:  # noqa: ASYNC110 - polled for the time
                await asyncio.sleep(0.002)
            seconds = time.perf_counter() - started
            process.terminate()
            await process.wait()
            started = time.perf_counter()
            importing = await asyncio.create_subprocess_exec(sys.executable, "-c", "import aiohttp")
            await importing.wait()
            if run:
                ours.append(seconds)
                bare.append(time.perf_counter() - started)
    return statistics.median(ours), statistics.median(bare)


@dataclass(frozen=True)
class Figure:
    """One line of the report."""

    name: str
    measured: str
    baseline: str
    ratio: float | None
    bound: str
    within: bool


def _calls_figure(name: str, backend: Backend, device_types: int) -> Figure:
    """Cloud calls per poll in the cycles that neither logged in nor read the lists."""
    polls = [
        paths
        for paths in backend.calls[1:]
        if paths and not (set(paths) & (LIST_PATHS | {"/openapi/login"}))
    ]
    per_poll = statistics.mean(len(paths) for paths in polls)
    ratio = per_poll / device_types
    return Figure(
        name,
        f"{per_poll:.2f} calls",
        f"{device_types} (one per device type)",
        ratio,
        "≤ 1.00x",
        ratio <= 1.0,
    )


async def main(*, quick: bool) -> int:
    """Run every scenario, print the report; return 1 when a figure is out of bounds."""
    figures: list[Figure] = []
    long_run = 60 if quick else 500
    with tempfile.TemporaryDirectory(prefix="sungrow-bench-broker-") as broker_folder:
        broker = Mosquitto(Path(broker_folder))
        broker.start()
        try:
            hybrid, hybrid_run = await run_scenario([hybrid_plant(timezone=UTC)], "rest", 30, None)
            figures.append(_calls_figure("Cloud calls per poll, one hybrid plant", hybrid, 5))
            lists_per_hour = sum(
                1 for paths in hybrid.calls[1:] for path in paths if path in LIST_PATHS
            ) / (len(hybrid.calls[1:]) * POLL / 3600)
            two, _ = await run_scenario(
                [hybrid_plant(1, "One", timezone=UTC), hybrid_plant(2, "Two", timezone=UTC)],
                "rest",
                30,
                None,
            )
            figures.append(_calls_figure("Cloud calls per poll, two hybrid plants", two, 5))
            micro = [micro_plant(3, "Micro", count=150, timezone=UTC)]
            many, _ = await run_scenario(micro, "rest", 30, None)
            figures.append(_calls_figure("Cloud calls per poll, 150 microinverters", many, 2))
            # From noon: by poll 100 (20:20) it has lived through a day's production, so what
            # follows is its steady state. (From midnight, poll 100 is at 08:20 and the state
            # of the waking plant still fills in: RSS steps by one 1 MiB allocator arena.)
            _, mqtt_run = await run_scenario(
                large_plant(), "mqtt", long_run, broker.url, start=NOON
            )
            polls, repeats = (10, 2) if quick else (CPU_POLLS, CPU_REPEATS)
            daytime = [
                (await run_scenario(large_plant(), "mqtt", polls, broker.url, start=MORNING))[1]
                for _ in range(repeats)
            ]
            _, bare = await run_scenario([], "bare", 0, None)
            _, hybrid_mqtt = await run_scenario(
                [hybrid_plant(timezone=UTC)], "mqtt", 30, broker.url
            )
            _, rest_run = await run_scenario(
                large_plant(), "rest", 40, None, start=NOON - 20 * POLL
            )
        finally:
            broker.stop()
    for name, run in (("REST", hybrid_run), ("MQTT", hybrid_mqtt)):
        ratio = run["peak_rss"] / bare["peak_rss"]
        figures.append(
            Figure(
                f"Peak memory (RSS), one hybrid plant, {name}",
                f"{run['peak_rss'] / MIB:.1f} MiB",
                f"{bare['peak_rss'] / MIB:.1f} MiB (aiohttp, one session)",
                ratio,
                "≤ 1.15x",
                ratio <= 1.15,  # noqa: PLR2004
            )
        )
    steady = mqtt_run["cycles"][min(100, long_run // 5) :]
    growth = (steady[-1]["rss"] - steady[0]["rss"]) / MIB
    figures.append(
        Figure(
            f"Memory growth (RSS), poll {min(100, long_run // 5)} to {long_run}",
            f"{growth:+.2f} MiB",
            "",
            None,
            "≤ 1 MiB",
            growth <= 1,
        )
    )
    points = max(cycle["sensors"] for cycle in steady)
    # Each poll's least CPU over the repeats (as timeit takes the least: more is other load).
    runs = [[cycle["cpu"] for cycle in run["cycles"]] for run in daytime]
    least = [min(polls) for polls in zip(*runs, strict=True)]
    mqtt_cpu = statistics.mean(least[1:]) * 1000  # the first poll discovers: start-up
    figures.append(
        Figure(
            f"CPU per daytime poll, MQTT, {points} sensors",
            f"{mqtt_cpu:.1f} ms",
            "",
            None,
            "≤ 30 ms",
            mqtt_cpu <= 30,  # noqa: PLR2004
        )
    )
    replayed = rest_run["replay"]
    ours = sum(cycle["cpu"] for cycle in rest_run["cycles"][-len(replayed) :])
    rest_ratio = ours / sum(replayed)
    figures.append(
        Figure(
            f"CPU per poll, REST, {points} sensors",
            f"{ours / len(replayed) * 1000:.0f} ms",
            f"{sum(replayed) / len(replayed) * 1000:.0f} ms (the same POSTs, bare aiohttp)",
            rest_ratio,
            "≤ 1.10x",
            rest_ratio <= 1.1,  # noqa: PLR2004
        )
    )
    first_state, import_aiohttp = await cold_start(3 if quick else 7)
    start_ratio = first_state / import_aiohttp
    figures.append(
        Figure(
            "Cold start to the first state",
            f"{first_state * 1000:.0f} ms",
            f"{import_aiohttp * 1000:.0f} ms (python -c 'import aiohttp')",
            start_ratio,
            "≤ 1.50x",
            start_ratio <= 1.5,  # noqa: PLR2004
        )
    )
    synced = [cycle["fsyncs"] for cycle in steady]
    figures.append(
        Figure(
            "Synced writes per poll (most in one poll)",
            f"{max(synced)} (mean {statistics.mean(synced):.2f})",
            "",
            None,
            "≤ 1",
            max(synced) <= 1,
        )
    )
    _print(figures, lists_per_hour)
    return 0 if quick or all(figure.within for figure in figures) else 1


def _print(figures: list[Figure], lists_per_hour: float) -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"Sungrow iSolarCloud add-on {__version__}, {datetime.now(UTC):%Y-%m-%d}: {cpu}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print()
    print("| Figure | Measured | Baseline | Ratio | Bound | |")
    print("|---|---|---|---|---|---|")
    for figure in figures:
        ratio = f"{figure.ratio:.2f}x" if figure.ratio is not None else ""
        verdict = "ok" if figure.within else "**out of bounds**"
        print(
            f"| {figure.name} | {figure.measured} | {figure.baseline} | {ratio} | "
            f"{figure.bound} | {verdict} |"
        )
    print()
    print(
        f"Besides the polls: {lists_per_hour:.1f} calls an hour re-read the plant and device lists."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cycles, no bounds checked")
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(quick=arguments.quick)))
