"""One scenario of scripts/benchmark.py, in a process of its own: the add-on and nothing else.

Usage (by the benchmark): benchmark_child.py SPEC (JSON); prints what it measured (JSON).
It imports only aiohttp and the add-on, so that its memory is the add-on's.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from _typeshed import HasFileno

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sungrow_addon"))

APPKEY = "B3NCHA11C5E3B4F2A9C8D7E6F5A4B3C2"
SECRET_KEY = "bench-secret-key-0123456789abcdef"  # noqa: S105 - the benchmark's own account
USERNAME = "bench@example.com"
PASSWORD = "bench-password"  # noqa: S105
HA_TOKEN = "bench-supervisor-token"  # noqa: S105
POLL = 300.0  # seconds of plant time between two cycles: the default scan_interval


def _count_fsyncs() -> list[int]:
    """Count os.fsync calls from now on (the storage layer's synced writes)."""
    count = [0]
    real = os.fsync

    def counting(fd: int | HasFileno) -> None:
        count[0] += 1
        real(fd)

    os.fsync = counting
    return count


async def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the scenario `spec` describes; return what was measured."""
    if spec["mode"] == "bare":
        return await _bare_interpreter(spec)
    fsyncs = _count_fsyncs()
    from sungrow.logs import setup_logging  # noqa: PLC0415 - after os.fsync is counted
    from sungrow.options import Options  # noqa: PLC0415
    from sungrow.publish.choice import Place, choose  # noqa: PLC0415
    from sungrow.service import Environment, build_poller, supervised  # noqa: PLC0415
    from sungrow.storage import DataFolder  # noqa: PLC0415

    formatter = setup_logging("warning")
    options = Options.from_dict(
        {
            "appkey": APPKEY,
            "secret_key": SECRET_KEY,
            "username": USERNAME,
            "password": PASSWORD,
            "server_url": spec["cloud"],
            "publish": spec["mode"],
            "mqtt_url": spec.get("mqtt"),
        }
    )
    data_dir = Path(spec["data_dir"])
    environment = Environment(data_dir=data_dir, api_url=spec["ha"], supervisor_token=HA_TOKEN)
    place = Place(
        api_url=spec["ha"], supervisor_url=spec["ha"].removesuffix("/api"), token=HA_TOKEN
    )
    folder = DataFolder(data_dir)
    clock = [spec["start"]]
    cycles: list[dict[str, float]] = []
    replay: list[float] = []  # the CPU of each poll's states posted again by bare aiohttp
    async with AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        # Only where it replays: the memory figures are of one session.
        replaying = (
            await stack.enter_async_context(aiohttp.ClientSession()) if spec["replay"] else None
        )
        control = await stack.enter_async_context(aiohttp.ClientSession(spec["control"]))
        publishing = await choose(
            options, place, session=session, folder=folder, formatter=formatter
        )
        poller = build_poller(
            options,
            environment,
            folder=folder,
            session=session,
            publisher=publishing.publisher,
            formatter=formatter,
        )
        poller.clock = lambda: clock[0]
        background = (
            asyncio.create_task(supervised("Publishing", publishing.background))
            if publishing.background is not None
            else None
        )
        if publishing.ready is not None:
            await publishing.ready()
        for number in range(spec["cycles"]):
            clock[0] = spec["start"] + number * POLL
            async with control.post("/clock", json={"t": clock[0]}) as answer:
                answer.raise_for_status()
            synced, cpu = fsyncs[0], time.process_time()
            report = await poller.run_once()
            await asyncio.sleep(0.02)  # the broker's acknowledgements belong to the cycle
            cycles.append(
                {
                    "cpu": time.process_time() - cpu,
                    "fsyncs": fsyncs[0] - synced,
                    "rss": _resident_bytes(),
                    "sensors": report.sensors,
                }
            )
            if replaying is not None and number >= spec["cycles"] - spec["replay"]:
                async with control.get("/posts") as answer:
                    posted = await answer.json()
                replay.append(await _replay(replaying, spec["ha"], posted))
        if background is not None:
            background.cancel()
        if publishing.close is not None:
            await publishing.close()
    return {"cycles": cycles, "peak_rss": _peak_rss_bytes(), "replay": replay}


async def _replay(session: aiohttp.ClientSession, api_url: str, posted: list[list[Any]]) -> float:
    """Post the same states again, plainly, one after another; return the CPU it took."""
    headers = {"Authorization": f"Bearer {HA_TOKEN}", "Content-Type": "application/json"}
    cpu = time.process_time()
    for entity_id, body in posted:
        url = f"{api_url}/states/{entity_id}"
        async with session.post(url, data=json.dumps(body), headers=headers) as answer:
            await answer.read()
    return time.process_time() - cpu


async def _bare_interpreter(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure the memory baseline: aiohttp imported, one session, one request made."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{spec['ha']}/config", headers={"Authorization": f"Bearer {HA_TOKEN}"}
        ) as answer,
    ):
        await answer.read()
    return {"peak_rss": _peak_rss_bytes()}


def _resident_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    # VmHWM, not getrusage's ru_maxrss: that one keeps the parent's peak across fork and exec.
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # kB
    msg = "/proc/self/status has no VmHWM line"
    raise RuntimeError(msg)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(child(json.loads(sys.argv[1])))))
