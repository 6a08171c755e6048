"""A real full disk: a tiny tmpfs filled to the last byte, then freed again."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sungrow.storage import DataFolder

if TYPE_CHECKING:
    from conftest import RunAddon
    from fake_homeassistant import FakeHomeAssistant

TMPFS_SIZE = "64k"
FILLER = "filler"
HERE = Path(__file__).parent
# Run by the child process in a user and mount namespace when mounting here is not permitted.
CHILD = (
    "import json, sys; from pathlib import Path; from test_full_disk import fill_save_free; "
    "print(json.dumps(fill_save_free(Path(sys.argv[1]))))"
)


class Collect(logging.Handler):
    """Keep every record."""

    def __init__(self) -> None:
        """Start with no records."""
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)


def fill(folder: Path) -> None:
    """Write zeros to a file in `folder` until the file system has no space left."""
    with (folder / FILLER).open("wb", buffering=0) as handle:
        try:
            while handle.write(bytes(4096)):
                pass
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise


def fill_save_free(folder: Path) -> dict[str, Any]:
    """Save before, while and after the disk is full; return what was seen, JSON-ready."""
    handler = Collect()
    logger = logging.getLogger("sungrow.storage")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        file = DataFolder(folder).file("state.json")
        results = [file.save({"n": 0})]
        fill(folder)
        results += [file.save({"n": n}) for n in (1, 2)]
        while_full = sorted(path.name for path in folder.iterdir())
        (folder / FILLER).unlink()
        results.append(file.save({"n": 3}))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return {
        "results": [result.value for result in results],
        "while_full": while_full,
        "stored": json.loads((folder / "state.json").read_text(encoding="utf-8")),
        "log": [[record.levelname, record.getMessage()] for record in handler.records],
    }


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; a failure is for the caller to judge."""
    # Every command is built here from fixed words, tools found on PATH and test paths.
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)  # noqa: S603


def tool(name: str) -> str:
    """Return the path of a command, or skip the test when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"a tmpfs cannot be mounted: there is no {name} command")
    return path


def observe_on_tmpfs(mount_point: Path) -> dict[str, Any]:
    """Run fill_save_free on a tiny tmpfs: mounted here if permitted, else in a namespace."""
    mount_point.mkdir()
    mount = [tool("mount"), "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point)]
    if run(mount).returncode != 0:
        return observe_in_namespace(mount, mount_point)
    try:
        return fill_save_free(mount_point)
    finally:
        unmounted = run([tool("umount"), str(mount_point)])
        assert unmounted.returncode == 0, unmounted.stderr


def observe_in_namespace(mount: list[str], mount_point: Path) -> dict[str, Any]:
    """Mount and run fill_save_free in a child that has its own user and mount namespace."""
    unshare = [tool("unshare"), "-rm"]
    probe = run([*unshare, *mount])
    if probe.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted, even with unshare -rm: {probe.stderr}")
    # The mount lives as long as the namespace: no unmount needed when the child ends.
    script = '"$@" && exec "$PYTHON" -c "$CHILD" "$MOUNT_POINT"'
    env = os.environ | {
        "PYTHON": sys.executable,
        "CHILD": CHILD,
        "MOUNT_POINT": str(mount_point),
        "PYTHONPATH": os.pathsep.join([str(HERE.parent / "sungrow_addon"), str(HERE)]),
    }
    child = run([*unshare, "sh", "-c", script, "sh", *mount], env=env)
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_full_disk_is_survived_and_reported(tmp_path: Path) -> None:
    """On a full tmpfs save fails and warns once; once space is freed it saves and says so."""
    mount_point = tmp_path / "data"
    warning = (
        f"Cannot write to the data folder {mount_point} (No space left on device, "
        "writing state.json): the add-on goes on and writes its state again later"
    )

    seen = observe_on_tmpfs(mount_point)

    assert seen["results"] == ["written", "failed", "failed", "written"]
    assert seen["while_full"] == [FILLER, "state.json"]
    assert seen["stored"] == {"n": 3}
    assert seen["log"] == [
        ["WARNING", warning],
        ["DEBUG", "Writing state.json still fails (No space left on device)"],
        ["INFO", f"Writing to the data folder {mount_point} works again"],
    ]


@pytest.mark.slow
async def test_the_add_on_goes_on_polling_and_publishing_on_a_full_disk(
    run_addon: RunAddon,
    options: dict[str, Any],
    tmp_path: Path,
    fake_ha: FakeHomeAssistant,
) -> None:
    """Its data folder on a full tmpfs: the run publishes, warns once, and exits 0."""
    data = tmp_path / "data"
    data.mkdir()
    mount = [tool("mount"), "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(data)]
    if run(mount).returncode != 0:
        pytest.skip("mounting a tmpfs needs root here")
    try:
        fill(data)
        full = await run_addon("--once", options=options)
        published = dict(fake_ha.states)
        (data / FILLER).unlink()
        freed = await run_addon("--once", options=options)
    finally:
        run([tool("umount"), str(data)])

    assert (full.returncode, freed.returncode) == (0, 0), full.stderr
    assert "sensor.sungrow_home_total_yield" in published
    assert "Traceback" not in full.stderr
    warnings = [line for line in full.stderr.splitlines() if " WARNING " in line]
    assert len(warnings) == 1
    assert "No space left on device" in warnings[0]
    assert " WARNING " not in freed.stderr
