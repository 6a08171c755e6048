"""Files in the data folder: atomic writes, corrupt files, the stored token."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

import pytest

from sungrow.exceptions import StateFileError
from sungrow.storage import JsonFile
from sungrow.tokens import TokenStore, account_fingerprint

if TYPE_CHECKING:
    from pathlib import Path


def test_save_and_load(tmp_path: Path) -> None:
    """What is saved is loaded back; no temporary file stays behind; only the owner reads."""
    file = JsonFile(tmp_path / "sub" / "state.json")

    file.save({"a": 1})

    assert file.load() == {"a": 1}
    assert [path.name for path in (tmp_path / "sub").iterdir()] == ["state.json"]
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600


def test_missing_file_is_none(tmp_path: Path) -> None:
    """No file yet is not an error."""
    assert JsonFile(tmp_path / "state.json").load() is None


@pytest.mark.parametrize("content", ['{"token": "4242_', "", "[]", "\x00\x00"])
def test_corrupt_file_is_reported(tmp_path: Path, content: str) -> None:
    """A truncated or foreign file raises StateFileError, naming the file."""
    path = tmp_path / "state.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(StateFileError, match=r"state\.json is corrupt"):
        JsonFile(path).load()


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    """If writing fails half-way, the previous content is still there."""
    file = JsonFile(tmp_path / "state.json")
    file.save({"old": True})

    with pytest.raises(TypeError):
        file.save({"new": object()})

    assert file.load() == {"old": True}
    assert [path.name for path in tmp_path.iterdir()] == ["state.json"]


def test_token_belongs_to_one_account(tmp_path: Path) -> None:
    """A token stored for one account is not used for another."""
    file = JsonFile(tmp_path / "token.json")
    TokenStore(file, account_fingerprint("gw", "key", "alice")).save("4242_abc")

    assert TokenStore(file, account_fingerprint("gw", "key", "alice")).load() == "4242_abc"
    assert TokenStore(file, account_fingerprint("gw", "key", "bob")).load() is None


def test_forgetting_the_token_removes_the_file(tmp_path: Path) -> None:
    """Saving None deletes the stored token."""
    store = TokenStore(JsonFile(tmp_path / "token.json"), "acct")
    store.save("4242_abc")

    store.save(None)

    assert not (tmp_path / "token.json").exists()
