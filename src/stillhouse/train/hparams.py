"""Training hyperparameters under Bedrock's names: strings in, validated, typed values out (pure).

Bedrock's ``CreateModelCustomizationJob`` takes ``hyperParameters`` as a map of strings. We accept the
same keys and ranges, parse each value, and refuse anything else with an error that names the key and
the allowed range, before a single tensor is allocated.

Defaults suit a 2-core CPU: ``batchSize`` 4 keeps a SmolLM2-135M LoRA step short enough for progress
to show every few seconds (benchmarks/bench_train.py; benchmarks/README.md). ``learningRate``
defaults to 1e-5 for full fine-tuning (Bedrock's default) and to 1e-4 for LoRA, the usual LoRA
learning rate (LoRA trains a few fresh low-rank matrices that need larger steps) and also the top of
Bedrock's allowed range.

``distillationMethod`` (ours, not Bedrock's: Bedrock only fine-tunes on the teacher's answers) is
``sft`` (that), ``kd`` (the teacher's stored top-k distributions, same tokenizer) or ``uld``
(cross-tokenizer); ``kdWeight``, ``kdTemperature``, ``kdTopK`` and ``kdBeta`` shape the
distillation term (:mod:`stillhouse.train.kd`).

``studentReasoningChars`` (ours too: Bedrock has no student format) shortens the free text of a
task's student-format answers (the router's reasoning) to at most that many characters before
training, so the student writes short reasoning and answers faster
(:class:`stillhouse.models.manifest.StudentFormat`; recorded in the published ``stillhouse.json``).
Unset, the answers keep the teacher's reasoning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from stillhouse.errors import InvalidInputError
from stillhouse.models.manifest import REASONING_CHARS_MAX, REASONING_CHARS_MIN, StudentFormat

Method = Literal["lora", "full"]
DistillationMethod = Literal["sft", "kd", "uld"]
DISTILLATION_METHODS: tuple[str, ...] = ("sft", "kd", "uld")


@dataclass(frozen=True)
class _Spec:
    """One hyperparameter: its type, inclusive range and default per method."""

    kind: type
    low: float
    high: float
    default_full: float
    default_lora: float


_SPECS: dict[str, _Spec] = {
    "epochCount": _Spec(int, 1, 5, 2, 2),
    "learningRate": _Spec(float, 1e-6, 1e-4, 1e-5, 1e-4),
    "learningRateWarmupSteps": _Spec(int, 0, 100, 10, 10),
    "batchSize": _Spec(int, 1, 64, 4, 4),
    "kdWeight": _Spec(float, 0, 1, 0.5, 0.5),
    "kdTemperature": _Spec(float, 0.1, 10, 1, 1),
    # 20 is the most a teacher stores (OpenAI's top_logprobs limit, our labelling default).
    "kdTopK": _Spec(int, 1, 20, 20, 20),
    "kdBeta": _Spec(float, 0, 1, 0, 0),
}
# Keys whose value is one of a few words rather than a number.
_CHOICES: dict[str, tuple[str, ...]] = {"distillationMethod": DISTILLATION_METHODS}
# Keys with no default: unset, the run does without them (the defaults are ignored).
_OPTIONAL: dict[str, _Spec] = {
    "studentReasoningChars": _Spec(int, REASONING_CHARS_MIN, REASONING_CHARS_MAX, 0, 0),
}
KD_KEYS = ("distillationMethod", "kdWeight", "kdTemperature", "kdTopK", "kdBeta")


class Hyperparameters(BaseModel):
    """The validated hyperparameters a run uses (also written into checkpoints and results)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochCount: int
    learningRate: float
    learningRateWarmupSteps: int
    batchSize: int
    distillationMethod: DistillationMethod = "sft"
    kdWeight: float = 0.5
    kdTemperature: float = 1.0
    kdTopK: int = 20
    kdBeta: float = 0.0
    studentReasoningChars: int | None = None

    def recorded(self) -> dict[str, int | float | str]:
        """What checkpoints and results record: an SFT run leaves out the distillation keys, and a
        run with the teacher's reasoning the reasoning cap, so its fingerprint (and a checkpoint
        written before they existed) stays what it was."""
        exclude = set(KD_KEYS) if self.distillationMethod == "sft" else set()
        if self.studentReasoningChars is None:
            exclude.add("studentReasoningChars")
        return self.model_dump(exclude=exclude or None)

    def student_format(self) -> StudentFormat:
        """How the run writes its task's student-format answers."""
        return StudentFormat(reasoning_chars=self.studentReasoningChars)


