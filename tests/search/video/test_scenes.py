"""Segment boundaries snapped to scene cuts: the pure planner and its streaming form."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from stillhouse.search.video.config import SegmentPolicy
from stillhouse.search.video.scenes import SegmentPlanner, plan_segments

POLICY = SegmentPolicy()  # 5 / 10 / 15 s


def lengths(spans: list[tuple[float, float]]) -> list[float]:
    return [round(e - s, 6) for s, e in spans]


def test_boundary_snaps_to_the_cut_nearest_the_target() -> None:
    assert plan_segments([6.0, 11.0, 14.0], 25.0, POLICY)[0] == (0.0, 11.0)


def test_cuts_outside_the_window_are_ignored_and_the_target_is_used() -> None:
    spans = plan_segments([2.0, 4.9, 15.2], 30.0, POLICY)
    assert spans[0] == (0.0, 10.0)
    assert spans[1] == (10.0, 15.2)  # the next window holds the 15.2 cut


def test_no_cuts_gives_target_length_segments_and_covers_the_video() -> None:
    spans = plan_segments([], 40.0, POLICY)
    assert spans == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 40.0)]


def test_tail_is_never_shorter_than_min() -> None:
    assert plan_segments([], 18.0, POLICY) == [(0.0, 10.0), (10.0, 18.0)]
    # The 14.5 s cut would leave a 2.5 s tail: not taken.
    assert plan_segments([14.5], 17.0, POLICY) == [(0.0, 10.0), (10.0, 17.0)]
    # 16 s with no usable cut: the target (10) would leave 6, fine; a cut at 3 and 13 are both out.
    assert plan_segments([3.0, 13.0], 16.0, POLICY) == [(0.0, 10.0), (10.0, 16.0)]
    # Only a boundary within 5 s of the end is possible in the window: clamped to duration - min.
    assert plan_segments([], 16.0, SegmentPolicy(min_s=5, target_s=14, max_s=15)) == [
        (0.0, 11.0),
        (11.0, 16.0),
    ]


def test_a_video_up_to_max_long_is_one_segment_and_a_short_one_too() -> None:
    assert plan_segments([3.0, 8.0], 15.0, POLICY) == [(0.0, 15.0)]
    assert plan_segments([], 2.0, POLICY) == [(0.0, 2.0)]
    assert plan_segments([], 0.0, POLICY) == [(0.0, 0.0)]


def test_ties_take_the_earlier_cut() -> None:
    assert plan_segments([8.0, 12.0], 30.0, POLICY)[0] == (0.0, 8.0)


@pytest.mark.parametrize("seed", range(20))
def test_every_segment_is_within_bounds_and_spans_are_contiguous(seed: int) -> None:
    rng = random.Random(seed)
    duration = rng.uniform(16, 400)
    cuts = sorted(rng.uniform(0, duration) for _ in range(rng.randint(0, 60)))
    spans = plan_segments(cuts, duration, POLICY)
    assert spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(duration)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(POLICY.min_s - 1e-6 <= n <= POLICY.max_s + 1e-6 for n in lengths(spans))


@pytest.mark.parametrize("seed", range(10))
def test_streaming_planner_gives_the_same_spans_as_planning_at_once(seed: int) -> None:
    rng = random.Random(100 + seed)
    duration = rng.uniform(1, 300)
    cuts = sorted(rng.uniform(0, duration) for _ in range(rng.randint(0, 40)))
    planner = SegmentPlanner(POLICY)
    streamed: list[tuple[float, float]] = []
    t = 0.0
    while t < duration:  # frames at 25 fps: cuts are known once decoding passes them
        planner.add_cuts([c for c in cuts if t - 0.04 < c <= t])
        streamed += planner.settled(t)
        t += 0.04
    planner.add_cuts([c for c in cuts if c > t - 0.04])
    streamed += planner.finish(duration)
    expected = plan_segments(cuts, duration, POLICY)
    assert [(round(a, 6), round(b, 6)) for a, b in streamed] == [
        (round(a, 6), round(b, 6)) for a, b in expected
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"min_s": 12, "target_s": 10}, "min_s <= target_s"),
        ({"min_s": 8, "target_s": 10, "max_s": 15}, "twice"),
    ],
)
def test_bad_policies_are_refused(values: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SegmentPolicy(**values)
