"""scripts/screenshots.py end to end: a real Core, the demo, headless Chromium, three pictures."""

from __future__ import annotations

import importlib.util
import os
import struct
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import ADDON_DIR
from mosquitto import available as mosquitto_available
from real_core import find_python

pytestmark = [pytest.mark.slow]

REPO = ADDON_DIR.parent
SCRIPT = REPO / "scripts" / "screenshots.py"
RUN_TIMEOUT = 240
MIN_COLOURS = 200  # a page of text, icons and charts has thousands; a blank one has one
MAX_SHARE_OF_ONE_COLOUR = 0.9


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # for its dataclasses
    spec.loader.exec_module(module)
    return module


def _paeth(left: int, up: int, up_left: int) -> int:
    estimate = left + up - up_left
    to_left, to_up, to_up_left = abs(estimate - left), abs(estimate - up), abs(estimate - up_left)
    if to_left <= to_up and to_left <= to_up_left:
        return left
    return up if to_up <= to_up_left else up_left


def _unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> None:
    """Undo one scanline's PNG filter in place (RFC 2083, 6)."""
    if kind == 1:  # the PNG filter types: 1 sub, 2 up, 3 average, 4 Paeth
        for i in range(bpp, len(line)):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif kind == 2:
        line[:] = bytes((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
    elif kind == 3:
        for i in range(len(line)):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(len(line)):
            left = line[i - bpp] if i >= bpp else 0
            up_left = previous[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + _paeth(left, previous[i], up_left)) & 0xFF


def decode_png(raw: bytes) -> tuple[int, int, Counter[bytes]]:
    """Return width, height and how often each colour occurs, of an 8-bit RGB(A) PNG."""
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    offset, header, data = 8, b"", bytearray()
    while offset < len(raw):
        (length,) = struct.unpack(">I", raw[offset : offset + 4])
        kind, body = raw[offset + 4 : offset + 8], raw[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            data += body
        offset += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    bpp = {2: 3, 6: 4}[colour_type]
    pixels = zlib.decompress(bytes(data))
    stride = width * bpp
    colours: Counter[bytes] = Counter()
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        line = bytearray(pixels[start + 1 : start + 1 + stride])
        _unfilter(pixels[start], line, previous, bpp)
        colours.update(bytes(line[i : i + 3]) for i in range(0, stride, bpp))
        previous = line
    return width, height, colours


def test_the_script_writes_three_pictures_of_a_real_core(tmp_path: Path) -> None:
    """Each picture is there, of its size, and shows a page rather than a blank."""
    chromium = Path(os.environ.get("CHROMIUM") or "/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip(f"no {chromium}: `apt-get install chromium` (scripts/screenshots does)")
    if find_python() is None:
        pytest.skip("no Python 3.13 (pyenv's versions/3.13.*, python3.13 on PATH) for Core")
    if not mosquitto_available():
        pytest.skip("no mosquitto here: ./scripts/test installs it (apt-get install mosquitto)")
    script = _script()
    output = tmp_path / "images"

    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(SCRIPT), "--output", str(output), "--chromium", str(chromium)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert sorted(path.name for path in output.iterdir()) == sorted(script.SHOTS)
    for name, expected_height in script.SHOTS.items():
        assert f"wrote {output / name}" in result.stdout
        width, height, colours = decode_png((output / name).read_bytes())
        assert width == script.WIDTH, name
        if expected_height is None:  # fitted to the page
            assert script.HEIGHT <= height <= script.MAX_HEIGHT, name
        else:
            assert height == expected_height, name
        assert len(colours) > MIN_COLOURS, name
        assert colours.most_common(1)[0][1] < MAX_SHARE_OF_ONE_COLOUR * width * height, name
