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


def test_decoding_levers_round_trip_and_a_manifest_without_them_is_written_as_before(tmp_path) -> None:
    import json

    from stillhouse.models.draft import PromptLookup
    from stillhouse.models.manifest import StudentDecoding

    write_manifest(tmp_path, "video-router")
    assert json.loads((tmp_path / MANIFEST).read_text()) == {"task": "video-router", "student_format": True}
    decoding = StudentDecoding(max_string_chars=40, number_decimals=1, draft=PromptLookup(tokens=4))
    write_manifest(tmp_path, "video-router", decoding)
    manifest = read_manifest(tmp_path)
    assert manifest is not None and manifest.decoding == decoding


@pytest.mark.parametrize(
    "decoding",
    [
        {"max_string_chars": 0},
        {"number_decimals": 7},
        {"number_decimals": -1},
        {"draft": {"tokens": 0}},
        {"x": 1},
    ],
)
def test_a_manifest_with_bad_decoding_levers_is_refused(tmp_path, decoding) -> None:
    import json

    (tmp_path / MANIFEST).write_text(json.dumps({"task": "video-router", "decoding": decoding}))
    with pytest.raises(InvalidInputError, match=MANIFEST):
        read_manifest(tmp_path)
