"""SFT against logit distillation on the router, at the same teacher calls, measured.

    OMP_WAIT_POLICY=PASSIVE STILLHOUSE_LLAMA_THREADS=1 \
        python benchmarks/bench_kd.py [--out runs/bench-kd] [--n 8] [--heldout 12] [--parallel] [--only NAME ...]

(On a busy shared CPU: one llama.cpp thread, and OpenMP threads that sleep instead of spinning, as
the training CLI sets them; benchmarks/README.md, "Training on CPU".)

The teacher (Qwen2.5-Coder-1.5B, the demo's configuration: golden shots, steering, JSON schema)
labels the demo's first ``--n`` synthesized training queries; the same answers, rewritten into the
router's student format, are scored by the teacher (teacher-forced, top 20 log-probabilities per
token: ``LabelConfig.distributions_for="student"``). Every run then trains on those same ``--n``
answers, so SFT and KD cost the same teacher calls; KD adds one scoring pass per answer, which the
request cache keeps. The SFT runs train while the teacher scores. Runs (each in a subprocess of
its own, so its peak memory is its own):

- ``qwen05-sft`` / ``qwen05-kd``  Qwen2.5-Coder-0.5B (same tokenizer as the teacher), LoRA r16:
                                  cross-entropy, and generalised JSD (kdBeta 0: forward KL) on the
                                  teacher's top 20 mixed in at kdWeight 0.5
- ``smol-sft`` / ``smol-uld``     SmolLM2-135M (another tokenizer), full fine-tuning: cross-entropy,
                                  and universal logit distillation at kdWeight 0.5

Each student is scored on the first ``--heldout`` hand-labelled dev queries (the demo's held-out
set) against the human labels and against the teacher's own answers there (rubric, dominant
accuracy, weight MAE), with its training time and peak RSS. Stages are resumable: each writes a
JSON under ``--out`` and a rerun skips what is there. With ``STILLHOUSE_HOME`` pointing at a home
whose teacher cache holds the demo's answers, labelling costs no generation at all (scoring still
runs the teacher once per answer). Figures only, nothing is asserted; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

TEACHER_MAX_TOKENS = 128  # the demo's, so its cached answers are this run's
STUDENT_MAX_TOKENS = 96


class Run(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    student: str
    method: str
    hyperparameters: dict[str, str]
    lora_r: int = 16
    lora_alpha: int = 32


_SMOL = {"epochCount": "2", "learningRate": "0.0001", "batchSize": "4", "learningRateWarmupSteps": "0"}
_QWEN = {"epochCount": "1", "learningRate": "0.0001", "batchSize": "4", "learningRateWarmupSteps": "0"}
_KD = {"kdWeight": "0.5", "kdTopK": "20", "kdTemperature": "1"}
RUNS = [
    Run(name="smol-sft", student="smollm2-135m", method="full", hyperparameters=_SMOL),
    Run(
        name="smol-uld",
        student="smollm2-135m",
        method="full",
        hyperparameters=_SMOL | _KD | {"distillationMethod": "uld"},
    ),
    Run(name="qwen05-sft", student="qwen2.5-coder-0.5b", method="lora", hyperparameters=_QWEN),
    Run(
        name="qwen05-kd",
        student="qwen2.5-coder-0.5b",
        method="lora",
        hyperparameters=_QWEN | _KD | {"distillationMethod": "kd", "kdBeta": "0"},
    ),
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def label(out: Path, n: int, heldout_n: int) -> dict:
    """The teacher's scores of its answers to the first ``n`` demo queries, as the student format
    rewrites them (``labelled.jsonl.distributions.jsonl``): what the KD runs distil."""
    from stillhouse.teacher.label import LabelConfig, label_records

    demo, golden, prompts, task = _demo_data(out, n, heldout_n)
    started = time.perf_counter()
    with _teacher(demo, golden, task) as teacher:
        config = LabelConfig(
            max_tokens=TEACHER_MAX_TOKENS, seed=demo.seed, top_logprobs=20, distributions_for="student"
        )
        # [*golden, *prompts] as the demo labels them: the same shots, hence the same cache keys.
        summary = label_records([*golden, *prompts], teacher, config, out_path=out / "labelled.jsonl")
    return {"label": summary.model_dump(), "label_seconds": time.perf_counter() - started}


def _demo_data(out: Path, n: int, heldout_n: int):
    from stillhouse.recipes.video_router import DemoConfig, Layout, prepare_data
    from stillhouse.sources.dataset import read_dataset
    from stillhouse.tasks import get_task

    demo = DemoConfig(out=out / "demo", train_queries=n, router_queries=0, heldout=heldout_n)
    layout = Layout(root=demo.out)
    golden, _ = prepare_data(demo, layout)
    return demo, golden, read_dataset(layout.prompts, "none", "skip")[0], get_task("video-router")


def _teacher(demo, golden, task):
    from stillhouse.teacher.build import build_teacher

    return build_teacher(demo.teacher_config(), golden, task)


def _teacher_only(out: Path, golden_queries: set[str], source: Path | None = None) -> None:
    """``train.jsonl``: the teacher's answers only (the golden pairs labelling passes through are
    left out, so every run trains on exactly what the teacher was asked for)."""
    lines = (source or out / "labelled.jsonl").read_text(encoding="utf-8").splitlines()
    kept = [
        line for line in lines if json.loads(line)["messages"][0]["content"][0]["text"] not in golden_queries
    ]
    (out / "train.jsonl").write_text("\n".join(kept) + "\n", encoding="utf-8")


def train_and_evaluate(run: Run, out: Path, heldout_n: int) -> dict:
    """Train ``run`` on the labelled answers, then score it on the held-out set."""
    from stillhouse.evaluate import default_params, evaluate_models
    from stillhouse.evaluate.run import rescore
    from stillhouse.models import load_model
    from stillhouse.tasks import get_task
    from stillhouse.teacher.distributions import distributions_path
    from stillhouse.train import TrainConfig, run_training

    kd = run.hyperparameters.get("distillationMethod", "sft") != "sft"
    result = run_training(
        TrainConfig(
            student=run.student,
            data=out / "train.jsonl",
            out=out / "runs" / run.name,
            task="video-router",
            method=run.method,  # type: ignore[arg-type]
            hyperparameters=run.hyperparameters,
            lora_r=run.lora_r,
            lora_alpha=run.lora_alpha,
            max_length=384,
            overflow="truncate",
            teacher_distributions=distributions_path(out / "labelled.jsonl") if kd else None,
            resume=(out / "runs" / run.name).is_dir(),
        )
    )
    figures = out / "runs" / f"{run.name}.train.json"
    if result.seconds == 0.0 and figures.is_file():  # trained before: evaluate it again only
        trained = json.loads(figures.read_text())
    else:
        trained = {
            "steps": result.steps,
            "final_training_loss": result.final_training_loss,
            "train_seconds": result.train_seconds,
            "train_cpu_seconds": result.train_cpu_seconds,
            "seconds": result.seconds,
            "peak_rss_mb": peak_rss_mb(),
        }
        figures.write_text(json.dumps(trained), encoding="utf-8")
    task = get_task("video-router")
    heldout = heldout_records(heldout_n)
    models = {run.name: load_model(str(result.model_dir))}
    params = default_params(task, max_tokens=STUDENT_MAX_TOKENS)
    human = evaluate_models(task, heldout, models, params=params, show_progress=True)
    teacher_refs = json.loads((out / "teacher.json").read_text())["teacher_refs"]
    refs = {
        ex.index: teacher_refs[ex.query] for ex in human.models[run.name].examples if ex.query in teacher_refs
    }
    return {
        "run": run.model_dump(),
        **trained,
        "vs_human": human.summary()[run.name],
        "vs_teacher": rescore(task, human, refs).summary()[run.name],
    }


def table(out: Path) -> str:
    """The results so far as a Markdown table."""
    head = (
        "| run | rubric (human) | dominant (human) | MAE (human) | rubric (teacher) | dominant (teacher) "
        "| MAE (teacher) | valid | train s | peak RSS |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [head]
    label = json.loads((out / "teacher.json").read_text()) if (out / "teacher.json").is_file() else None
    if label:
        t = label["teacher_vs_human"]
        rows.append(
            f"| teacher (1.5B) | {t['rubric_mean']:.2f} | {t['dominant_accuracy']:.0%} | "
            f"{t['weight_mae'] or 0:.3f} | – | – | – | {t['validity']:.0%} | – | – |"
        )
    for run in RUNS:
        path = out / f"{run.name}.json"
        if not path.is_file():
            continue
        r = json.loads(path.read_text())
        h, t = r["vs_human"], r["vs_teacher"]
        rows.append(
            f"| {run.name} | {h['rubric_mean']:.2f} | {h['dominant_accuracy']:.0%} | {h['weight_mae'] or 0:.3f} "
            f"| {t['rubric_mean']:.2f} | {t['dominant_accuracy']:.0%} | {t['weight_mae'] or 0:.3f} "
            f"| {h['validity']:.0%} | {r['train_seconds']:.0f} | {r['peak_rss_mb'] / 1024:.1f} GB |"
        )
    return "\n".join(rows)


def answers(out: Path, n: int, heldout_n: int) -> dict:
    """``train.jsonl`` from the teacher's answers alone (no scoring: what the SFT runs need, so they
    train while the teacher scores)."""
    from stillhouse.teacher.label import LabelConfig, label_records

    demo, golden, prompts, task = _demo_data(out, n, heldout_n)
    with _teacher(demo, golden, task) as teacher:
        config = LabelConfig(max_tokens=TEACHER_MAX_TOKENS, seed=demo.seed)
        summary = label_records([*golden, *prompts], teacher, config, out_path=out / "answers.jsonl")
    _teacher_only(out, {r.messages[0].text for r in golden}, source=out / "answers.jsonl")
    return {"label": summary.model_dump()}


def heldout_records(n: int) -> list:
    """``n`` hand-labelled dev queries, taken in turn from each dominant modality (the dev file is
    sorted by modality, so its first queries would all be visual)."""
    from stillhouse.tasks import get_task
    from stillhouse.tasks.video_router.golden import load_dev

    task = get_task("video-router")
    by_class: dict[str, list] = {}
    for record in load_dev():
        by_class.setdefault(task.answer_class(record.answer or "") or "", []).append(record)
    turns = [r for group in zip(*by_class.values(), strict=False) for r in group]
    return turns[:n]


def teacher(out: Path, n: int, heldout_n: int) -> dict:
    """The teacher's answers on the held-out queries: its scores, and the references "against the
    teacher" (the demo evaluated the same requests, so they are cached)."""
    from stillhouse.evaluate import default_params, evaluate_models

    demo, golden, _, task = _demo_data(out, n, heldout_n)
    with _teacher(demo, golden, task) as model:
        params = default_params(task, max_tokens=TEACHER_MAX_TOKENS)
        human = evaluate_models(task, heldout_records(heldout_n), {"teacher": model}, params=params)
    refs = {}
    for example in human.models["teacher"].examples:
        parsed = task.accept(example.prediction, repair=True)
        if parsed.ok and parsed.value is not None:
            refs[example.query] = task.render(parsed.value)
    return {"teacher_vs_human": human.summary()["teacher"], "teacher_refs": refs}


