"""Normalisation and fusion (pure), including segments that lack a modality."""

from __future__ import annotations

import pytest

from stillhouse.search.evidence import best_piece, evidence
from stillhouse.search.fusion import (
    UNIFORM,
    ChannelHits,
    FusionConfig,
    Span,
    channel_scores,
    fuse,
    fuse_combined,
    merge_neighbours,
    minmax,
    normalised_list,
    renormalised,
    searched,
)
from stillhouse.search.store import Hit

ALL = ("visual", "audio", "transcription", "metadata")


def test_minmax_scales_a_list_to_unit_range_and_ties_to_one():
    assert minmax([Hit(1, 4.0), Hit(2, 2.0), Hit(3, 3.0)]) == {1: 1.0, 2: 0.0, 3: 0.5}
    assert minmax([Hit(1, 0.3), Hit(2, 0.3)]) == {1: 1.0, 2: 1.0}
    assert minmax([]) == {}


def test_a_channel_mixes_dense_and_bm25_and_absence_counts_zero():
    hits = ChannelHits(dense=[Hit(1, 0.9), Hit(2, 0.1)], lexical=[Hit(2, 7.0), Hit(3, 1.0)])
    scores, floors = channel_scores({"visual": hits}, lexical_weight=0.25)
    assert scores["visual"] == pytest.approx({1: 0.75, 2: 0.25, 3: 0.0}) and floors == {"visual": 0.0}


def test_zscore_measures_how_far_a_hit_stands_out_and_absence_counts_as_the_lists_lowest():
    flat = [Hit(1, 0.52), Hit(2, 0.50), Hit(3, 0.48)]
    standout = [Hit(4, 0.90), Hit(5, 0.50), Hit(6, 0.49), Hit(7, 0.48)]
    scaled, floor = normalised_list(flat, "zscore")
    assert scaled == pytest.approx({1: 1.2247, 2: 0.0, 3: -1.2247}, abs=1e-4) and floor == scaled[3]
    assert normalised_list(standout, "zscore")[0][4] > 1.7  # minmax gives both bests 1.0
    assert normalised_list([Hit(1, 0.3), Hit(2, 0.3)], "zscore") == ({1: 0.0, 2: 0.0}, 0.0)
    assert normalised_list([], "zscore") == ({}, 0.0)
    hits = ChannelHits(dense=flat, lexical=[Hit(3, 5.0), Hit(9, 1.0)])
    scores, floors = channel_scores({"audio": hits}, lexical_weight=0.5, how="zscore")
    assert scores["audio"][9] == pytest.approx(0.5 * -1.2247 + 0.5 * -1.0, abs=1e-4)  # not in dense
    assert floors["audio"] == pytest.approx(0.5 * -1.2247 + 0.5 * -1.0, abs=1e-4)


def test_rank_normalisation_uses_only_the_order():
    assert normalised_list([Hit(1, 9.0), Hit(2, 8.9), Hit(3, 0.1), Hit(4, 0.0)], "rank") == (
        {1: 1.0, 2: 0.75, 3: 0.5, 4: 0.25},
        0.0,
    )


def test_a_segment_in_no_list_of_a_modality_it_has_gets_that_modalitys_floor():
    channels = {
        "visual": ChannelHits(
            dense=[Hit(1, 0.9, ("visual", "audio")), Hit(3, 0.5, ("visual",)), Hit(4, 0.1, ("visual",))]
        ),
        "audio": ChannelHits(
            dense=[Hit(2, 0.8, ("audio",)), Hit(5, 0.2, ("audio",)), Hit(6, 0.1, ("audio",))]
        ),
    }
    present = {h.id: h.has for c in channels.values() for h in c.dense}
    weights = {"visual": 0.5, "audio": 0.5, "transcription": 0.0, "metadata": 0.0}
    config = FusionConfig(lexical_weight=0.0, normalisation="zscore")
    one = next(f for f in fuse(channels, weights, present, config) if f.id == 1)
    lowest_audio = normalised_list(channels["audio"].dense, "zscore")[1]
    assert one.scores["audio"] == pytest.approx(lowest_audio)  # has audio, in no audio list
    assert one.score == pytest.approx(0.5 * one.scores["visual"] + 0.5 * lowest_audio)


