"""Output locations: checked before work starts, and results kept when the final write fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stillhouse.errors import InvalidInputError, OutputPathError
from stillhouse.outputs import atomic_file, check_output_dir, check_output_file, write_or_rescue


def test_a_folder_under_a_file_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError) as err:
        check_output_dir(tmp_path / "file" / "run", field="out")
    assert err.value.field == "out" and str(tmp_path / "file" / "run") in str(err.value)
    assert isinstance(err.value, InvalidInputError)  # the CLI's one-line error, exit 2


def test_an_existing_file_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "file")
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "file" / "a" / "b")


def test_an_output_file_under_a_file_or_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="file is a file, not a folder"):
        check_output_file(tmp_path / "file" / "out.jsonl")
    with pytest.raises(OutputPathError, match="is a folder, not a file"):
        check_output_file(tmp_path)


def test_a_read_only_filesystem_is_refused() -> None:
    # /proc takes no new files, even for root (os.access would say yes to root).
    with pytest.raises(OutputPathError, match="cannot write"):
        check_output_dir("/proc/stillhouse-out")


def test_good_locations_are_accepted_and_nothing_is_left(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert check_output_file(tmp_path / "c" / "out.jsonl") == tmp_path / "c" / "out.jsonl"
    assert check_output_dir("relative-folder").name == "relative-folder"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a"]  # no probe file, no folder made


def test_atomic_file_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as out:
        out.write("new")
        raise RuntimeError("broke")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_failed_write_saves_the_results_and_names_where(tmp_path: Path) -> None:
    def write() -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / "results.json"))

    with pytest.raises(OutputPathError) as err:
        write_or_rescue(write, dump=lambda: json.dumps({"score": 4.2}), name="results.json")
    saved = Path(str(err.value).rsplit("saved in ", 1)[1])
    try:
        assert json.loads(saved.read_text()) == {"score": 4.2}
        assert "Permission denied" in str(err.value)
    finally:
        saved.unlink()


def test_a_successful_write_returns_its_value() -> None:
    assert write_or_rescue(lambda: 7, dump=lambda: "unused", name="x") == 7
