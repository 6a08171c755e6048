"""Small JSON files in the data folder: validated on load, written atomically, never fatal."""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sungrow.exceptions import StateFileError

if TYPE_CHECKING:
    from collections.abc import Iterable

_LOGGER = logging.getLogger(__name__)

MAX_STATE_BYTES = 1024 * 1024
MAX_STATE_DEPTH = 32
CORRUPT_SUFFIX = ".corrupt"


class SaveResult(enum.Enum):
    """What `JsonFile.save` did: wrote the file, found it unchanged, or could not write."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(eq=False)
class DataFolder:
    """The folder of the add-on's state files; logs once when writing fails, once on recovery."""

    path: Path
    failing: bool = field(default=False, init=False)

    def file(self, name: str, *, durable: bool = True) -> JsonFile:
        """Return the JSON file `name` in this folder, reporting its writes here."""
        return JsonFile(self.path / name, folder=self, durable=durable)

    def report_failure(self, path: Path, error: OSError) -> None:
        """Log a failed write: a warning the first time, debug while it keeps failing."""
        reason = error.strerror or str(error)
        if self.failing:
            _LOGGER.debug("Writing %s still fails (%s)", path.name, reason)
            return
        self.failing = True
        _LOGGER.warning(
            "Cannot write to the data folder %s (%s, writing %s): the add-on goes on "
            "and writes its state again later",
            self.path,
            reason,
            path.name,
        )

    def report_success(self) -> None:
        """Log that writing works again, once after a failure."""
        if self.failing:
            self.failing = False
            _LOGGER.info("Writing to the data folder %s works again", self.path)


@functools.cache
def _shared_folder(path: Path) -> DataFolder:
    """Return the one DataFolder that files created without a folder report to."""
    return DataFolder(path)


@dataclass
class JsonFile:
    """One JSON object in one file; a power cut leaves either the old or the new file.

    A file that is not `durable` is written without fsync (less wear on SD cards): after a
    power cut it may be lost or empty, which is read as corrupt and started anew.
    """

    path: Path
    folder: DataFolder | None = field(default=None, kw_only=True, compare=False)
    move_corrupt_aside: bool = field(default=True, kw_only=True)
    durable: bool = field(default=True, kw_only=True)
    _stored: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def corrupt_path(self) -> Path:
        """Where a file whose content cannot be used is moved."""
        return self.path.with_name(self.path.name + CORRUPT_SUFFIX)

    def load(self) -> dict[str, Any] | None:
        """Return the stored object, None when there is no file (raises only StateFileError)."""
        raw = self._read()
        if raw is None:
            return None
        try:
            data = _parse(raw)
        except _CorruptError as err:
            raise StateFileError(self._set_aside(err.problem)) from None
        self._stored = _serialize(data)
        return data

    def save(self, data: dict[str, Any]) -> SaveResult:
        """Write the object atomically unless it is what this file last wrote or loaded.

        FAILED means the disk refused the write (the old file is intact and the failure
        was logged): save again later. A value JSON cannot hold raises TypeError.
        """
        text = _serialize(data)
        if text == self._stored:
            return SaveResult.UNCHANGED
        try:
            self._write(text)
        except OSError as err:
            self._health.report_failure(self.path, err)
            return SaveResult.FAILED
        self._stored = text
        self._health.report_success()
        return SaveResult.WRITTEN

    def delete(self) -> bool:
        """Remove the file if it exists; False when it could not be removed (logged)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:
            self._health.report_failure(self.path, err)
            return False
        else:
            self._health.report_success()
        self._stored = None
        return True

    @property
    def _health(self) -> DataFolder:
        return self.folder or _shared_folder(self.path.parent)

    def _read(self) -> bytes | None:
        try:
            with self.path.open("rb") as handle:
                return handle.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as err:
            msg = f"{self.path} cannot be read ({err.strerror or err})"
            raise StateFileError(msg) from None

    def _set_aside(self, problem: str) -> str:
        """Move the unusable file out of the way; return the message that reports it."""
        message = f"{self.path} is corrupt ({problem})"
        if not self.move_corrupt_aside:
            return message
        try:
            self.path.replace(self.corrupt_path)
        except OSError:
            return message  # the next save replaces it anyway
        return f"{message}; moved aside to {self.corrupt_path.name}"

    def _write(self, text: str) -> None:
        """Write through a temporary file (synced if durable), then rename it over the old one.

        The temporary file, and so the file, is readable by this user only (mkstemp's 0600).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        temporary = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                if self.durable:
                    os.fsync(handle.fileno())
            temporary.replace(self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise


class _CorruptError(Exception):
    """The file's content cannot be used; `problem` says why in a few words."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


# One encoder for every write: json.dumps() with options builds a new one per call.
_serialize = json.JSONEncoder(separators=(",", ":")).encode


def _parse(raw: bytes) -> dict[str, Any]:
    """Return the JSON object in `raw`, or raise _CorruptError."""
    if len(raw) > MAX_STATE_BYTES:
        raise _CorruptError(f"larger than {MAX_STATE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _CorruptError("not UTF-8 text") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise _CorruptError(f"nested deeper than {MAX_STATE_DEPTH} levels") from None
    except ValueError:
        raise _CorruptError("not JSON") from None
    if _is_too_deep(data):
        raise _CorruptError(f"nested deeper than {MAX_STATE_DEPTH} levels")
    if not isinstance(data, dict):
        raise _CorruptError("not a JSON object")
    return data


def _is_too_deep(value: Any) -> bool:
    """Tell whether arrays and objects nest deeper than MAX_STATE_DEPTH, without recursion."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_STATE_DEPTH:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
