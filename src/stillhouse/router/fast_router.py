"""The fast router: a frozen sentence encoder plus a tiny softmax head distilled from the teacher.

An LLM router (teacher or distilled student) spends hundreds of milliseconds to seconds per query on
a CPU. Most of that buys the reasoning sentence; the four weights are a smooth function of what the
query is about. So this router embeds the query with a small encoder (all-MiniLM-L6-v2 by default,
384-d, frozen) and maps the embedding to four logits with one linear layer; a softmax turns them into
weights that sum to 1.0. This module is the model and its inference (embed, predict, save, load);
:mod:`stillhouse.router.trainer` fits the head to the teacher's weight distributions.

Only the head is ever trained; the encoder stays frozen. :class:`FastRouterModel` wraps the router as
a ``ChatModel`` answering the router JSON. Honest limits: its weights come from the head, and its
reasoning is either taken from an optional generative ``reasoner`` model the caller supplies (which
costs that model's full latency) or, by default, a templated sentence naming the dominant modality:
it explains nothing the head did.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from stillhouse.chat import ChatModel, Completion, GenerationParams, Message, last_user_text
from stillhouse.errors import InvalidInputError, ModelNotReadyError, NotFoundError, StillhouseError
from stillhouse.models.registry import FAST_ROUTER_CONFIG
from stillhouse.progress import progress_bar
from stillhouse.tasks.video_router.prompt import MODALITIES
from stillhouse.tasks.video_router.weights import round_hundredths

CONFIG_FILE = FAST_ROUTER_CONFIG  # the registry recognises a fast router's folder by this file
HEAD_FILE = "head.npz"
_EMBED_BATCH = 64

if TYPE_CHECKING:
    from stillhouse.models.embeddings import Embedder


class HeadConfig(BaseModel):
    """Training settings of the softmax head (full-batch Adam on soft-target cross-entropy).

    Saved with the head in ``fast_router.json``, so a loaded router says how it was trained.
    """

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(default=300, ge=1, le=100_000)
    learning_rate: float = Field(default=0.05, gt=0.0, le=10.0)
    l2: float = Field(default=1e-3, ge=0.0)  # 125 golden examples in 384 dims overfit without it
    seed: int = 0


class FastRouterConfig(BaseModel):
    """``fast_router.json``: everything needed to rebuild the router beside ``head.npz``."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = 1
    embedder: str
    dim: int
    modalities: list[str]
    head: HeadConfig
    trained_examples: int = 0
    final_kl: float | None = None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so large logits cannot overflow."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class FastRouter:
    """Frozen encoder + linear softmax head over the four modalities (see the module docstring).

    Untrained until :func:`stillhouse.router.trainer.fit` sets ``W`` and ``b``, or :meth:`load` reads them.
    """

    def __init__(self, embedder: Embedder, *, embedder_name: str, head: HeadConfig | None = None) -> None:
        """``embedder_name`` is the ``load_embedder`` spec that rebuilds ``embedder`` when loading."""
        self.embedder = embedder
        self.embedder_name = embedder_name
        self.head = head or HeadConfig()
        self.W: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.trained_examples = 0
        self.final_kl: float | None = None

    @classmethod
    def from_spec(cls, spec: str = "minilm", *, head: HeadConfig | None = None) -> FastRouter:
        """An untrained router on the encoder ``load_embedder(spec)`` gives (``minilm``, ``hashing:DIM``)."""
        from stillhouse.models.embeddings import load_embedder

        return cls(load_embedder(spec), embedder_name=spec, head=head)

    @property
    def is_trained(self) -> bool:
        return self.W is not None and self.b is not None

    def embed(self, queries: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Embeddings of ``queries`` in batches (a bar when asked: training embeds thousands of queries,
        long enough to want one)."""
        if isinstance(queries, str):
            raise InvalidInputError("pass a list of queries, not one string", field="queries")
        if not show_progress:  # the per-query path: no progress machinery in the latency budget
            return self._embed_batches(queries, lambda n: None)
        with progress_bar("embed queries", total=len(queries)) as (bar, task):
            return self._embed_batches(queries, lambda n: bar.update(task, advance=n))

    def _embed_batches(self, queries: Sequence[str], advance: Callable[[int], None]) -> np.ndarray:
        rows: list[np.ndarray] = []
        for start in range(0, len(queries), _EMBED_BATCH):
            batch = list(queries[start : start + _EMBED_BATCH])
            rows.append(np.asarray(self.embedder.embed(batch), dtype=np.float64))
            advance(len(batch))
        return np.vstack(rows) if rows else np.zeros((0, self.W.shape[0] if self.W is not None else 0))

    def predict_embeddings(self, features: np.ndarray) -> np.ndarray:
        """Weights (rows summing to 1) for precomputed embeddings."""
        if not self.is_trained:
            raise ModelNotReadyError(
                "the fast router's head is not trained; fit it (stillhouse.router.trainer) or load() one"
            )
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.W.shape[0]:
            raise InvalidInputError(
                f"embeddings of shape {x.shape} do not fit a head trained on {self.W.shape[0]}-d inputs "
                f"(was it trained with embedder {self.embedder_name!r}?)",
                field="embedder",
            )
        return softmax(x @ self.W + self.b)

    def predict(self, queries: Sequence[str]) -> np.ndarray:
        """Weights for each query, shape ``(len(queries), 4)`` in :data:`MODALITIES` order, rows sum to 1."""
        return self.predict_embeddings(self.embed(queries))

    def save(self, directory: str | Path) -> Path:
        """Write ``head.npz`` (W, b) and ``fast_router.json``; returns the folder."""
        if not self.is_trained:
            raise ModelNotReadyError("nothing to save: the head is not trained")
        out = Path(directory).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        np.savez(out / HEAD_FILE, W=self.W, b=self.b)
        config = FastRouterConfig(
            embedder=self.embedder_name,
            dim=int(self.W.shape[0]),
            modalities=list(MODALITIES),
            head=self.head,
            trained_examples=self.trained_examples,
            final_kl=self.final_kl,
        )
        (out / CONFIG_FILE).write_text(config.model_dump_json(indent=2), encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | Path, *, embedder: Embedder | None = None) -> FastRouter:
        """A saved router; its encoder comes from ``load_embedder(config.embedder)`` unless given."""
        folder = Path(directory).expanduser()
        if not (folder / CONFIG_FILE).is_file() or not (folder / HEAD_FILE).is_file():
            raise NotFoundError(f"{folder} holds no fast router ({CONFIG_FILE} + {HEAD_FILE})", field="path")
        config = FastRouterConfig.model_validate_json((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        if config.modalities != list(MODALITIES):
            raise InvalidInputError(
                f"router was trained on modalities {config.modalities}", field="modalities"
            )
        if embedder is None:
            from stillhouse.models.embeddings import load_embedder

            embedder = load_embedder(config.embedder)
        router = cls(embedder, embedder_name=config.embedder, head=config.head)
        with np.load(folder / HEAD_FILE, allow_pickle=False) as arrays:
            router.W, router.b = arrays["W"], arrays["b"]
        router.trained_examples, router.final_kl = config.trained_examples, config.final_kl
        return router


def templated_reasoning(weights: dict[str, float], source: str = "a distilled embedding classifier") -> str:
    """One sentence naming the two heaviest modalities, and saying it is not a generated explanation
    (the weights came from ``source``)."""
    first, second = sorted(MODALITIES, key=lambda m: -weights[m])[:2]
    return (
        f"Weighted toward {first} ({weights[first]:.2f}), then {second} ({weights[second]:.2f}); "
        f"weights from {source}, not a generated explanation."
    )


def row_weights(row: np.ndarray) -> dict[str, float]:
    """A predicted row (in :data:`MODALITIES` order) as the answer's weights, rounded to hundredths
    that still sum to 1.0."""
    return round_hundredths({m: float(w) for m, w in zip(MODALITIES, row, strict=True)})


def answer_text(weights: dict[str, float], reasoning: str) -> str:
    """The router JSON a weights-only router answers with."""
    return json.dumps({**weights, "reasoning": reasoning}, ensure_ascii=False, separators=(", ", ": "))


class FastRouterModel(ChatModel):
    """The fast router behind the ``ChatModel`` interface, answering the router JSON.

    Weights always come from the head. Reasoning comes from ``reasoner`` (a generative student the
    caller passes in, asked the same messages; only its reasoning is kept) when one is given, else from
    :func:`templated_reasoning`. Token counts are the reasoner's; without one they are 0, since no
    tokens are generated. ``params`` only matter to the reasoner; the answer always meets the schema.
    """

    supports_json_schema = True

    def __init__(
        self, router: FastRouter, *, name: str = "fast-router", reasoner: ChatModel | None = None
    ) -> None:
        self.router = router
        self.name = name
        self.reasoner = reasoner

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        embedder: Embedder | None = None,
        reasoner: ChatModel | None = None,
        name: str | None = None,
    ) -> FastRouterModel:
        folder = Path(directory).expanduser()
        router = FastRouter.load(folder, embedder=embedder)
        return cls(router, name=name or f"fast-router:{folder.name}", reasoner=reasoner)

    @property
    def encoder(self) -> tuple[str, str, int]:
        """The identity of the query encoder (see :func:`embedder_identity`): a search index built
        with the same encoder reuses the vector :meth:`generate_embedded` returns."""
        from stillhouse.models.embeddings import embedder_identity

        return embedder_identity(self.router.embedder_name, self.router.embedder)

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        return self.generate_embedded(messages, params)[0]

    def generate_embedded(
        self, messages: list[Message], params: GenerationParams
    ) -> tuple[Completion, np.ndarray]:
        """:meth:`generate`, also returning the query's embedding (float32), so a search embeds it once."""
        started = time.perf_counter()
        query = last_user_text(messages)
        if query is None:
            raise InvalidInputError("the conversation has no user turn to route", field="messages")
        vector = self.router.embed([query])
        row = self.router.predict_embeddings(vector)[0]
        weights = row_weights(row)
        reasoning, tokens = templated_reasoning(weights), (0, 0)
        if self.reasoner is not None:
            reasoning, tokens = self._reasoning(messages, params, fallback=reasoning)
        completion = Completion(
            text=answer_text(weights, reasoning),
            model=self.name,
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )
        return completion, vector[0].astype(np.float32)

    def _reasoning(
        self, messages: list[Message], params: GenerationParams, *, fallback: str
    ) -> tuple[str, tuple[int, int]]:
        from stillhouse.tasks.video_router.parse import parse_answer

        try:
            completion = self.reasoner.generate(messages, params)
        except StillhouseError:
            return fallback, (0, 0)  # the weights stand alone; a reasoner failure must not lose them
        parsed = parse_answer(completion.text, normalize=True)
        reasoning = str((parsed.value or {}).get("reasoning") or "").strip()
        return (reasoning or fallback), (completion.input_tokens, completion.output_tokens)
