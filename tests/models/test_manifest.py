"""A published folder's ``stillhouse.json``: written, read back, refused when broken."""

from __future__ import annotations

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.models.manifest import MANIFEST, read_manifest, write_manifest


def test_manifest_round_trip_and_a_plain_folder_has_none(tmp_path) -> None:
    assert read_manifest(tmp_path) is None
    write_manifest(tmp_path, "video-router")
    manifest = read_manifest(tmp_path)
    assert manifest is not None and manifest.task == "video-router" and manifest.student_format


def test_a_broken_manifest_is_refused_by_name(tmp_path) -> None:
    (tmp_path / MANIFEST).write_text('{"task": "video-router", "surprise": 1}')
    with pytest.raises(InvalidInputError, match=MANIFEST):
        read_manifest(tmp_path)
