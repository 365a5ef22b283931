"""Tests of securindex._output: atomic files and folders, targets checked before work."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pytest

from securindex._output import atomic_file, atomic_folder, check_target
from securindex.errors import OutputError, SecurindexError


def _full_disk(path: Path) -> None:
    """Write half a file, then fail as a full disk does."""
    path.write_text("partial")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    target.write_text("previous run")
    with (
        pytest.raises(OutputError, match="no space left on the device") as info,
        atomic_file(target) as tmp,
    ):
        assert tmp.parent == tmp_path and tmp.name.endswith(".csv") and tmp != target
        _full_disk(tmp)
    assert isinstance(info.value, SecurindexError) and isinstance(info.value, OSError)
    assert isinstance(info.value.__cause__, OSError)
    assert target.read_text() == "previous run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]


def test_any_error_while_writing_removes_the_temporary(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_file(tmp_path / "a.csv") as tmp:
        tmp.write_text("x")
        raise KeyboardInterrupt  # a run killed half-way
    assert list(tmp_path.iterdir()) == []


def test_a_missing_parent_is_made_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "a.csv"
    with pytest.raises(OutputError), atomic_file(target) as tmp:
        _full_disk(tmp)
    assert list(tmp_path.iterdir()) == []  # nothing made, not even the folders
    with atomic_file(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done"


@pytest.mark.parametrize(
    ("make", "target", "kind", "match"),
    [
        (lambda p: (p / "out").mkdir(), "out", "file", "is a folder"),
        (lambda p: (p / "out").write_text(""), "out", "folder", "is a file"),
        (lambda p: (p / "f").write_text(""), "f/sub/out.csv", "file", "which is a file"),
    ],
)
def test_wrong_kind_targets_are_refused_before_work(
    tmp_path: Path, make: object, target: str, kind: str, match: str
) -> None:
    make(tmp_path)  # type: ignore[operator]
    with pytest.raises(OutputError, match=match) as info:
        check_target(tmp_path / target, kind=kind)  # type: ignore[arg-type]
    assert info.value.path == str(tmp_path / target)


def test_a_read_only_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the tests run as root, which may write anywhere: os.access stands for the permission
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(OutputError, match="is not writable"):
        check_target(tmp_path / "out.csv", kind="file")


def test_a_folder_is_swapped_in_whole(tmp_path: Path) -> None:
    target = tmp_path / "results"
    with atomic_folder(target) as tmp:
        (tmp / "scores.csv").write_text("one")
        (tmp / "audit.csv").write_text("one")
    with atomic_folder(target) as tmp:
        (tmp / "scores.csv").write_text("two")
        (tmp / "audit.csv").write_text("two")
        assert (target / "scores.csv").read_text() == "one"  # the old output, until the end
    assert {p.name: p.read_text() for p in target.iterdir()} == {
        "scores.csv": "two",
        "audit.csv": "two",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_failed_folder_keeps_the_previous_output(tmp_path: Path) -> None:
    target = tmp_path / "results"
    with atomic_folder(target) as tmp:
        (tmp / "scores.csv").write_text("one")
    with pytest.raises(OutputError), atomic_folder(target) as tmp:
        (tmp / "scores.csv").write_text("two")
        _full_disk(tmp / "audit.csv")
    assert [(p.name, p.read_text()) for p in target.iterdir()] == [("scores.csv", "one")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_users_own_files_in_the_folder_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with atomic_folder(target) as tmp:
        (tmp / "scores.csv").write_text("new")
    assert {p.name for p in target.iterdir()} == {"notes.txt", "scores.csv"}


def test_concurrent_runs_never_mix(tmp_path: Path) -> None:
    target = tmp_path / "results"
    names = [f"part{i}.csv" for i in range(5)]

    def run(k: int) -> None:
        with atomic_folder(target) as tmp:
            for name in names:
                (tmp / name).write_text(str(k))
                time.sleep(0.001 * ((k * 7 + len(name)) % 3))

    for _ in range(5):
        threads = [threading.Thread(target=run, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        contents = {(target / name).read_text() for name in names}
        assert len(contents) == 1  # every file from the same run
        assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # nothing left aside
