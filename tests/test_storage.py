"""Files in the data folder: atomic writes, corrupt files, a failing disk, the stored token."""

from __future__ import annotations

import errno
import logging
import os
import stat
from typing import TYPE_CHECKING

import pytest

from sungrow.cloud.tokens import TokenStore, account_fingerprint
from sungrow.exceptions import StateFileError
from sungrow.storage import MAX_STATE_BYTES, DataFolder, JsonFile, SaveResult

if TYPE_CHECKING:
    from pathlib import Path

LOGGER = "sungrow.storage"


def nested(depth: int) -> bytes:
    """Return `depth` JSON objects inside each other."""
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


def one_object_of(size: int) -> bytes:
    """Return a valid JSON object of exactly `size` bytes."""
    return b'{"a":"' + b"x" * (size - 8) + b'"}'


def full_disk(*_args: object) -> None:
    """Stand in for os.fsync on a disk with no space left."""
    raise OSError(errno.ENOSPC, "No space left on device")


def storage_records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """Return the level and message of everything storage logged."""
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_save_and_load(tmp_path: Path) -> None:
    """What is saved is loaded back; no temporary file stays behind; only the owner reads."""
    file = JsonFile(tmp_path / "sub" / "state.json")

    assert file.save({"a": 1}) is SaveResult.WRITTEN

    assert file.load() == {"a": 1}
    assert [path.name for path in (tmp_path / "sub").iterdir()] == ["state.json"]
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600


