"""llama.cpp backend (llama-cpp-python): a local GGUF behind :class:`~stillhouse.chat.ChatModel`.

The model's own chat template (from the GGUF metadata) renders the conversation; ``json_schema``
becomes a grammar, so the answer is valid JSON by construction. llama.cpp keeps the KV cache of the
previous prompt and re-evaluates only what differs, so a teacher that sends the same long system
prompt on every call pays for it once (see ``benchmarks/bench_backends.py``).
"""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from stillhouse.chat import (
    Completion,
    GenerationParams,
    Message,
    StopReason,
    TokenDistribution,
    collect_stream,
)
from stillhouse.errors import InvalidInputError, ModelError
from stillhouse.models.draft import PromptLookup
from stillhouse.models.llamacpp_load import default_threads, load_llama
from stillhouse.models.llamacpp_skeleton import SkeletonDecoder, SkeletonResult
from stillhouse.models.skeleton import Skeleton, compile_skeleton, key_slot


class _SampleCounter:
    """A no-op logits processor that counts sampling steps.

    llama-cpp-python reports ``finish_reason="stop"`` both for end-of-turn and for a stop sequence.
    An end-of-turn token is sampled but not kept, a stop sequence's last token is kept, so comparing
    sampling steps with completion tokens tells the two apart.
    """

    def __init__(self) -> None:
        self.steps = 0
        self.prompt_tokens = 0  # the context at the first step is the whole prompt

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.steps == 0:
            self.prompt_tokens = len(input_ids)
        self.steps += 1
        return scores


def to_llama_messages(messages: list[Message]) -> list[dict[str, str]]:
    """Domain messages → llama-cpp-python chat messages; images are refused (no offline VLM)."""
    if any(m.images for m in messages):
        raise InvalidInputError(
            "this GGUF is a text-only model; images are not supported (a llama.cpp model reads "
            "images with its vision projector: llamacpp:MODEL.gguf?mmproj=MMPROJ.gguf, or an "
            "mmproj GGUF beside a model folder's model.gguf)",
            field="messages",
        )
    return [{"role": m.role, "content": m.content} for m in messages]


def stop_reason(finish_reason: str | None, completion_tokens: int, steps: int | None) -> StopReason:
    """Map llama.cpp's finish reason (and the sample count when stop sequences were set)."""
    if finish_reason == "length":
        return "max_tokens"
    if steps is not None and steps == completion_tokens:
        return "stop_sequence"
    return "end_turn"


