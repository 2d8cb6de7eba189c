"""The fast router's trainer: fits the softmax head to the teacher's weight distributions.

The head is trained with soft-target cross-entropy to the teacher's weight distributions
(equivalently, KL(teacher || head)), in numpy, full batch, with Adam. Only the head is trained; the
encoder stays frozen (``fit(..., warm_start=True)`` fine-tunes an already-trained head on new
teacher labels). The model itself, and how it answers, is :mod:`stillhouse.router.fast_router`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from stillhouse.errors import InvalidInputError
from stillhouse.records.schema import ConversationRecord
from stillhouse.router.fast_router import FastRouter, HeadConfig, softmax
from stillhouse.tasks.video_router.parse import parse_answer
from stillhouse.tasks.video_router.prompt import MODALITIES


class FitReport(BaseModel):
    """What a fit did: examples, epochs, the objective per epoch (soft cross-entropy + L2) and the
    final KL(teacher || head) on the training rows."""

    model_config = ConfigDict(extra="forbid")

    examples: int
    epochs: int
    seconds: float
    losses: list[float]
    final_kl: float


def kl_divergence(targets: np.ndarray, predicted: np.ndarray) -> float:
    """Mean KL(teacher || head) over rows (0 where the teacher gives a modality no weight)."""
    p, q = np.asarray(targets, dtype=np.float64), np.clip(predicted, 1e-12, None)
    terms = np.where(p > 0, p * (np.log(np.clip(p, 1e-12, None)) - np.log(q)), 0.0)
    return float(terms.sum(axis=1).mean())


def teacher_targets(weights: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """The teacher's weights as probability rows (renormalised); refuses shapes and values that are not."""
    targets = np.asarray(weights, dtype=np.float64)
    if targets.ndim != 2 or targets.shape[1] != len(MODALITIES):
        raise InvalidInputError(
            f"weights must be (n, {len(MODALITIES)}), got {targets.shape}", field="weights"
        )
    if not np.isfinite(targets).all() or (targets < 0).any():
        raise InvalidInputError("weights must be finite and non-negative", field="weights")
    sums = targets.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        raise InvalidInputError(f"row {int(np.argmin(sums))} of weights sums to zero", field="weights")
    return targets / sums


def training_pairs(records: Sequence[ConversationRecord]) -> tuple[list[str], np.ndarray, list[str]]:
    """(queries, teacher weight rows, reasons for records left out) from labelled router records.

    The query is the last user turn; the weights are read from the assistant answer as the rubric
    reads them (renormalised). Prompt-only records and answers without four weights are reported.
    """
    queries: list[str] = []
    rows: list[list[float]] = []
    skipped: list[str] = []
    for index, record in enumerate(records):
        value = parse_answer(record.answer, normalize=True).value if record.answer else None
        if value is None:
            skipped.append(f"record {index}: no assistant answer with four weights")
            continue
        queries.append(record.prompt_turns[-1].text)
        rows.append([float(value[m]) for m in MODALITIES])
    return queries, np.array(rows, dtype=np.float64).reshape(-1, len(MODALITIES)), skipped


def fit(
    router: FastRouter,
    queries: Sequence[str],
    weights: np.ndarray | Sequence[Sequence[float]],
    *,
    warm_start: bool = False,
    show_progress: bool = False,
) -> FitReport:
    """Train the head on the teacher's weights for ``queries`` (rows in :data:`MODALITIES` order)."""
    targets = teacher_targets(weights)
    if len(queries) != len(targets):
        raise InvalidInputError(f"{len(queries)} queries but {len(targets)} weight rows", field="weights")
    if not len(queries):
        raise InvalidInputError("nothing to train on", field="queries")
    return fit_embeddings(
        router, router.embed(queries, show_progress=show_progress), targets, warm_start=warm_start
    )


def fit_embeddings(
    router: FastRouter, features: np.ndarray, targets: np.ndarray, *, warm_start: bool = False
) -> FitReport:
    """Train the head on precomputed embeddings (pure numpy; ``fit`` embeds and calls this)."""
    started = time.perf_counter()
    x, y = np.asarray(features, dtype=np.float64), teacher_targets(targets)
    if warm_start and router.is_trained:
        if router.W.shape[0] != x.shape[1]:
            raise InvalidInputError(
                f"embeddings are {x.shape[1]}-d, the head {router.W.shape[0]}-d", field="weights"
            )
        params = [router.W.copy(), router.b.copy()]
    else:
        rng = np.random.default_rng(router.head.seed)
        params = [rng.normal(0.0, 0.01, (x.shape[1], y.shape[1])), np.zeros(y.shape[1])]
    losses = _adam(params, x, y, router.head)
    router.W, router.b = params
    router.trained_examples, router.final_kl = len(x), kl_divergence(y, router.predict_embeddings(x))
    return FitReport(
        examples=len(x),
        epochs=router.head.epochs,
        seconds=time.perf_counter() - started,
        losses=losses,
        final_kl=router.final_kl,
    )


def _adam(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, cfg: HeadConfig) -> list[float]:
    """Full-batch Adam on mean soft-target cross-entropy + L2 on W; updates ``params`` in place."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    moments = [np.zeros_like(p) for p in params]
    velocities = [np.zeros_like(p) for p in params]
    losses: list[float] = []
    for step in range(1, cfg.epochs + 1):
        w, b = params
        probs = softmax(x @ w + b)
        loss = -(y * np.log(np.clip(probs, 1e-12, None))).sum(axis=1).mean() + 0.5 * cfg.l2 * float(
            (w * w).sum()
        )
        losses.append(float(loss))
        delta = (probs - y) / len(x)  # d(mean CE)/d(logits) for softmax with soft targets
        grads = [x.T @ delta + cfg.l2 * w, delta.sum(axis=0)]
        for p, g, m, v in zip(params, grads, moments, velocities, strict=True):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p -= cfg.learning_rate * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
    return losses
