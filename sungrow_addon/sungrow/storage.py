"""Small JSON files in the data folder, written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import StateFileError


@dataclass(frozen=True)
class JsonFile:
    """One JSON object in one file; a power cut leaves either the old or the new file."""

    path: Path

    def load(self) -> dict[str, Any] | None:
        """Return the stored object, None when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            msg = f"{self.path} cannot be read ({err.strerror})"
            raise StateFileError(msg) from None
        try:
            data = json.loads(text)
        except ValueError:
            msg = f"{self.path} is corrupt (not JSON)"
            raise StateFileError(msg) from None
        if not isinstance(data, dict):
            msg = f"{self.path} is corrupt (not a JSON object)"
            raise StateFileError(msg)
        return data

    def save(self, data: dict[str, Any]) -> None:
        """Write the object atomically: a temporary file, fsync, then rename over the old one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        temporary = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            temporary.chmod(0o600)
            temporary.replace(self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise

    def delete(self) -> None:
        """Remove the file if it exists."""
        self.path.unlink(missing_ok=True)
