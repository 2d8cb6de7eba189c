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


def test_how_the_student_was_trained_round_trips_with_the_decoding_cap_it_was_trained_to(tmp_path) -> None:
    import json

    from stillhouse.models.manifest import StudentDecoding, StudentFormat

    trained_on = StudentFormat(reasoning_chars=40)
    write_manifest(tmp_path, "video-router", trained_on=trained_on)
    written = json.loads((tmp_path / MANIFEST).read_text())
    assert written["trained_on"] == {"reasoning_chars": 40} and written["decoding"]["max_string_chars"] == 40
    manifest = read_manifest(tmp_path)
    assert manifest is not None and manifest.trained_on == trained_on
    assert manifest.decoding == StudentDecoding(max_string_chars=40)
    # A looser cap is tightened to the training's, a tighter one and the other levers are kept.
    write_manifest(
        tmp_path, "video-router", StudentDecoding(max_string_chars=80, number_decimals=2), trained_on
    )
    manifest = read_manifest(tmp_path)
    assert manifest is not None and manifest.decoding == StudentDecoding(
        max_string_chars=40, number_decimals=2
    )
    write_manifest(tmp_path, "video-router", StudentDecoding(max_string_chars=30), trained_on)
    manifest = read_manifest(tmp_path)
    assert manifest is not None and manifest.decoding.max_string_chars == 30
    # Trained on the teacher's reasoning: written as before the setting existed.
    write_manifest(tmp_path, "video-router", trained_on=StudentFormat())
    assert json.loads((tmp_path / MANIFEST).read_text()) == {"task": "video-router", "student_format": True}


@pytest.mark.parametrize(
    "trained_on",
    [{"reasoning_chars": 15}, {"reasoning_chars": 1001}, {"reasoning_chars": "short"}, {"words": 8}],
)
def test_a_manifest_with_a_bad_training_format_is_refused(tmp_path, trained_on) -> None:
    import json

    (tmp_path / MANIFEST).write_text(json.dumps({"task": "video-router", "trained_on": trained_on}))
    with pytest.raises(InvalidInputError, match=MANIFEST):
        read_manifest(tmp_path)