def test_renormalised_ignores_a_missing_modality_instead_of_diluting():
    weights = {"visual": 0.5, "audio": 0.3, "transcription": 0.2, "metadata": 0.0}
    assert renormalised({"visual": 1.0, "audio": 0.5}, weights, ["visual", "audio"]) == pytest.approx(
        0.65 / 0.8
    )
    assert renormalised({"metadata": 1.0}, weights, ["metadata"]) == 0.0  # all its weights are zero


def test_routed_fusion_follows_the_weights_and_renormalises_per_segment():
    channels = {
        "visual": ChannelHits(dense=[Hit(1, 0.9), Hit(2, 0.5)]),
        "audio": ChannelHits(dense=[Hit(2, 0.8), Hit(3, 0.2)]),
    }
    present = {1: ("visual", "audio"), 2: ("visual", "audio"), 3: ("audio",)}
    weights = {"visual": 0.2, "audio": 0.8, "transcription": 0.0, "metadata": 0.0}
    fused = fuse(channels, weights, present, FusionConfig(lexical_weight=0.0))
    by_id = {f.id: f for f in fused}
    assert [f.id for f in fused] == [2, 1, 3]
    assert by_id[1].score == pytest.approx(0.2)  # visual 1.0 * 0.2, audio 0 (not retrieved) * 0.8
    assert by_id[2].score == pytest.approx(0.8)
    assert by_id[3].scores == {"visual": None, "audio": 0.0, "transcription": None, "metadata": None}
    # Segment 3 has audio only: its score is its audio score alone, whatever visual weighs.
    assert by_id[3].score == 0.0


def test_a_segment_with_one_modality_is_scored_by_it_alone():
    channels = {
        "visual": ChannelHits(dense=[Hit(1, 0.9), Hit(2, 0.1)]),
        "metadata": ChannelHits(dense=[Hit(2, 1.0)]),
    }
    present = {1: ("visual",), 2: ("visual", "metadata")}
    weights = {"visual": 0.9, "audio": 0.0, "transcription": 0.0, "metadata": 0.1}
    by_id = {f.id: f for f in fuse(channels, weights, present, FusionConfig(lexical_weight=0.0))}
    assert by_id[1].score == pytest.approx(1.0)
    assert by_id[2].score == pytest.approx(0.1)


def test_searched_keeps_the_modalities_weighted_at_least_the_floor_and_always_the_heaviest():
    w = {"visual": 0.7, "audio": 0.15, "transcription": 0.1, "metadata": 0.05}
    assert searched(w, 0.15) == ("visual", "audio")
    assert searched(w, 0.0) == ALL  # 0: every channel, zero weights too
    assert searched(w, 0.9) == ("visual",)  # nothing reaches the floor: the heaviest alone
    tie = {"visual": 0.1, "audio": 0.4, "transcription": 0.4, "metadata": 0.1}
    assert searched(tie, 0.5) == ("audio",)  # a tie for the heaviest: the first in order
    assert searched(UNIFORM, 0.25) == ALL


def test_a_modality_left_unsearched_neither_counts_nor_dilutes():
    channels = {
        "visual": ChannelHits(dense=[Hit(1, 0.9, ALL), Hit(2, 0.1, ALL)]),
        "audio": ChannelHits(dense=[Hit(2, 0.9, ALL), Hit(1, 0.1, ALL)]),
    }
    w = {"visual": 0.9, "audio": 0.1, "transcription": 0.0, "metadata": 0.0}
    kept = {m: channels[m] for m in searched(w, 0.15)}
    present = {1: ALL, 2: ALL}
    dense_only = FusionConfig(lexical_weight=0.0)
    pruned = fuse(kept, w, present, dense_only)
    assert [(f.id, f.score) for f in pruned] == [(1, 1.0), (2, 0.0)]  # visual alone, not 0.9 / 0.1
    assert pruned[0].scores == {"visual": 1.0, "audio": None, "transcription": None, "metadata": None}
    full = fuse(channels, w, present, dense_only)
    assert [f.id for f in full] == [1, 2] and full[0].score == pytest.approx(0.9)


