"""Shared builders for the job tests: requests, fake stages, a tiny student, a counting teacher."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.tiny_llama import chatml_tokenizer, save_tiny_llama

from stillhouse.jobs.pipeline import JobContext

SCHEMA = "bedrock-conversation-2024"


def job_request(name: str = "job-1", **overrides: Any) -> dict[str, Any]:
    """A valid DISTILLATION request body, as boto3 would send it."""
    body: dict[str, Any] = {
        "jobName": name,
        "customModelName": f"{name}-model",
        "roleArn": "arn:aws:iam::1:role/x",
        "baseModelIdentifier": "smollm2-135m",
        "customizationType": "DISTILLATION",
        "trainingDataConfig": {"s3Uri": "s3://data/train.jsonl"},
        "outputDataConfig": {"s3Uri": "s3://out/"},
        "hyperParameters": {"epochCount": "1"},
        "customizationConfig": {
            "distillationConfig": {
                "teacherModelConfig": {
                    "teacherModelIdentifier": "teacher",
                    "maxResponseLengthForInference": 64,
                }
            }
        },
    }
    body.update(overrides)
    return body


class FakeStages:
    """Stages that only record their calls; ``fail_in``/``stop_in`` script a failure or a stop."""

    def __init__(self, model_dir: Path, *, fail_in: str | None = None, hold_in: str | None = None) -> None:
        self.model_dir, self.fail_in, self.hold_in = model_dir, fail_in, hold_in
        self.calls: list[str] = []

    def _step(self, name: str, ctx: JobContext) -> None:
        self.calls.append(name)
        if name == self.fail_in:
            from stillhouse.errors import DatasetError

            raise DatasetError("only 3 valid records; at least 100 needed", field="dataset")
        if name == self.hold_in:  # wait at a safe point until told to stop
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                ctx.check_stop()
                time.sleep(0.02)

    def validate(self, ctx: JobContext) -> None:
        self._step("validate", ctx)
        ctx.progress.training_file = "train.jsonl"

    def process_data(self, ctx: JobContext) -> None:
        self._step("process_data", ctx)
        ctx.progress.labelled_file = "labelled.jsonl"

    def train(self, ctx: JobContext) -> None:
        self._step("train", ctx)
        self.model_dir.mkdir(parents=True, exist_ok=True)
        ctx.progress.model_dir, ctx.progress.training_loss = str(self.model_dir), 0.5

    def publish(self, ctx: JobContext) -> None:
        self._step("publish", ctx)


def prompt_line(text: str, answer: str | None = None, system: str | None = None) -> str:
    messages = [{"role": "user", "content": [{"text": text}]}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"text": answer}]})
    record: dict[str, Any] = {"schemaVersion": SCHEMA, "messages": messages}
    if system is not None:
        record["system"] = [{"text": system}]
    return json.dumps(record)


WORDS = ["red", "car", "dog", "sunset", "music", "speech", "news", "goal", "rain", "city", "night", "cat"]


def router_prompts(n: int) -> list[str]:
    """``n`` distinct short queries built from a small vocabulary (the tiny tokenizer knows them)."""
    return [f"{WORDS[i % 12]} {WORDS[(i // 12) % 12]} {WORDS[(i // 144) % 12]} {i}" for i in range(n)]


def teacher_answer(prompt: str) -> str:
    return "visual" if "red" in prompt else "audio"


def build_tiny_student(folder: Path) -> Path:
    """A 2-layer random-weight Llama with a word-level tokenizer over :data:`WORDS` (seconds to build)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    core = Tokenizer(models.WordLevel(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    texts = [*WORDS, "visual audio system user assistant", *[str(i) for i in range(200)]]
    core.train_from_iterator(
        texts, trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"])
    )
    tokenizer = chatml_tokenizer(core)
    return save_tiny_llama(folder, tokenizer)
