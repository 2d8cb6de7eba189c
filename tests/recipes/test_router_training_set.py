"""The weights-only routers' training set: verified labels, weak labels, and the golden examples
on request (unit: small files written in the test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stillhouse.recipes.video_router import DemoConfig, Layout, router_training_set
from stillhouse.router.intents import write_intents
from stillhouse.tasks.video_router.golden import load_golden
from stillhouse.tasks.video_router.synth import SynthConfig, iter_synthesize


def test_the_golden_examples_join_only_when_asked(tmp_path: Path) -> None:
    from tests.train.router_records import write_router_records

    layout = Layout(root=tmp_path)
    write_router_records(layout.verified, 8, seed=2)
    write_intents(layout.intents, iter_synthesize(SynthConfig(n=30, seed=1)))
    config = DemoConfig(train_queries=10, router_queries=12)
    queries, rows = router_training_set(config, layout)
    n = len(queries)
    assert n == len(rows) and 8 < n <= 8 + 12  # weak labels skip the intents that name no modality
    assert np.allclose(rows.sum(axis=1), 1.0)
    more, more_rows = router_training_set(config, layout, golden=True)
    golden = load_golden()
    assert more[:n] == queries and np.array_equal(more_rows[:n], rows)
    assert more[n:] == [r.prompt_turns[-1].text for r in golden] and len(more_rows) == n + len(golden)
    assert np.allclose(more_rows.sum(axis=1), 1.0)
