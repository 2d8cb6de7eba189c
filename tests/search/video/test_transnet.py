"""TransNetV2 over streamed frames finds the same cuts as the model's own whole-video prediction."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # TransNetV2 on CPU: ~70 s here under load


def frames() -> list[np.ndarray]:
    """130 frames of 48x27 RGB: three flat colours with hard cuts at frames 40 and 95, plus noise."""
    rng = np.random.default_rng(0)
    colours = [(200, 30, 30)] * 40 + [(20, 180, 40)] * 55 + [(30, 40, 210)] * 35
    return [
        np.clip(np.full((27, 48, 3), c) + rng.integers(-8, 8, (27, 48, 3)), 0, 255).astype(np.uint8)
        for c in colours
    ]


def test_streamed_cuts_match_predict_frames() -> None:
    torch = pytest.importorskip("torch")
    from stillhouse.search.video.scenes import TransNetCuts

    detector = TransNetCuts(fps=10.0)
    video = frames()
    streamed = [t for f in video for t in detector.push(f)] + detector.flush(len(video))
    single, _ = detector._model.predict_frames(torch.from_numpy(np.stack(video)), quiet=True)
    probs = single.numpy().reshape(-1)
    rising = [i / 10.0 for i in range(1, len(probs)) if probs[i] > 0.5 >= probs[i - 1]]
    assert streamed == pytest.approx(rising)
    assert len(streamed) == 2 and abs(streamed[0] - 4.0) <= 0.2 and abs(streamed[1] - 9.5) <= 0.2
