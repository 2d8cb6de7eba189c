"""Training the real packaged SmolLM2-135M for a few steps on router records (CPU, well under 2 min)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from stillhouse.train import TrainConfig, run_training

from .router_records import write_router_records

pytestmark = pytest.mark.integration


def test_smollm2_lora_trains_and_exports_a_loadable_model(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = write_router_records(tmp_path / "router.jsonl", 200, seed=3)
    config = TrainConfig(
        student="smollm2-135m",
        data=data,
        out=tmp_path / "out",
        max_length=128,
        max_steps=4,
        hyperparameters={"batchSize": "4"},
        progress=False,
    )
    result = run_training(config)

    with open(result.metrics_csv, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["step_number", "epoch_number", "training_loss", "perplexity"]
    assert [r[:2] for r in rows[1:]] == [["1", "1"], ["2", "1"], ["3", "1"], ["4", "1"]]
    assert all(0.0 < float(r[2]) < 10.0 for r in rows[1:])
    assert (result.model_dir / "adapter" / "adapter_config.json").is_file()

    tokenizer = AutoTokenizer.from_pretrained(result.model_dir)
    model = AutoModelForCausalLM.from_pretrained(result.model_dir)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "guitar solo with heavy distortion"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert tokenizer.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def test_importing_the_training_package_loads_no_heavy_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, stillhouse.train, stillhouse.cli.train; "
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'matplotlib') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_ctrl_c_on_the_cli_checkpoints_and_resume_finishes(tiny_student: Path, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    data = write_router_records(tmp_path / "router.jsonl", 100, seed=2)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "stillhouse",
        "train",
        "--student",
        str(tiny_student),
        "--data",
        str(data),
        "--out",
        str(out),
        "--hp",
        "batchSize=1",
        "--hp",
        "epochCount=5",
        "--method",
        "full",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    csv_file = out / "training_artifacts" / "step_wise_training_metrics.csv"
    deadline = time.monotonic() + 60
    while not csv_file.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    saved = [p.name for p in (out / "checkpoints").iterdir()]
    assert len(saved) == 1 and saved[0].startswith("step-")
    stopped_at = int(saved[0].split("-")[1])
    assert 0 < stopped_at < 500

    done = subprocess.run(
        [*command, "--resume", "--json"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert '"steps": 500' in done.stdout and f'"resumed_from_step": {stopped_at}' in done.stdout
