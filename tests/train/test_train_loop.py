"""The training loop on a tiny random-weight Llama: golden losses, resume, stop, export, errors."""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

import pytest

from stillhouse.errors import (
    ConflictError,
    DatasetError,
    InvalidInputError,
    JobStoppedError,
    OutputPathError,
)
from stillhouse.train import TrainConfig, TrainResult, run_training

from .router_records import write_router_records

pytestmark = pytest.mark.model

FAST = {"epochCount": "1", "batchSize": "2", "learningRateWarmupSteps": "0", "learningRate": "1e-4"}
# Pinned once from this exact setup (8 router records, seed 42, 2 threads); a change means the data
# rendering, masking, batching, loss or optimizer changed.
GOLDEN = {
    "full": [5.257349, 5.261671, 5.235064, 5.251273],
    "lora": [5.257349, 5.268600, 5.246749, 5.266091],
}


def _config(student: Path, data: Path, out: Path, **overrides: object) -> TrainConfig:
    base: dict[str, object] = dict(
        student=str(student), data=data, out=out, hyperparameters=FAST, progress=False, threads=2
    )
    return TrainConfig(**{**base, **overrides})


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("method", ["full", "lora"])
def test_seeded_four_step_run_matches_golden_losses(
    tiny_student: Path, router_file: Path, tmp_path: Path, method: str
) -> None:
    result = run_training(_config(tiny_student, router_file, tmp_path / "out", method=method))
    losses = [float(r["training_loss"]) for r in _rows(result.metrics_csv)]
    assert result.steps == 4 and len(losses) == 4
    assert losses == pytest.approx(GOLDEN[method], abs=1e-4)
    assert result.final_training_loss == pytest.approx(losses[-1], abs=1e-6)


def _two_epochs(student: Path, data: Path, val: Path, out: Path, **overrides: object) -> TrainConfig:
    hp = {**FAST, "epochCount": "2"}
    # LoRA dropout on, so resuming must also restore the random state to reproduce the losses.
    return _config(
        student,
        data,
        out,
        validation=val,
        hyperparameters=hp,
        checkpoint_every=3,
        lora_dropout=0.1,
        **overrides,
    )


def _stop_after(step: int, action: str = "stop"):
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1  # called once after every step that is not the last
        if calls["n"] < step:
            return False
        if action == "crash":
            raise RuntimeError("simulated crash")
        if action == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
            return False
        return True

    return should_stop


@pytest.fixture(scope="module")
def resume_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("resume-data")
    return write_router_records(folder / "train.jsonl", 8, seed=1), write_router_records(
        folder / "val.jsonl", 3, seed=9
    )


