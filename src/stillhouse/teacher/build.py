"""The one place the teacher is configured and assembled: :class:`TeacherConfig` + :func:`build_teacher`.

Labelling, evaluation, the CLI, jobs and the benchmarks all call :func:`build_teacher`, so they get
the same teacher (model, golden shots, steering, anchors, request cache) with the same defaults.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.chat import ChatModel
from stillhouse.models.embeddings import Embedder
from stillhouse.models.lazy import Loaded, lazy_model
from stillhouse.records.schema import ConversationRecord
from stillhouse.teacher.cache import RequestCache
from stillhouse.teacher.fewshot import FewShotTeacher
from stillhouse.teacher.golden import ShotSteering, task_steering

if TYPE_CHECKING:
    import numpy as np

    from stillhouse.tasks.base import Task


class TeacherConfig(BaseModel):
    """How the teacher answers. The defaults are the measured best for the video router (README and
    benchmarks/bench_teacher_steering.py, bench_label_defaults.py): 4 golden shots taken from the
    query's predicted class, all 4 that class's fixed anchors, so queries of a class share the prompt
    prefix and llama.cpp restores its evaluated state instead of paying for the shots again.

    Anchors are a kind of steering: without steering (``steer`` off, a task with no steering pool,
    or no embedder) the teacher simply gets no anchors (:meth:`anchors_with`), not an error.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = "qwen2.5-coder-1.5b"  # a model spec, as ``stillhouse.models.load_model`` reads it
    shots: int = Field(default=4, ge=0, le=16)
    anchored: int = Field(default=4, ge=0, le=16)
    steer: bool = True
    # Similarity retrieval: minilm, hashing[:DIM] or a model folder; None shows the first shots to all.
    embedder: str | None = "minilm"
    # The request cache: a SQLite file, "default" (STILLHOUSE_HOME/cache/teacher.sqlite) or "off"
    # (every request really answered: latency benchmarks).
    cache: Path | Literal["default", "off"] = "default"
    # Load the model on its first request instead of now: on a remote executor that is in each
    # worker (one load per actor), and a run answered wholly from the cache never loads it.
    lazy: bool = False

    def anchors_with(self, steering: ShotSteering | None) -> int:
        """The anchored shots the teacher gets: none without steering (the class to anchor)."""
        return self.anchored if steering is not None else 0


def build_teacher(
    config: TeacherConfig,
    golden: Sequence[ConversationRecord],
    task: Task | None,
    *,
    model: ChatModel | None = None,
    embedder: Embedder | None = None,
) -> FewShotTeacher:
    """The few-shot teacher labelling and evaluation share.

    ``model`` is an already-loaded chat model (a fake in tests, a lazy one in jobs) instead of
    loading ``config.model``; ``embedder`` likewise replaces loading ``config.embedder``. The
    embedder is loaded (and the task's steering pool embedded) on the first retrieval, so a run with
    no golden example or no prompt left to label never pays for it. The caller closes the teacher
    (its request cache) when done.
    """
    if model is None and config.lazy:
        model = lazy_model(config.model)
    elif model is None:
        from stillhouse.models import load_model

        model = load_model(config.model)
    if embedder is None and config.embedder and config.shots:
        embedder = _LazyEmbedder(config.embedder)
    steering = task_steering(task) if config.steer and embedder is not None else None
    return FewShotTeacher(
        model,
        golden,
        k=config.shots,
        embedder=embedder,
        cache=_open_cache(config.cache),
        steering=steering,
        anchored=config.anchors_with(steering),
        task=task,
    )


def _open_cache(cache: Path | str) -> RequestCache | None:
    if cache == "off":
        return None
    return RequestCache(None if cache == "default" else cache)


class _LazyEmbedder:
    """``load_embedder(spec)`` on the first ``embed`` call, once however many threads make it (an
    executor's threads share the teacher)."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._embedder: Loaded[Embedder] = Loaded(functools.partial(_load_embedder, spec))

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._embedder.get().embed(texts)


def _load_embedder(spec: str) -> Embedder:
    from stillhouse.models.embeddings import load_embedder

    return load_embedder(spec)
