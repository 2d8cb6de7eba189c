"""The cut router: the distilled student's first layers, fine-tuned into a weights-only router.

The route head reads the student's route probabilities from a pass over the whole prompt through
every layer; the fast router embeds the query with a separate sentence encoder. This router is the
student itself cut to its first K blocks (:func:`stillhouse.models.gguf_layers.truncate_gguf`) and
fine-tuned end to end (:mod:`stillhouse.router.cut_trainer`) so that its next-token distribution
after the bare query, over four *head tokens*, is the teacher's weights. The head lives in the
GGUF's own vocabulary head: an untied ``output.weight`` whose rows are zero but for those four. So
llama.cpp runs the router as one ordinary prompt evaluation: the query's tokens through K blocks,
then the vocabulary projection of the last position alone. (An encoder needs llama.cpp's embedding
mode, which projects every position onto the vocabulary; benchmarks/README.md has the figures.)

This module is the folder format and the inference; :class:`CutRouterModel` answers the router
JSON with a templated reasoning, as the fast router does without a reasoner.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from stillhouse.chat import ChatModel, Completion, GenerationParams, Message, last_user_text
from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.models.gguf_export import WeightType
from stillhouse.models.registry import CUT_ROUTER_CONFIG
from stillhouse.router.fast_router import answer_text, row_weights, softmax, templated_reasoning
from stillhouse.tasks.video_router.prompt import MODALITIES

CONFIG_FILE = CUT_ROUTER_CONFIG  # the registry recognises a cut router's folder by this file
GGUF_FILE = "router.gguf"
MAX_TOKENS = 256  # a query is cut here, in training and at inference alike


class CutTraining(BaseModel):
    """How a cut router is made: how many of the student's blocks it keeps, and the fine-tune
    (AdamW on the soft-target cross-entropy to the teacher's weights; the token embeddings stay
    frozen). Saved with the router, so a loaded one says how it was trained."""

    model_config = ConfigDict(extra="forbid")

    layers: int = Field(default=4, ge=1, le=1024)
    epochs: int = Field(default=4, ge=1, le=1000)
    batch_size: int = Field(default=16, ge=1, le=4096)
    learning_rate: float = Field(default=1e-4, gt=0.0, le=1.0)  # the blocks and the final norm
    head_learning_rate: float = Field(default=1e-2, gt=0.0, le=10.0)  # the four head rows
    seed: int = 0
    weight_type: WeightType = "q8_0"
    # Read after the query (special tokens allowed): the position the head reads is then the same
    # token for every query, the turn end and assistant start the student answers after (ChatML,
    # as SmolLM2 and Qwen write it), rather than whatever word the query happens to end with.
    suffix: str = "<|im_end|>\n<|im_start|>assistant\n"


class CutRouterConfig(BaseModel):
    """``cut_router.json``: what the folder's ``router.gguf`` is and where its head lies."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = 1
    student: str  # the published student the blocks came from
    modalities: list[str]
    head_tokens: list[int]  # the vocabulary rows holding the head, in ``modalities`` order
    training: CutTraining
    trained_examples: int = 0
    final_kl: float | None = None


def query_tokens(llm: Any, query: str, suffix: str) -> list[int]:
    """The tokens the router reads for ``query`` (llama.cpp's own tokenizer, as the GGUF says to add
    a BOS or not; the query's own text never makes a special token) and then ``suffix``, the query
    cut so that both fit in :data:`MAX_TOKENS`; the trainer reads the same."""
    if not query.strip():
        raise InvalidInputError("there is no query to route", field="messages")
    tail = llm.tokenize(suffix.encode("utf-8"), add_bos=False, special=True) if suffix else []
    tokens = llm.tokenize(query.encode("utf-8"), add_bos=True, special=False)[: MAX_TOKENS - len(tail)]
    return [int(t) for t in [*tokens, *tail]]


class CutRouter:
    """A loaded cut router: :meth:`predict` gives the four weights of each query."""

    def __init__(self, llm: Any, config: CutRouterConfig) -> None:
        if config.modalities != list(MODALITIES) or len(set(config.head_tokens)) != len(MODALITIES):
            raise InvalidInputError(
                f"a cut router needs one distinct head token per modality ({', '.join(MODALITIES)})",
                field="head_tokens",
            )
        self._llm = llm
        self.config = config
        self._head = np.asarray(config.head_tokens)
        self._lock = threading.Lock()  # one llama.cpp context: one query at a time

    @classmethod
    def load(cls, directory: str | Path, *, n_threads: int | None = None) -> CutRouter:
        from stillhouse.models.llamacpp_load import default_threads, load_llama

        folder = Path(directory).expanduser()
        if not (folder / CONFIG_FILE).is_file() or not (folder / GGUF_FILE).is_file():
            raise NotFoundError(f"{folder} holds no cut router ({CONFIG_FILE} + {GGUF_FILE})", field="path")
        config = CutRouterConfig.model_validate_json((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        llm = load_llama(folder / GGUF_FILE, n_ctx=MAX_TOKENS, n_threads=n_threads or default_threads())
        return cls(llm, config)

    def head_logits(self, query: str) -> np.ndarray:
        """The four head logits after ``query`` (the last position's, the only one projected)."""
        import llama_cpp

        llm = self._llm
        tokens = query_tokens(llm, query, self.config.training.suffix)
        with self._lock:
            llm.reset()  # eval() drops the cache beyond n_tokens, so nothing stale is read
            llm.eval(tokens)
            logits = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)
            )
            return logits[self._head].astype(np.float64)

    def predict(self, queries: Sequence[str]) -> np.ndarray:
        """Weights for each query, shape ``(len(queries), 4)`` in :data:`MODALITIES` order."""
        if isinstance(queries, str):
            raise InvalidInputError("pass a list of queries, not one string", field="queries")
        logits = [self.head_logits(query) for query in queries]
        return softmax(np.vstack(logits)) if logits else np.zeros((0, len(MODALITIES)))


class CutRouterModel(ChatModel):
    """The cut router behind the ``ChatModel`` interface, answering the router JSON (weights from
    the head, a templated reasoning; no tokens are generated, so the token counts are 0)."""

    supports_json_schema = True

    def __init__(self, router: CutRouter, *, name: str = "cut-router") -> None:
        self.router = router
        self.name = name

    @classmethod
    def load(cls, directory: str | Path, *, name: str | None = None) -> CutRouterModel:
        folder = Path(directory).expanduser()
        return cls(CutRouter.load(folder), name=name or f"cut-router:{folder.name}")

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        started = time.perf_counter()
        query = last_user_text(messages)
        if query is None:
            raise InvalidInputError("the conversation has no user turn to route", field="messages")
        weights = row_weights(self.router.predict([query])[0])
        layers = self.router.config.training.layers
        reasoning = templated_reasoning(weights, f"the student's first {layers} layers, fine-tuned")
        return Completion(
            text=answer_text(weights, reasoning),
            model=self.name,
            input_tokens=0,
            output_tokens=0,
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )
