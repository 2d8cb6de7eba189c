"""transformers backend: a local model folder (plus a LoRA adapter when there is one), fp32 on CPU.

Used for students straight out of training (a folder with ``config.json``, or a PEFT adapter folder
whose ``adapter_config.json`` names the base). JSON-schema decoding is not enforced here
(``supports_json_schema = False``): callers validate and retry.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stillhouse.chat import Completion, GenerationParams, Message, StopReason, TokenDistribution
from stillhouse.errors import CorruptModelError, InvalidInputError, MissingDependencyError, NotFoundError
from stillhouse.models.hf_loading import one_load_at_a_time


def truncate_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` cut before the earliest stop sequence, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def adapter_base(adapter_dir: Path) -> str:
    """The base model an adapter folder was trained on (``base_model_name_or_path``)."""
    try:
        config = json.loads((adapter_dir / "adapter_config.json").read_text())
    except (OSError, ValueError) as exc:
        raise CorruptModelError(f"unreadable adapter_config.json in {adapter_dir}: {exc}") from exc
    base = config.get("base_model_name_or_path")
    if not base:
        raise CorruptModelError(f"{adapter_dir}/adapter_config.json does not name its base model")
    return str(base)


def _resolve_base(adapter_dir: Path) -> Path:
    """Folder holding the base weights for an adapter: the folder itself, a path, or a catalog name."""
    if (adapter_dir / "config.json").is_file():
        return adapter_dir
    base = adapter_base(adapter_dir)
    candidate = Path(base).expanduser()
    if not candidate.is_absolute():
        candidate = (adapter_dir / candidate) if (adapter_dir / candidate).is_dir() else candidate
    if (candidate / "config.json").is_file():
        return candidate
    from stillhouse.models.catalog import CATALOG
    from stillhouse.models.registry import resolve

    if base in CATALOG:
        path = resolve(f"hf:{base}").path
        assert path is not None  # a resolved hf model always names its folder
        return path
    raise NotFoundError(f"base model {base!r} of adapter {adapter_dir} is not a local folder or catalog name")


def load_pretrained(path: Path):  # -> (model, tokenizer)
    """Load a model folder (and its LoRA adapter) in fp32 on CPU, in eval mode."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError(
            "the transformers backend needs: pip install 'stillhouse[train]'"
        ) from exc
    if not path.is_dir():
        raise NotFoundError(f"no model folder at {path}", field="model")
    has_adapter = (path / "adapter_config.json").is_file()
    base_dir = _resolve_base(path) if has_adapter else path
    tok_dir = path if (path / "tokenizer_config.json").is_file() else base_dir
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    with one_load_at_a_time():
        model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
        if has_adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(path))
    model.eval()
    return model, tokenizer