def scored(out: Path) -> bool:
    """Whether every training answer has its scored distributions (the KD runs can start)."""
    from stillhouse.tasks import get_task
    from stillhouse.tasks.student import to_student_answer
    from stillhouse.teacher.distributions import distributions_path

    path = distributions_path(out / "labelled.jsonl")
    if not (out / "train.jsonl").is_file() or not path.is_file():
        return False
    have = {
        json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    }
    task = get_task("video-router")
    for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines():
        answer = json.loads(line)["messages"][-1]["content"][0]["text"]
        if to_student_answer(task, answer) not in have:
            return False
    return True


def stage(args: argparse.Namespace) -> None:
    """One stage in this process: ``answers``, ``label`` or a run's name; writes ``<out>/<stage>.json``."""
    out = args.out
    if args.stage == "answers":
        result = answers(out, args.n, args.heldout)
    elif args.stage == "teacher":
        result = teacher(out, args.n, args.heldout)
    elif args.stage == "label":
        result = label(out, args.n, args.heldout)
    else:
        run = next(r for r in RUNS if r.name == args.stage)
        result = train_and_evaluate(run, out, args.heldout)
    result["peak_rss_mb_stage"] = peak_rss_mb()
    (out / f"{args.stage}.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")


def _command(args: argparse.Namespace, name: str) -> list[str]:
    command = [sys.executable, __file__, "--stage", name, "--out", str(args.out)]
    return command + ["--n", str(args.n), "--heldout", str(args.heldout)]


