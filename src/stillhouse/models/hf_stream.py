"""Streaming for the transformers backend: ``generate`` on a thread, its tokens decoded as they come.

Each step decodes the whole answer so far (answers are short) rather than token by token, so a
character split over two tokens, or a tokenizer that merges spaces, comes out as ``generate``
writes it; the last undecodable character, and text that may be the start of a stop string, wait
for the next token. A consumer that stops reading stops the generation at its next step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from stillhouse.chat import Completion, GenerationParams, Message
from stillhouse.errors import ModelError
from stillhouse.models.hf import truncate_at_stop

if TYPE_CHECKING:
    from stillhouse.models.hf import TransformersModel

_END = object()


def safe_prefix(text: str, stops: tuple[str, ...]) -> str:
    """The part of an unfinished answer that no later token can change: cut before a stop string
    already written (as the answer will be), else without a trailing replacement character (half a
    UTF-8 sequence) and short of the longest stop string, which a later token may complete."""
    cut, stopped = truncate_at_stop(text, stops)
    if stopped:
        return cut
    text = text.rstrip("\ufffd")
    hold = max((len(s) for s in stops if s), default=1) - 1
    return text[: max(len(text) - hold, 0)]


def stream_transformers(
    model: TransformersModel, messages: list[Message], params: GenerationParams
) -> Iterator[str | Completion]:
    """``model.generate``'s answer as text deltas, then its Completion."""
    tokens: queue.Queue[Any] = queue.Queue()
    cancel = threading.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["completion"] = model.generate_with(messages, params, _streamer(tokens), cancel)
        except BaseException as exc:  # handed to the consumer, which raises it
            result["error"] = exc
        finally:
            tokens.put(_END)

    worker = threading.Thread(target=run, name="hf-stream", daemon=True)
    worker.start()
    decode = model.decode_answer
    new: list[int] = []
    emitted = ""
    try:
        while (item := tokens.get()) is not _END:
            new.extend(item)
            ready = safe_prefix(decode(new), params.stop)
            if len(ready) > len(emitted) and ready.startswith(emitted):
                yield ready[len(emitted) :]
                emitted = ready
    finally:
        cancel.set()  # a consumer gone early: the stopping criterion ends generate at its next step
        worker.join()
    if "error" in result:
        raise result["error"]
    completion: Completion = result["completion"]
    if not completion.text.startswith(emitted):
        raise ModelError(f"model {model.name} streamed text that its answer does not start with")
    if completion.text[len(emitted) :]:
        yield completion.text[len(emitted) :]
    yield completion


def _streamer(tokens: queue.Queue[Any]) -> Any:
    """A transformers streamer putting each step's new token ids on ``tokens`` (the prompt, put
    first, is skipped)."""
    from transformers.generation.streamers import BaseStreamer

    class TokenQueue(BaseStreamer):  # type: ignore[misc]
        def __init__(self) -> None:
            self.prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:
                self.prompt_seen = True
                return
            tokens.put(value.reshape(-1).tolist())

        def end(self) -> None:
            pass

    return TokenQueue()


def cancelled_criterion(cancel: threading.Event) -> Any:
    """A stopping criterion that ends generation once ``cancel`` is set."""
    import torch
    from transformers import StoppingCriteria

    class Cancelled(StoppingCriteria):  # type: ignore[misc]
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            return torch.full(
                (input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device
            )

    return Cancelled()