@pytest.fixture(scope="module")
def uninterrupted(
    tiny_student: Path, resume_inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> TrainResult:
    """The reference: 2 epochs x 4 steps with validation, never stopped."""
    train, val = resume_inputs
    return run_training(_two_epochs(tiny_student, train, val, tmp_path_factory.mktemp("straight")))


@pytest.mark.parametrize("how", ["stop", "crash", "sigint"])
def test_stopped_or_crashed_run_resumes_to_the_same_losses(
    tiny_student: Path, resume_inputs: tuple[Path, Path], tmp_path: Path, uninterrupted: TrainResult, how: str
) -> None:
    router_file, val = resume_inputs
    out = tmp_path / "resumed"
    expected = {JobStoppedError: "stop", RuntimeError: "crash", KeyboardInterrupt: "sigint"}
    error = next(k for k, v in expected.items() if v == how)
    # Whatever handler was there is restored (a background shell starts Python with SIGINT ignored).
    handler_before = signal.getsignal(signal.SIGINT)
    with pytest.raises(error):
        run_training(_two_epochs(tiny_student, router_file, val, out), should_stop=_stop_after(5, how))
    saved = sorted(p.name for p in (out / "checkpoints").iterdir())
    # A clean stop checkpoints at the stop; a crash leaves the last periodic checkpoint (step 3).
    assert saved == (["step-000003"] if how == "crash" else ["step-000005"])
    assert signal.getsignal(signal.SIGINT) is handler_before

    resumed = run_training(_two_epochs(tiny_student, router_file, val, out, resume=True))
    assert resumed.resumed_from_step == (3 if how == "crash" else 5)
    straight = _rows(uninterrupted.metrics_csv)
    again = _rows(resumed.metrics_csv)
    assert [r["step_number"] for r in again] == [str(i) for i in range(1, 9)]
    assert [r["epoch_number"] for r in again] == ["1"] * 4 + ["2"] * 4
    for a, b in zip(straight, again, strict=True):
        assert float(a["training_loss"]) == pytest.approx(float(b["training_loss"]), abs=1e-5)
    assert resumed.final_training_loss == pytest.approx(uninterrupted.final_training_loss, abs=1e-5)
    assert resumed.validation_loss == pytest.approx(uninterrupted.validation_loss, abs=1e-5)


def test_validation_metrics_are_written_per_epoch(uninterrupted: TrainResult) -> None:
    assert uninterrupted.validation_csv is not None
    rows = _rows(uninterrupted.validation_csv)
    assert list(rows[0]) == ["step_number", "epoch_number", "validation_loss", "perplexity"]
    assert [(r["step_number"], r["epoch_number"]) for r in rows] == [("4", "1"), ("8", "2")]
    assert list(_rows(uninterrupted.metrics_csv)[0]) == [
        "step_number",
        "epoch_number",
        "training_loss",
        "perplexity",
    ]
    assert uninterrupted.loss_curve.read_bytes()[:4] == b"\x89PNG"


def test_out_dir_with_a_run_needs_resume(tiny_student: Path, router_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run_training(_config(tiny_student, router_file, out))
    with pytest.raises(ConflictError, match="resume"):
        run_training(_config(tiny_student, router_file, out))
    # Resuming a finished run trains nothing more and exports the same model again.
    again = run_training(_config(tiny_student, router_file, out, resume=True))
    assert (again.resumed_from_step, again.steps) == (4, 4)
    assert again.final_training_loss == first.final_training_loss
    changed = {**FAST, "learningRate": "5e-5"}
    with pytest.raises(ConflictError, match="hyperparameters"):
        run_training(_config(tiny_student, router_file, out, hyperparameters=changed, resume=True))


def test_bad_input_fails_before_anything_is_written(
    tiny_student: Path, router_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "never"
    with pytest.raises(InvalidInputError, match="unknown hyperparameter 'epochs'"):
        run_training(_config(tiny_student, router_file, out, hyperparameters={"epochs": "1"}))
    with pytest.raises(DatasetError, match="8 of 8 records are longer than max_length=16"):
        run_training(_config(tiny_student, router_file, out, max_length=16))
    short = {**FAST, "studentReasoningChars": "40"}
    for task in (None, "image-keywords"):  # no student format to shorten: refused, not ignored
        with pytest.raises(InvalidInputError, match="studentReasoningChars") as err:
            run_training(_config(tiny_student, router_file, out, hyperparameters=short, task=task))
        assert err.value.field == "studentReasoningChars"
    assert not out.exists()


def _logits(model_dir: Path, text: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits


def test_exports_load_with_transformers_and_agree(
    tiny_student: Path, router_file: Path, tmp_path: Path
) -> None:
    merged = run_training(_config(tiny_student, router_file, tmp_path / "merged"))
    separate = run_training(_config(tiny_student, router_file, tmp_path / "separate", merge=False))
    assert merged.adapter_dir == merged.model_dir / "adapter"
    assert (merged.adapter_dir / "adapter_config.json").is_file()
    assert not (merged.model_dir / "adapter_config.json").exists()
    assert (separate.model_dir / "adapter_config.json").is_file()
    text = "<|im_start|> user find guitar solo <|im_end|>"
    a, b, base = (
        _logits(merged.model_dir, text),
        _logits(separate.model_dir, text),
        _logits(tiny_student, text),
    )
    assert a.shape == b.shape and (a - b).abs().max() < 1e-4
    assert (a - base).abs().max() > 1e-6  # training changed the weights


def test_full_export_generates(tiny_student: Path, router_file: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = run_training(_config(tiny_student, router_file, tmp_path / "full", method="full"))
    assert result.adapter_dir is None and result.tokens_per_second > 0
    tokenizer = AutoTokenizer.from_pretrained(result.model_dir)
    model = AutoModelForCausalLM.from_pretrained(result.model_dir)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "find guitar solo"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**prompt, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == prompt["input_ids"].shape[1] + 3


def test_training_in_a_task_student_format_rewrites_records_and_writes_the_manifest(
    tiny_student: Path, tmp_path: Path
) -> None:
    import json as json_module

    from stillhouse.models.manifest import read_manifest
    from stillhouse.records.jsonl import write_records
    from stillhouse.tasks.video_router.golden import load_golden

    data = tmp_path / "golden.jsonl"
    write_records(data, load_golden()[:8])
    hp = {**FAST, "epochCount": "1", "batchSize": "8"}
    plain = run_training(_config(tiny_student, data, tmp_path / "plain", hyperparameters=hp))
    student = run_training(
        _config(tiny_student, data, tmp_path / "student", hyperparameters=hp, task="video-router")
    )
    assert read_manifest(plain.model_dir) is None
    manifest = read_manifest(student.model_dir)
    assert manifest is not None and manifest.task == "video-router"
    # The compact prompt is what makes student steps cheap: far fewer tokens for the same records.
    assert student.trained_tokens * 2 < plain.trained_tokens
    assert json_module.loads((student.model_dir / "config.json").read_text())


def test_a_completed_run_keeps_no_checkpoint_unless_asked(
    tiny_student: Path, router_file: Path, tmp_path: Path
) -> None:
    """The final checkpoint (model, optimizer state) was most of the folder; resume needs none of it."""
    result = run_training(_config(tiny_student, router_file, tmp_path / "out", method="full"))
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == ["finished.json"]
    assert (result.model_dir / "config.json").is_file()
    kept = run_training(
        _config(tiny_student, router_file, tmp_path / "kept", method="full", retain_checkpoints=True)
    )
    assert sorted(p.name for p in (kept.out_dir / "checkpoints").iterdir()) == [
        "finished.json",
        "step-000004",
    ]


def test_resuming_a_completed_run_whose_model_is_gone_is_a_conflict(
    tiny_student: Path, router_file: Path, tmp_path: Path
) -> None:
    import shutil

    out = tmp_path / "out"
    shutil.rmtree(run_training(_config(tiny_student, router_file, out)).model_dir)
    with pytest.raises(ConflictError, match="is gone"):
        run_training(_config(tiny_student, router_file, out, resume=True))


def test_an_out_dir_under_a_file_fails_before_the_model_loads(
    tiny_student: Path, router_file: Path, tmp_path: Path, monkeypatch
) -> None:
    from stillhouse.train import student

    monkeypatch.setattr(student, "load_tokenizer", lambda *a: pytest.fail("loaded before the check"))
    monkeypatch.setattr(student, "build_model", lambda *a: pytest.fail("loaded before the check"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="file is a file"):
        run_training(_config(tiny_student, router_file, tmp_path / "file" / "out"))


def test_start_up_says_what_it_is_doing(
    tiny_student: Path, router_file: Path, tmp_path: Path, capsys
) -> None:
    run_training(_config(tiny_student, router_file, tmp_path / "out", progress=True))
    err = capsys.readouterr().err
    for step in ("reading", "tokenizing 8 records", "loading", "training: 4/4 (100%)", "writing the model"):
        assert step in err