def allowed_keys() -> list[str]:
    """The hyperparameter names accepted, in documentation order."""
    return [*_SPECS, *_CHOICES, *_OPTIONAL]


def _range_text(spec: _Spec) -> str:
    if spec.kind is int:
        return f"an integer from {int(spec.low)} to {int(spec.high)}"
    return f"a number from {spec.low:g} to {spec.high:g}"


def _parse_one(key: str, raw: str, spec: _Spec) -> int | float:
    """Parse one value; integers must be written as integers ("2", not "2.5")."""
    text = str(raw).strip()
    try:
        value: int | float = int(text) if spec.kind is int else float(text)
    except ValueError:
        raise InvalidInputError(f"{raw!r} is not valid; expected {_range_text(spec)}", field=key) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"{raw!r} is not valid; expected {_range_text(spec)}", field=key)
    if not spec.low <= value <= spec.high:
        raise InvalidInputError(f"{raw!r} is out of range; expected {_range_text(spec)}", field=key)
    return value


def parse_hyperparameters(raw: dict[str, str] | None, method: Method = "lora") -> Hyperparameters:
    """Validate Bedrock-style string hyperparameters; missing keys take the defaults for ``method``.

    Raises :class:`InvalidInputError` naming an unknown key (with the allowed ones) or a bad value
    (with the allowed range).
    """
    raw = raw or {}
    unknown = sorted(set(raw) - set(allowed_keys()))
    if unknown:
        raise InvalidInputError(
            f"unknown hyperparameter {unknown[0]!r}; allowed: {', '.join(allowed_keys())}", field=unknown[0]
        )
    values: dict[str, int | float | str] = {}
    for key, choices in _CHOICES.items():
        if key in raw:
            text = str(raw[key]).strip()
            if text not in choices:
                raise InvalidInputError(
                    f"{raw[key]!r} is not valid; expected one of {', '.join(choices)}", field=key
                )
            values[key] = text
    for key, spec in _SPECS.items():
        if key in raw:
            values[key] = _parse_one(key, raw[key], spec)
        else:
            default = spec.default_lora if method == "lora" else spec.default_full
            values[key] = spec.kind(default)
    for key, spec in _OPTIONAL.items():
        if key in raw:
            values[key] = _parse_one(key, raw[key], spec)
    _check_combination(values)
    return Hyperparameters(**values)  # type: ignore[arg-type]


def _check_combination(values: dict[str, int | float | str]) -> None:
    """Refuse keys that each parse but cannot train together."""
    method = values.get("distillationMethod", "sft")
    if "studentReasoningChars" in values and method != "sft":
        # The teacher's distributions are of the answers as the task's student format writes them
        # in full (a job has the teacher score those); shortened answers would match none of them.
        raise InvalidInputError(
            f"studentReasoningChars trains on shortened answers, which distillationMethod={method} "
            "has no teacher distributions of; use sft",
            field="studentReasoningChars",
        )


def with_student_format(raw: dict[str, str], fmt: StudentFormat) -> dict[str, str]:
    """``raw`` hyperparameters that train in ``fmt`` (a recipe's typed setting, as a job's
    ``hyperParameters`` would say it)."""
    if fmt.reasoning_chars is None:
        return dict(raw)
    return {**raw, "studentReasoningChars": str(fmt.reasoning_chars)}


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["epochCount=2", "batchSize=8"]`` (the CLI's repeated ``--hp``) as a dict of strings."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"{pair!r} is not KEY=VALUE", field="hp")
        out[key.strip()] = value.strip()
    return out


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate multiplier: linear warmup to 1 over ``warmup_steps``, then linear decay to 0.

    ``step`` counts optimizer steps already taken (0 for the first). Warmup is clipped to the run's
    length so that a short run still reaches the full learning rate at its last warmup step.
    """
    warmup = min(warmup_steps, max(total_steps - 1, 0))
    if warmup and step < warmup:
        return (step + 1) / (warmup + 1)
    remaining = total_steps - warmup
    if remaining <= 0:
        return 1.0
    return max(0.0, (total_steps - step) / remaining)