def _stop_on_text(tokenizer: Any, prompt_len: int, stops: tuple[str, ...]):  # -> StoppingCriteriaList
    """Stop once the decoded answer contains a stop string.

    Decoding the answer so far works with every tokenizer, unlike ``generate(stop_strings=...)``,
    which needs a vocabulary it can map to plain strings; answers are short, so the cost is small.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopOnText(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            done = [
                any(s in tokenizer.decode(row[prompt_len:], skip_special_tokens=True) for s in stops if s)
                for row in input_ids
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopOnText()])


class TransformersModel:
    """A causal LM run with ``transformers.generate``; one generation at a time."""

    supports_json_schema = False

    def __init__(self, path: str | Path, *, name: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.name = name or self.path.name
        self._lock = threading.Lock()
        self._model, self._tokenizer = load_pretrained(self.path)

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        """Greedy (temperature 0) or sampled generation with the tokenizer's chat template."""
        return self.generate_with(messages, params)

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str | Completion]:
        """The answer ``generate`` writes, as text deltas while it is written (models/hf_stream.py)."""
        from stillhouse.models.hf_stream import stream_transformers

        return stream_transformers(self, messages, params)

    def generate_with(
        self,
        messages: list[Message],
        params: GenerationParams,
        streamer: Any = None,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """:meth:`generate`, handing each new token to ``streamer`` and stopping once ``cancel`` is set."""
        import torch

        inputs = self._encode(messages)
        with self._lock, torch.inference_mode():
            started = time.perf_counter()  # inside the lock: waiting for another call is not latency
            if params.seed is not None:
                torch.manual_seed(params.seed)  # global RNG, hence under the lock
            prompt_len = int(inputs["input_ids"].shape[1])
            kwargs = self._generate_kwargs(params, prompt_len, cancel)
            output = self._model.generate(**inputs, **kwargs, streamer=streamer)
            latency_ms = (time.perf_counter() - started) * 1000
        new_tokens = output[0, prompt_len:].tolist()
        text, reason = self._finish(new_tokens, params)
        return Completion(
            text=text,
            model=self.name,
            input_tokens=prompt_len,
            output_tokens=len(new_tokens),
            latency_ms=latency_ms,
            stop_reason=reason,
        )

    def generate_with_distribution(
        self, messages: list[Message], params: GenerationParams, top_k: int
    ) -> tuple[Completion, TokenDistribution]:
        """:meth:`generate`, and the top ``top_k`` distributions at each token of its answer."""
        completion = self.generate(messages, params)
        return completion, self.score_answer(messages, completion.text, top_k)

    def score_answer(self, messages: list[Message], answer: str, top_k: int) -> TokenDistribution:
        """The top ``top_k`` distributions at each token of ``answer`` as this model's reply to
        ``messages`` (teacher-forced: one forward pass)."""
        from stillhouse.models.hf_distribution import score_answer

        prompt = self._encode(messages)["input_ids"][0].tolist()
        with self._lock:
            return score_answer(self._model, self._tokenizer, prompt, answer, top_k)

    def decode_answer(self, tokens: list[int]) -> str:
        """Answer tokens as text, exactly as :meth:`generate` decodes them."""
        return str(self._tokenizer.decode(tokens, skip_special_tokens=True))

    def _encode(self, messages: list[Message]) -> dict[str, Any]:
        if any(m.images for m in messages):
            raise InvalidInputError(
                f"{self.name} is a text-only model; images are not supported (load a vision model "
                "folder, whose config.json has a vision_config)",
                field="messages",
            )
        chat = [{"role": m.role, "content": m.content} for m in messages]
        if getattr(self._tokenizer, "chat_template", None):
            return dict(
                self._tokenizer.apply_chat_template(
                    chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
                )
            )
        # A base model without a template: plain "role: content" lines and an open assistant turn.
        prompt = "".join(f"{m['role']}: {m['content']}\n" for m in chat) + "assistant:"
        return dict(self._tokenizer(prompt, return_tensors="pt"))

    def _generate_kwargs(
        self, params: GenerationParams, prompt_len: int, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        pad = self._tokenizer.pad_token_id
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "pad_token_id": pad if pad is not None else self._tokenizer.eos_token_id,
        }
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        criteria = _stop_on_text(self._tokenizer, prompt_len, params.stop) if params.stop else None
        if cancel is not None:
            from transformers import StoppingCriteriaList

            from stillhouse.models.hf_stream import cancelled_criterion

            criteria = StoppingCriteriaList([*(criteria or []), cancelled_criterion(cancel)])
        if criteria is not None:
            kwargs["stopping_criteria"] = criteria
        return kwargs

    def _finish(self, new_tokens: list[int], params: GenerationParams) -> tuple[str, StopReason]:
        """Decoded answer and why generation ended."""
        eos = self._model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) | {self._tokenizer.eos_token_id}
        ended = bool(new_tokens) and new_tokens[-1] in eos_ids
        text = self.decode_answer(new_tokens)
        text, stopped = truncate_at_stop(text, params.stop)
        if stopped:
            return text, "stop_sequence"
        if not ended and len(new_tokens) >= params.max_tokens:
            return text, "max_tokens"
        return text, "end_turn"