class LlamaCppModel:
    """A GGUF model run by llama.cpp. One generation at a time (llama.cpp contexts are not thread-safe)."""

    supports_json_schema = True

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        prefix_cache_bytes: int = 0,
        skeleton: bool = True,
        draft: PromptLookup | None = None,
    ) -> None:
        """Load ``path``. ``prefix_cache_bytes`` > 0 adds a RAM cache of saved KV states (helps when
        several different prompts alternate; the built-in reuse of the last prompt needs no cache).
        ``skeleton`` decodes greedy requests under a flat object schema with
        :mod:`~stillhouse.models.llamacpp_skeleton` (same constraint, fewer forward passes), and
        ``draft`` has it verify prompt-lookup guesses in batches (:mod:`~stillhouse.models.draft`)."""
        self.path = Path(path)
        self.name = name or self.path.stem
        self._lock = threading.Lock()
        self._llm = load_llama(self.path, n_ctx=n_ctx, n_threads=n_threads or default_threads())
        if prefix_cache_bytes > 0:
            from llama_cpp import LlamaRAMCache

            self._llm.set_cache(LlamaRAMCache(capacity_bytes=prefix_cache_bytes))
        self._skeletons = SkeletonDecoder(self._llm, draft=draft) if skeleton else None
        self._formatter: Any = None  # the GGUF's chat template, compiled on first skeleton decode

    @property
    def n_ctx(self) -> int:
        """Context window in tokens."""
        return int(self._llm.n_ctx())

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes in this model's vocabulary."""
        with self._lock:
            return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        """Answer the conversation with the GGUF's chat template, constrained to ``params.json_schema``."""
        skeleton = self._skeleton_for(params)
        if skeleton is not None:
            return self._generate_skeleton(messages, params, skeleton)
        return self._complete(messages, params, _SampleCounter() if params.stop else None)[0]

    def generate_with_distribution(
        self, messages: list[Message], params: GenerationParams, top_k: int
    ) -> tuple[Completion, TokenDistribution]:
        """:meth:`generate` (never by skeleton: its forced tokens have no sampled distribution) and
        the top ``top_k`` log-probabilities at each token of the answer."""
        from stillhouse.models.llamacpp_distribution import TopKRecorder, to_distribution

        recorder = TopKRecorder(top_k)
        return self._complete(
            messages, params, recorder, lambda c: to_distribution(self._llm, recorder, c.text)
        )

    def score_answer(self, messages: list[Message], answer: str, top_k: int) -> TokenDistribution:
        """The top ``top_k`` log-probabilities at each token of ``answer`` as this model's reply to
        ``messages`` (teacher-forced: one pass, no decoding)."""
        from stillhouse.models.llamacpp_distribution import score_answer

        with self._lock:
            prompt = self._prompt_tokens(to_llama_messages(messages))
            try:
                states = self._skeletons.states if self._skeletons is not None else None
                return score_answer(self._llm, prompt, answer, top_k, states)
            except ValueError as exc:  # too long for the context
                raise InvalidInputError(str(exc), field="messages") from exc
            except RuntimeError as exc:
                raise ModelError(f"llama.cpp failed: {exc}") from exc

    def option_logprobs(self, messages: list[Message], schema: dict[str, Any]) -> dict[str, float]:
        """The log-probability of each option of ``schema``'s first property, an enum, as the
        answer's first choice (:meth:`SkeletonDecoder.option_logprobs`): one forward pass, no
        decoding."""
        skeleton = compile_skeleton(schema)
        if self._skeletons is None or skeleton is None:
            raise InvalidInputError(
                "option scores need skeleton decoding of a flat schema", field="json_schema"
            )
        with self._lock:
            prompt = self._prompt_tokens(to_llama_messages(messages))
            try:
                return self._skeletons.option_logprobs(prompt, skeleton)
            except RuntimeError as exc:
                raise ModelError(f"llama.cpp failed: {exc}") from exc

    def decode_until(
        self, messages: list[Message], params: GenerationParams, key: str
    ) -> tuple[Completion, dict[str, float]]:
        """:meth:`generate` under ``params.json_schema`` (flat, its first value an enum) stopped once
        ``key``'s value is written: the answer's keys up to ``key`` as a JSON object, and each of the
        first value's options' log-probability, read from the pass that chose it
        (:meth:`SkeletonDecoder.decode`)."""
        skeleton = self._skeleton_for(params)
        if skeleton is None:
            raise InvalidInputError(
                "decoding until a key needs skeleton decoding of a flat schema", field="json_schema"
            )
        assert self._skeletons is not None  # a skeleton is only compiled for a skeleton decoder
        slot = key_slot(skeleton, params.json_schema or {}, key)
        with self._lock:
            started = time.perf_counter()
            prompt = self._prompt_tokens(to_llama_messages(messages))
            try:
                result = self._skeletons.decode(prompt, skeleton, params.max_tokens, stop_after=slot)
            except RuntimeError as exc:
                raise ModelError(f"llama.cpp failed: {exc}") from exc
            latency_ms = (time.perf_counter() - started) * 1000
        if result.first_choice is None:
            raise InvalidInputError(
                "the schema's first value is not an enum forced in one batch", field="json_schema"
            )
        return self._skeleton_completion(result.text, result, latency_ms), result.first_choice

    def _complete(
        self,
        messages: list[Message],
        params: GenerationParams,
        counter: Any,
        after: Callable[[Completion], Any] | None = None,
    ) -> tuple[Completion, Any]:
        """One ``create_chat_completion`` with ``counter`` as its logits processor; ``after`` reads
        the context under the same lock."""
        kwargs = self._request(messages, params)
        if counter is not None:
            from llama_cpp import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([counter])
        with self._lock:
            started = time.perf_counter()  # inside the lock: waiting for another call is not latency
            try:
                response = self._llm.create_chat_completion(**kwargs)
            except ValueError as exc:  # llama-cpp-python's way of saying "prompt too long" and similar
                raise InvalidInputError(str(exc), field="messages") from exc
            except RuntimeError as exc:
                raise ModelError(f"llama.cpp failed: {exc}") from exc
            latency_ms = (time.perf_counter() - started) * 1000
            choice = response["choices"][0]
            usage = response.get("usage") or {}
            output_tokens = int(usage.get("completion_tokens", 0))
            completion = Completion(
                text=choice["message"].get("content") or "",
                model=self.name,
                input_tokens=int(usage.get("prompt_tokens", 0)),
                output_tokens=output_tokens,
                latency_ms=latency_ms,
                stop_reason=stop_reason(
                    choice.get("finish_reason"), output_tokens, counter.steps if params.stop else None
                ),
            )
            return completion, after(completion) if after is not None else None

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str | Completion]:
        """Text deltas as llama.cpp writes them (grammar-constrained under ``json_schema``), or as
        the skeleton decoder decides them.

        A request with stop strings comes as one delta: llama.cpp's stream does not say whether
        "stop" was a stop string or end of turn, and the sample count that tells them apart needs
        the completion's token count, which only the whole answer gives.
        """
        skeleton = self._skeleton_for(params)
        if skeleton is not None:
            yield from self._stream_skeleton(messages, params, skeleton)
            return
        if params.stop:
            completion = self.generate(messages, params)
            yield from ([completion.text] if completion.text else [])
            yield completion
            return
        from llama_cpp import LogitsProcessorList

        counter = _SampleCounter()
        kwargs = {**self._request(messages, params), "stream": True}
        kwargs["logits_processor"] = LogitsProcessorList([counter])
        parts: list[str] = []
        finish: str | None = None
        with self._lock:
            started = time.perf_counter()
            chunks = self._llm.create_chat_completion(**kwargs)
            try:
                for chunk in _translated(chunks):
                    choice = chunk["choices"][0]
                    if text := choice["delta"].get("content"):
                        parts.append(text)
                        yield text
                    finish = choice.get("finish_reason") or finish
            finally:
                chunks.close()  # an abandoned stream stops generating here
            latency_ms = (time.perf_counter() - started) * 1000
        # An end-of-turn token is sampled but not kept; a token that hits max_tokens is kept.
        output_tokens = counter.steps if finish == "length" else max(counter.steps - 1, 0)
        yield Completion(
            text="".join(parts),
            model=self.name,
            input_tokens=counter.prompt_tokens,
            output_tokens=output_tokens,
            latency_ms=latency_ms,
            stop_reason="max_tokens" if finish == "length" else "end_turn",
        )

    def _skeleton_for(self, params: GenerationParams) -> Skeleton | None:
        """The request's skeleton when skeleton decoding applies: greedy, no stop strings, a flat
        object schema, and a chat template in the GGUF to render the prompt with."""
        if self._skeletons is None or params.temperature > 0 or params.stop or params.json_schema is None:
            return None
        if "tokenizer.chat_template" not in self._llm.metadata:
            return None
        return compile_skeleton(params.json_schema)

    def _generate_skeleton(
        self, messages: list[Message], params: GenerationParams, skeleton: Skeleton
    ) -> Completion:
        return collect_stream(self._stream_skeleton(messages, params, skeleton))

    def _stream_skeleton(
        self, messages: list[Message], params: GenerationParams, skeleton: Skeleton
    ) -> Iterator[str | Completion]:
        assert self._skeletons is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a token may split a char
        parts: list[str] = []
        with self._lock:
            started = time.perf_counter()
            prompt = self._prompt_tokens(to_llama_messages(messages))
            steps = self._skeletons.decode_steps(prompt, skeleton, params.max_tokens)
            try:
                while True:
                    if text := decoder.decode(next(steps)):
                        parts.append(text)
                        yield text
            except StopIteration as stop:
                result = stop.value
            except RuntimeError as exc:
                raise ModelError(f"llama.cpp failed: {exc}") from exc
            finally:
                steps.close()
            latency_ms = (time.perf_counter() - started) * 1000
        if tail := decoder.decode(b"", final=True):
            parts.append(tail)
            yield tail
        yield self._skeleton_completion("".join(parts), result, latency_ms)

    def _skeleton_completion(self, text: str, result: SkeletonResult, latency_ms: float) -> Completion:
        """The completion of a skeleton decode whose answer is ``text``."""
        return Completion(
            text=text,
            model=self.name,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            latency_ms=latency_ms,
            stop_reason="max_tokens" if result.truncated else "end_turn",
        )

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """The conversation rendered by the GGUF's chat template and tokenized, as llama-cpp-python's
        own chat handler does it."""
        llm = self._llm
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._formatter = Jinja2ChatFormatter(
                template=llm.metadata["tokenizer.chat_template"],
                eos_token=_token_text(llm, llm.token_eos()),
                bos_token=_token_text(llm, llm.token_bos()),
            )
        rendered = self._formatter(messages=messages)
        return llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)

    def _request(self, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        """Keyword arguments for ``create_chat_completion``."""
        kwargs: dict[str, Any] = {
            "messages": to_llama_messages(messages),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stop": list(params.stop),
            "seed": params.seed,
        }
        if params.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": params.json_schema}
        return kwargs


def _translated(chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """llama.cpp's stream chunks, its failures raised as the same errors ``generate`` raises."""
    try:
        yield from chunks
    except ValueError as exc:  # "prompt too long" and similar
        raise InvalidInputError(str(exc), field="messages") from exc
    except RuntimeError as exc:
        raise ModelError(f"llama.cpp failed: {exc}") from exc


def _token_text(llm: Any, token: int) -> str:
    return llm.detokenize([token], special=True).decode("utf-8", errors="replace") if token != -1 else ""