def test_missing_file_is_none(tmp_path: Path) -> None:
    """No file yet is not an error."""
    assert JsonFile(tmp_path / "state.json").load() is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"token": "4242_', "not JSON"),
        (b"", "not JSON"),
        (b"\x00\x00", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"a": "\xff\xfe"}', "not UTF-8 text"),
        (nested(100_000), "nested deeper than 32 levels"),
        (nested(33), "nested deeper than 32 levels"),
        (one_object_of(MAX_STATE_BYTES + 1), "larger than 1048576 bytes"),
    ],
    ids=["truncated", "empty", "binary", "array", "utf8", "deep", "33-deep", "oversized"],
)
def test_corrupt_file_is_reported_and_moved_aside(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    """Bad content raises StateFileError naming the file; the file is moved to .corrupt."""
    path = tmp_path / "state.json"
    path.write_bytes(content)
    file = JsonFile(path)

    with pytest.raises(StateFileError) as raised:
        file.load()

    assert str(raised.value) == (
        f"{path} is corrupt ({problem}); moved aside to state.json.corrupt"
    )
    assert (tmp_path / "state.json.corrupt").read_bytes() == content
    assert file.load() is None
    assert file.save({"fresh": True}) is SaveResult.WRITTEN
    assert JsonFile(path).load() == {"fresh": True}


@pytest.mark.parametrize(
    "content", [nested(32), one_object_of(MAX_STATE_BYTES)], ids=["32-deep", "1MiB"]
)
def test_content_at_the_limits_is_accepted(tmp_path: Path, content: bytes) -> None:
    """32 levels of nesting and exactly 1 MiB are still loaded."""
    path = tmp_path / "state.json"
    path.write_bytes(content)

    assert JsonFile(path).load() is not None
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_an_older_corrupt_file_is_replaced(tmp_path: Path) -> None:
    """Only the latest bad file is kept aside."""
    (tmp_path / "state.json.corrupt").write_text("old", encoding="utf-8")
    (tmp_path / "state.json").write_text("new", encoding="utf-8")

    with pytest.raises(StateFileError):
        JsonFile(tmp_path / "state.json").load()

    assert (tmp_path / "state.json.corrupt").read_text(encoding="utf-8") == "new"
    assert not (tmp_path / "state.json").exists()


def test_a_corrupt_file_that_cannot_be_moved_is_still_reported(tmp_path: Path) -> None:
    """If moving it aside fails, load still raises only StateFileError and says nothing moved."""
    (tmp_path / "state.json.corrupt").mkdir()
    (tmp_path / "state.json.corrupt" / "keep").touch()
    path = tmp_path / "state.json"
    path.write_text("[]", encoding="utf-8")

    with pytest.raises(StateFileError) as raised:
        JsonFile(path).load()

    assert str(raised.value) == f"{path} is corrupt (not a JSON object)"
    assert path.read_text(encoding="utf-8") == "[]"


def test_a_file_not_ours_is_left_in_place(tmp_path: Path) -> None:
    """With move_corrupt_aside=False a bad file is reported but not moved."""
    path = tmp_path / "options.json"
    path.write_text("[]", encoding="utf-8")

    with pytest.raises(StateFileError, match=r"options\.json is corrupt \(not a JSON object\)$"):
        JsonFile(path, move_corrupt_aside=False).load()

    assert [p.name for p in tmp_path.iterdir()] == ["options.json"]


def test_an_unreadable_file_is_reported_and_kept(tmp_path: Path) -> None:
    """A file that cannot be read (here a directory) raises StateFileError and is not moved."""
    (tmp_path / "state.json").mkdir()

    with pytest.raises(StateFileError) as raised:
        JsonFile(tmp_path / "state.json").load()

    assert str(raised.value) == f"{tmp_path / 'state.json'} cannot be read (Is a directory)"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    """If the data cannot be serialized, the previous content is still there."""
    file = JsonFile(tmp_path / "state.json")
    file.save({"old": True})

    with pytest.raises(TypeError):
        file.save({"new": object()})

    assert file.load() == {"old": True}
    assert [path.name for path in tmp_path.iterdir()] == ["state.json"]


def test_a_full_disk_is_reported_once_and_the_recovery_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Failing saves return FAILED, keep the old file and warn once; a working save says so."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    file = DataFolder(tmp_path).file("state.json")
    file.save({"token": "old-secret"})
    monkeypatch.setattr(os, "fsync", full_disk)

    results = [file.save({"token": f"secret-{n}"}) for n in range(3)]

    assert results == [SaveResult.FAILED] * 3
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert JsonFile(tmp_path / "state.json").load() == {"token": "old-secret"}
    monkeypatch.undo()
    assert file.save({"token": "secret-3"}) is SaveResult.WRITTEN
    warning = (
        f"Cannot write to the data folder {tmp_path} (No space left on device, writing "
        "state.json): the add-on goes on and writes its state again later"
    )
    assert storage_records(caplog) == [
        ("WARNING", warning),
        ("DEBUG", "Writing state.json still fails (No space left on device)"),
        ("DEBUG", "Writing state.json still fails (No space left on device)"),
        ("INFO", f"Writing to the data folder {tmp_path} works again"),
    ]
    assert "secret" not in caplog.text


def test_files_of_one_folder_share_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Files created without a DataFolder report to one shared reporter per folder."""
    caplog.set_level(logging.WARNING, logger=LOGGER)
    monkeypatch.setattr(os, "fsync", full_disk)

    JsonFile(tmp_path / "names.json").save({"a": 1})
    JsonFile(tmp_path / "counters.json").save({"b": 2})

    assert [level for level, _ in storage_records(caplog)] == ["WARNING"]


def test_a_data_folder_that_is_a_file_fails_without_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A data folder below a regular file cannot be written: FAILED and a warning."""
    (tmp_path / "blocker").touch()
    folder = DataFolder(tmp_path / "blocker" / "data")

    assert folder.file("state.json").save({"a": 1}) is SaveResult.FAILED
    assert "(Not a directory, writing state.json)" in caplog.text
    assert folder.failing


def test_unchanged_content_is_not_rewritten(tmp_path: Path) -> None:
    """Saving what was last written or loaded leaves the file alone."""
    file = JsonFile(tmp_path / "state.json")
    file.save({"a": 1})
    written = file.path.stat().st_ino
    loaded = JsonFile(file.path)
    loaded.load()

    assert file.save({"a": 1}) is SaveResult.UNCHANGED
    assert loaded.save({"a": 1}) is SaveResult.UNCHANGED
    assert file.path.stat().st_ino == written
    assert file.save({"a": 2}) is SaveResult.WRITTEN
    assert file.path.stat().st_ino != written


def test_delete_removes_the_file_and_forgets_it(tmp_path: Path) -> None:
    """After delete the same content is written again; deleting nothing is fine."""
    file = JsonFile(tmp_path / "state.json")
    file.save({"a": 1})

    assert file.delete()
    assert file.delete()
    assert not file.path.exists()
    assert file.save({"a": 1}) is SaveResult.WRITTEN


def test_a_failed_delete_returns_false(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file that cannot be removed (here a non-empty directory) gives False and a warning."""
    (tmp_path / "state.json").mkdir()
    (tmp_path / "state.json" / "keep").touch()

    assert not JsonFile(tmp_path / "state.json").delete()
    assert "Cannot write to the data folder" in caplog.text


def test_a_delete_that_works_reports_the_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """After failing writes, removing a file is a working write too."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    file = DataFolder(tmp_path).file("state.json")
    file.save({"a": 1})
    monkeypatch.setattr(os, "fsync", full_disk)
    file.save({"a": 2})

    assert file.delete()
    assert storage_records(caplog)[-1] == (
        "INFO",
        f"Writing to the data folder {tmp_path} works again",
    )


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


@pytest.mark.parametrize(("durable", "synced"), [(True, 1), (False, 0)])
def test_only_a_durable_file_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, durable: bool, synced: int
) -> None:
    """Syncing wears SD cards: a file that may be lost in a power cut is not synced."""
    calls: list[int] = []
    real_fsync = os.fsync

    def counted(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counted)
    file = JsonFile(tmp_path / "state.json", durable=durable)

    assert file.save({"a": 1}) is SaveResult.WRITTEN
    assert file.save({"a": 1}) is SaveResult.UNCHANGED

    assert len(calls) == synced
    assert JsonFile(tmp_path / "state.json").load() == {"a": 1}
