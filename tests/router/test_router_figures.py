"""The weight-distribution figure: reads labelled records, writes a PNG, refuses an empty set."""

from __future__ import annotations

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.router.figures import plot_weight_distribution, weights_from_records
from stillhouse.tasks.video_router.golden import labelled_record, load_dev
from stillhouse.tasks.video_router.synth import SynthConfig, synthesize, to_records


def test_weights_from_records_skips_and_counts() -> None:
    records = (
        load_dev()[:10] + [labelled_record("q", "not an answer")] + to_records(synthesize(SynthConfig(n=3)))
    )
    weights, unreadable = weights_from_records(records)
    assert len(weights) == 10 and unreadable == 1
    assert all(abs(sum(w.values()) - 1) < 1e-9 for w in weights)


def test_plot_writes_a_png(tmp_path) -> None:
    weights, _ = weights_from_records(load_dev())
    out = plot_weight_distribution(weights, tmp_path / "sub" / "weights.png", title="dev")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_plot_refuses_nothing(tmp_path) -> None:
    with pytest.raises(InvalidInputError):
        plot_weight_distribution([], tmp_path / "x.png")