def _run_stages(args: argparse.Namespace, names: list[str]) -> None:
    """Run the stages not done before, at once with ``--parallel`` (each in its own process)."""
    todo = [name for name in names if not (args.out / f"{name}.json").is_file()]
    started = time.perf_counter()
    for batch in [todo] if args.parallel else [[name] for name in todo]:
        procs = {name: subprocess.Popen(_command(args, name)) for name in batch}
        print(f"== {', '.join(batch)}", flush=True)
        for name, proc in procs.items():
            status = "failed" if proc.wait() != 0 else f"{time.perf_counter() - started:.0f} s"
            print(f"== {name}: {status}\n{table(args.out)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench-kd"))
    parser.add_argument("--n", type=int, default=8, help="training queries the teacher answers")
    parser.add_argument("--heldout", type=int, default=12, help="hand-labelled held-out queries")
    parser.add_argument("--only", nargs="*", default=None, help="runs whose name contains one of these")
    parser.add_argument("--parallel", action="store_true", help="the SFT runs at once, then the KD runs")
    parser.add_argument(
        "--label-elsewhere", action="store_true", help="another process scores the answers into --out"
    )
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stage:
        stage(args)
        return
    runs = [r for r in RUNS if not args.only or any(o in r.name for o in args.only)]
    # The teacher scores (label) while the SFT runs train: those only read the cached answers.
    labelling = None
    if not (args.out / "label.json").is_file() and not args.label_elsewhere:
        print("== label (in the background)", flush=True)
        labelling = subprocess.Popen(_command(args, "label"))
    _run_stages(args, ["answers", "teacher"])
    _run_stages(args, [r.name for r in runs if "distillationMethod" not in r.hyperparameters])
    while not scored(args.out):
        if labelling is not None and labelling.poll() is not None:
            raise SystemExit("labelling ended without scoring every training answer")
        time.sleep(10)
    _run_stages(args, [r.name for r in runs if "distillationMethod" in r.hyperparameters])
    print(f"\nN={args.n} training answers, {args.heldout} held-out queries\n{table(args.out)}")


if __name__ == "__main__":
    main()
