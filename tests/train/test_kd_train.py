"""Four seeded KD steps of the tiny student on a tiny teacher's stored distributions: pinned, resumable."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from stillhouse.errors import DatasetError, InvalidInputError, JobStoppedError
from stillhouse.records.schema import ConversationRecord
from stillhouse.teacher.distributions import distributions_path
from stillhouse.train import TrainConfig, run_training
from stillhouse.train.data import record_chat

from .router_records import write_router_records

pytestmark = pytest.mark.model

FAST = {"epochCount": "1", "batchSize": "2", "learningRateWarmupSteps": "0", "learningRate": "1e-4"}
KD = {**FAST, "distillationMethod": "kd", "kdWeight": "0.5", "kdTopK": "4"}
# Pinned once from this setup (8 router records, seed 42, 2 threads, a seed-1 teacher's top 5,
# sharpened); a change means the teacher scoring, alignment, collation or the loss changed.
GOLDEN = {
    "kd": [2.801831, 2.805378, 2.784015, 2.793477],
    "uld": [2.941034, 2.948698, 2.927806, 2.937744],
}


def write_teacher_distributions(student: Path, data: Path, top_k: int = 5) -> Path:
    """A tiny teacher (the student's architecture, other seed) scores each record's answer."""
    from tests.tiny_llama import save_tiny_llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stillhouse.models.hf_distribution import score_answer

    tokenizer = AutoTokenizer.from_pretrained(student)
    folder = data.parent / "teacher"
    teacher = AutoModelForCausalLM.from_pretrained(
        save_tiny_llama(folder, tokenizer, max_positions=256, seed=1)
    )
    # A random model is nearly uniform; a sharper teacher makes the distillation term count.
    teacher.lm_head.weight.data *= 30
    out = distributions_path(data)
    with open(out, "w", encoding="utf-8") as handle:
        for line in data.read_text().splitlines():
            record = ConversationRecord.model_validate_json(line)
            chat = record_chat(record)[:-1]
            prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            handle.write(
                score_answer(teacher, tokenizer, ids, record.answer or "", top_k).model_dump_json() + "\n"
            )
    return out


@pytest.fixture(scope="module")
def kd_inputs(tmp_path_factory: pytest.TempPathFactory, tiny_student: Path) -> tuple[Path, Path]:
    data = write_router_records(tmp_path_factory.mktemp("kd") / "train.jsonl", 8, seed=1)
    return data, write_teacher_distributions(tiny_student, data)


def _config(student: Path, inputs: tuple[Path, Path], out: Path, **overrides: object) -> TrainConfig:
    data, dists = inputs
    base: dict[str, object] = dict(
        student=str(student),
        data=data,
        out=out,
        teacher_distributions=dists,
        hyperparameters=KD,
        progress=False,
        threads=2,
        method="full",
    )
    return TrainConfig(**{**base, **overrides})


def _losses(path: Path) -> list[float]:
    with open(path, newline="") as handle:
        return [float(row["training_loss"]) for row in csv.DictReader(handle)]


@pytest.mark.parametrize("method", ["kd", "uld"])
def test_four_kd_steps_match_golden_losses_and_resume_exactly(
    tiny_student: Path, kd_inputs: tuple[Path, Path], tmp_path: Path, method: str
) -> None:
    hp = {**KD, "distillationMethod": method}
    straight = run_training(_config(tiny_student, kd_inputs, tmp_path / "straight", hyperparameters=hp))
    losses = _losses(straight.metrics_csv)
    assert straight.steps == 4 and straight.hyperparameters["distillationMethod"] == method
    assert losses == pytest.approx(GOLDEN[method], abs=1e-4)

    out, calls = tmp_path / "resumed", iter(range(100))
    with pytest.raises(JobStoppedError):
        run_training(
            _config(tiny_student, kd_inputs, out, hyperparameters=hp),
            should_stop=lambda: next(calls) >= 1,  # stop after step 2
        )
    resumed = run_training(_config(tiny_student, kd_inputs, out, hyperparameters=hp, resume=True))
    assert resumed.resumed_from_step == 2
    assert _losses(resumed.metrics_csv) == pytest.approx(losses, abs=1e-6)


def test_kd_differs_from_sft_on_the_same_steps(
    tiny_student: Path, kd_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    sft = run_training(_config(tiny_student, kd_inputs, tmp_path / "sft", hyperparameters=FAST))
    kd = run_training(_config(tiny_student, kd_inputs, tmp_path / "kd"))
    assert _losses(sft.metrics_csv)[0] != pytest.approx(_losses(kd.metrics_csv)[0], abs=1e-3)


def test_kd_without_distributions_is_refused_before_training(
    tiny_student: Path, kd_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError) as err:
        run_training(_config(tiny_student, kd_inputs, tmp_path / "out", teacher_distributions=None))
    assert err.value.field == "teacher_distributions"
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_kd_on_answers_the_teacher_did_not_write_is_refused(
    tiny_student: Path, kd_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    other = write_router_records(tmp_path / "other.jsonl", 8, seed=7)  # other answers
    data, dists = kd_inputs
    with pytest.raises(DatasetError) as err:
        run_training(_config(tiny_student, (other, dists), tmp_path / "out"))
    assert err.value.field == "teacher_distributions"
