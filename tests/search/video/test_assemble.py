"""The assembler hands each segment on once nothing found later can change it, and the segments
are the same as assembling the whole video at once, whatever order the channels arrive in."""

from __future__ import annotations

import random

import numpy as np

from stillhouse.search.video.assemble import INF, Assembler
from stillhouse.search.video.transcribe import Word

LABELS = [f"label{i}" for i in range(6)]
SPANS = [(0.0, 10.0), (10.0, 20.0), (20.0, 31.0), (31.0, 40.0), (40.0, 52.0), (52.0, 60.0)]


def assembler() -> Assembler:
    return Assembler("v", {"title": "t"}, labels=lambda: LABELS, audio_labels=2, audio_min_score=0.3)


def channels() -> tuple[list[Word], list[tuple[float, str]], list[tuple[float, np.ndarray]]]:
    """Words whose sentences cross span boundaries (9.5-11.5 s, one without an end over 30-33 s), tags and
    score rows every 0.48 s whose loudest class changes every 12 s."""
    words = [Word(2.0, 2.4, "Hello"), Word(2.5, 3.0, "there."), Word(9.5, 10.2, "crossing"),
             Word(10.3, 11.5, "over."), Word(30.0, 30.5, "slow"), Word(31.2, 31.8, "words"),
             Word(32.5, 33.0, "keep"), Word(41.0, 41.5, "Late"), Word(41.6, 42.0, "news")]  # fmt: skip
    tags = [(5.0, "music"), (33.0, "applause"), (59.0, "music")]
    rows = []
    for k in range(int(60 / 0.48)):
        row = np.full(len(LABELS), 0.1, dtype=np.float16)
        row[int(k * 0.48 // 12) % len(LABELS)] = 0.9
        rows.append((0.24 + k * 0.48, row))
    return words, tags, rows


def test_segments_streamed_in_any_order_match_the_whole_video_at_once() -> None:
    words, tags, rows = channels()
    whole = assembler()
    for i, span in enumerate(SPANS):
        whole.set_visual(whole.add_span(span, f"/k/{i}.jpg"), f"text {i}")
    whole.add_speech(words, tags)
    whole.add_scores(rows)
    expected = whole.finish()
    assert [s.transcription for s in expected] == [
        "Hello there.",
        "crossing over.",
        None,
        "slow words keep",
        "Late news",
        None,
    ]
    assert expected[0].audio == "label0, [music]" and expected[3].audio == "label2, label3, [applause]"

    rng = random.Random(7)
    for _ in range(20):
        streamed, out = assembler(), []
        speech_at, sound_at, spans_at = 0.0, 0.0, 0
        unread: list[int] = []
        while spans_at < len(SPANS) or speech_at < INF or sound_at < INF or unread:
            move = rng.choice(["span", "speech", "sound", "visual"])
            if move == "span" and spans_at < len(SPANS):
                unread.append(streamed.add_span(SPANS[spans_at], f"/k/{spans_at}.jpg"))
                spans_at += 1
            elif move == "speech" and speech_at < INF:
                until = speech_at + rng.uniform(5, 25)
                until = INF if until > 60 else until
                streamed.add_speech([w for w in words if speech_at <= w.start < until],
                                    [t for t in tags if speech_at <= t[0] < until])  # fmt: skip
                speech_at = until
            elif move == "sound" and sound_at < INF:
                until = sound_at + rng.uniform(2, 20)
                until = INF if until > 60 else until
                streamed.add_scores([r for r in rows if sound_at <= r[0] < until])
                sound_at = until
            elif move == "visual" and unread:
                index = unread.pop(0)
                streamed.set_visual(index, f"text {index}")
            out += streamed.ready(speech_until=speech_at, sound_until=sound_at)
            assert not any(s.end > min(speech_at, sound_at) for s in out)  # nothing ahead of its channels
        out += streamed.finish()
        assert out == expected


def test_a_sentence_that_may_still_grow_holds_its_segment_back() -> None:
    a = assembler()
    a.set_visual(a.add_span((0.0, 10.0), "/k/0.jpg"), "")
    a.add_speech([Word(8.0, 9.5, "still")], [])
    assert a.ready(speech_until=10.0, sound_until=INF) == []  # a word at 10.0 could join it
    assert a.ready(speech_until=10.8, sound_until=INF)[0].transcription == "still"
    assert a.spans == [] and a.words == []


def test_a_keyframe_not_yet_read_holds_its_segment_and_the_later_ones_back() -> None:
    a = assembler()
    first = a.add_span((0.0, 10.0), "/k/0.jpg")
    a.set_visual(a.add_span((10.0, 20.0), "/k/1.jpg"), "later")
    assert a.ready(speech_until=INF, sound_until=INF) == []
    a.set_visual(first, "SALE")
    assert [s.visual for s in a.ready(speech_until=INF, sound_until=INF)] == ["SALE", "later"]