def test_uniform_ignores_the_given_weights():
    channels = {
        "visual": ChannelHits(dense=[Hit(1, 1.0), Hit(2, 0.0)]),
        "audio": ChannelHits(dense=[Hit(2, 1.0), Hit(1, 0.0)]),
    }
    present = dict.fromkeys((1, 2), ("visual", "audio"))
    skewed = {"visual": 1.0, "audio": 0.0, "transcription": 0.0, "metadata": 0.0}
    fused = fuse(channels, skewed, present, FusionConfig(strategy="uniform", lexical_weight=0.0))
    assert [f.score for f in fused] == [0.5, 0.5]
    assert dict.fromkeys(ALL, 0.25) == UNIFORM


def test_rrf_uses_ranks_with_the_weights():
    channels = {
        "visual": ChannelHits(dense=[Hit(1, 0.99), Hit(2, 0.98)]),
        "audio": ChannelHits(dense=[Hit(2, 0.5), Hit(1, 0.1)]),
    }
    present = dict.fromkeys((1, 2), ("visual", "audio"))
    weights = {"visual": 0.7, "audio": 0.3, "transcription": 0.0, "metadata": 0.0}
    fused = fuse(channels, weights, present, FusionConfig(strategy="rrf", lexical_weight=0.0, rrf_k=60))
    by_id = {f.id: f.score for f in fused}
    assert by_id[1] == pytest.approx(0.7 / 61 + 0.3 / 62)
    assert by_id[2] == pytest.approx(0.7 / 62 + 0.3 / 61)
    assert fused[0].id == 1


def test_combined_ranks_by_the_single_embedding():
    fused = fuse_combined([Hit(5, 0.2), Hit(4, 0.7)])
    assert [f.id for f in fused] == [4, 5]
    assert fused[0].scores == dict.fromkeys(ALL)


def _span(video, start, end, score, **scores):
    full = dict.fromkeys(ALL) | scores
    return Span(video, start, end, score, full, {m: f"{m} of {start}" for m in scores}, [int(start)])


def test_neighbouring_segments_of_one_video_merge_into_one_range():
    spans = [
        _span("a", 10, 20, 0.9, visual=0.9),
        _span("b", 20, 30, 0.8),
        _span("a", 21, 30, 0.5, audio=0.5, visual=0.95),
    ]
    merged = merge_neighbours(spans, gap_s=1.0)
    assert [(s.video_id, s.start, s.end, s.score) for s in merged] == [("a", 10, 30, 0.9), ("b", 20, 30, 0.8)]
    assert merged[0].scores["visual"] == 0.95 and merged[0].scores["audio"] == 0.5
    assert merged[0].evidence == {"visual": "visual of 10", "audio": "audio of 21"}
    assert merged[0].ids == [10, 21]
    assert len(merge_neighbours(spans, gap_s=0.5)) == 3


def test_evidence_is_the_piece_sharing_most_query_words():
    text = "We drove all day. The quarterly earnings beat estimates! Then we slept."
    assert best_piece("quarterly earnings", "transcription", text) == "The quarterly earnings beat estimates!"
    assert best_piece("piano", "audio", "engine roar, grand piano, applause") == "grand piano"
    assert best_piece("who is ann", "metadata", "title: Concert\npeople: Ann Lee") == "people: Ann Lee"
    assert best_piece("nothing", "visual", "first. second.") == "first."
    assert evidence("x", {"visual": "", "audio": "a"}) == {"audio": "a"}


def test_merge_dense_normalises_each_list_and_keeps_each_ids_best():
    from stillhouse.search.fusion import merge_dense

    captions = [Hit(1, 0.9), Hit(2, 0.5), Hit(3, 0.1)]  # MiniLM-like cosines
    frames = [Hit(3, 0.31), Hit(4, 0.30), Hit(1, 0.21)]  # CLIP-like: a narrow range, another scale
    merged = merge_dense(captions, frames)
    assert [(h.id, round(h.score, 6)) for h in merged] == [(1, 1.0), (3, 1.0), (4, 0.9), (2, 0.5)]
