"""The main job: distil the video search router end to end on offline defaults.

Stages (each one is a library call the CLI also exposes; this module only chains them):

1. data      synthesize prompt-only queries; take the hand-labelled golden examples and held-out set
2. label     the teacher answers the synthesized queries, guided by golden examples retrieved from
             each query's likely modality (a vote over intent-labelled synthesized queries)
3. verify    drop teacher answers whose dominant modality contradicts the query's design intent
             (the synthesizer knows which intent each template was written for)
4. train     the generative student on golden pairs + verified teacher answers, in the task's student
             format (compact prompt; the dominant modality, then reasoning, then weights); export it
             to GGUF
5. router    the fast router (MiniLM + softmax head) on the same labels, plus more synthesized queries
             weakly labelled by their design intent (the labels' mean weights for that intent)
6. evaluate  teacher, base student, distilled student and fast router on the held-out set, scored
             against the human labels and against the teacher's own answers
7. report    results.json, report.html (with loss curve and weight distribution), a printed table
8. search    the search demo's video clips ingested and its queries routed by the fast router just
             trained, the generative student routing one of them (``recipes/search_demo.py``)

Every stage is resumable: the teacher cache and the append-only label file mean a rerun pays for no
teacher answer twice, and finished stages are skipped when their outputs exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.models.manifest import StudentFormat
from stillhouse.progress import StageTimer
from stillhouse.records.jsonl import write_records
from stillhouse.records.schema import ConversationRecord
from stillhouse.sources.dataset import read_dataset
from stillhouse.teacher.build import TeacherConfig
from stillhouse.train.hparams import Method

_TEACHER = TeacherConfig()  # the teacher's defaults live there once


class DemoConfig(BaseModel):
    """Sizes and models of the main job. Its wall time and scores are in README.md ("The main job");
    ``train_queries`` and ``heldout`` scale the teacher's share of it, which is most of it."""

    model_config = ConfigDict(extra="forbid")

    out: Path = Path("runs/demo")
    teacher: str = _TEACHER.model
    student: str = "smollm2-135m"
    embedder: str = _TEACHER.embedder or "minilm"
    # The fast router's encoder: the same all-MiniLM-L6-v2 run by llama.cpp, which answers one query
    # faster than torch with the same embeddings (benchmarks/bench_router_latency.py --embedder).
    router_embedder: str = "minilm-gguf"
    train_queries: int = Field(default=120, ge=0, le=15000)
    # Synthesized queries the fast router also learns from, weakly labelled by design intent: they
    # cost no teacher call, and 2,000 is where more stopped lifting its held-out dominant accuracy
    # (benchmarks/bench_fast_router.py; figures in benchmarks/README.md).
    router_queries: int = Field(default=2000, ge=0, le=50000)
    # Drops answers that contradict the query's design intent: the unsteered teacher writes such
    # answers, the steered one (whose shots are voted from the same synthesizer's intents) seldom,
    # so the check is cheap insurance (benchmarks/README.md).
    verify: bool = True
    steer: bool = _TEACHER.steer  # see TeacherConfig for why the teacher's defaults are these
    heldout: int = Field(default=100, ge=1)
    shots: int = Field(default=_TEACHER.shots, ge=0, le=16)
    anchored: int = Field(default=_TEACHER.anchored, ge=0, le=16)
    samples: int = Field(default=1, ge=1, le=9)
    teacher_max_tokens: int = Field(default=128, ge=16)
    student_max_tokens: int = Field(default=96, ge=16)
    # Full fine-tuning at Bedrock's largest learning rate: on a few hundred examples a rank-8 LoRA
    # learnt a constant answer, and a fifth epoch at a smaller batch overfitted without scoring
    # better (benchmarks/bench_student.py; figures in benchmarks/README.md).
    method: Method = "full"
    hyperparameters: dict[str, str] = Field(
        default_factory=lambda: {"epochCount": "4", "learningRate": "0.0001", "batchSize": "8"}
    )
    student_weights: str = "q8_0"
    # How the student's training answers are written: unset, with the teacher's reasoning;
    # ``reasoning_chars`` shortens it so the student answers faster (benchmarks/bench_short_reasoning.py).
    student_format: StudentFormat = StudentFormat()
    # Stop the student's training after this many steps (a smoke run; the schedule is planned for it).
    student_steps: int | None = Field(default=None, ge=1)
    # The last stage shows the distilled routers doing their job. Its index is the search demo's
    # shared one under STILLHOUSE_HOME (resumable), so a rerun, or an earlier `stillhouse search
    # demo`, leaves it only the queries to run.
    search: bool = True
    seed: int = 0
    progress: bool = True

    def teacher_config(self) -> TeacherConfig:
        """The teacher labelling and evaluation share (default request cache)."""
        return TeacherConfig(
            model=self.teacher,
            shots=self.shots,
            anchored=self.anchored,
            steer=self.steer,
            embedder=self.embedder,
        )


def recorded_config(root: Path, **update: Any) -> DemoConfig:
    """The config a finished demo run in ``root`` wrote to its ``summary.json`` (defaults where it
    has none, or no summary), with ``update`` applied: what a benchmark on that run reruns."""
    summary = root / "summary.json"
    recorded = json.loads(summary.read_text(encoding="utf-8"))["config"] if summary.is_file() else {}
    known = {k: v for k, v in recorded.items() if k in DemoConfig.model_fields}
    return DemoConfig(**{**known, "out": root, **update})


class Layout(BaseModel):
    """Where the main job writes everything under ``out``."""

    model_config = ConfigDict(extra="forbid")

    root: Path

    @property
    def prompts(self) -> Path:
        return self.root / "data" / "prompts.jsonl"

    @property
    def train(self) -> Path:
        return self.root / "data" / "train.jsonl"

    @property
    def intents(self) -> Path:
        return self.root / "data" / "intents.jsonl"

    @property
    def verified(self) -> Path:
        return self.root / "data" / "train-verified.jsonl"

    @property
    def rejected(self) -> Path:
        return self.root / "data" / "rejected.jsonl"

    @property
    def heldout(self) -> Path:
        return self.root / "data" / "heldout.jsonl"

    @property
    def heldout_teacher(self) -> Path:
        return self.root / "data" / "heldout-teacher.jsonl"

    @property
    def student_run(self) -> Path:
        return self.root / "train" / "student"

    @property
    def student(self) -> Path:
        return self.root / "models" / "student"

    @property
    def fast_router(self) -> Path:
        return self.root / "models" / "fast-router"

    @property
    def search(self) -> Path:
        """The made clips and the search stage's ``results.json``."""
        return self.root / "search"


def prepare_data(
    config: DemoConfig, layout: Layout
) -> tuple[list[ConversationRecord], list[ConversationRecord]]:
    """Write synthesized prompts (and every synthesized query's design intent) and the held-out set.

    The first ``train_queries`` synthesized queries go to the teacher; the next ``router_queries``
    only to the fast router, weakly labelled. Returns (golden, held-out) records.
    """
    from stillhouse.router.intents import write_intents
    from stillhouse.tasks.video_router.golden import load_dev, load_golden
    from stillhouse.tasks.video_router.synth import SynthConfig, normalise_text, synthesize, to_records

    golden, dev = load_golden(), load_dev()
    heldout = dev[: config.heldout]
    # Filtered here rather than through synthesize(exclude=...) so the first queries, and with them the
    # teacher cache, do not depend on the golden and dev sets.
    reserved = {normalise_text(r.messages[0].text) for r in [*golden, *dev]}
    wanted = config.train_queries + config.router_queries
    queries = synthesize(SynthConfig(n=wanted + len(reserved), seed=config.seed))
    fresh = [q for q in queries if normalise_text(q.text) not in reserved][:wanted]
    write_records(layout.prompts, to_records(fresh[: config.train_queries]))
    write_intents(layout.intents, fresh)
    write_records(layout.heldout, heldout)
    return golden, heldout


def label_training_set(
    config: DemoConfig, layout: Layout, teacher: Any, golden: list[ConversationRecord]
) -> Any:
    """Teacher answers for the synthesized prompts; golden pairs pass through as training pairs."""
    from stillhouse.teacher.label import LabelConfig, label_records

    prompts = read_dataset(layout.prompts, "none", "skip")[0]
    run = LabelConfig(
        samples=config.samples,
        max_tokens=config.teacher_max_tokens,
        progress=config.progress,
        seed=config.seed,
    )
    # The golden pairs are also the teacher's own golden examples, so labelling retrieves from each
    # of them twice (as before build_teacher; deduplicating would change every label's cache key).
    return label_records([*golden, *prompts], teacher, run, out_path=layout.train)


def verify_training_set(config: DemoConfig, layout: Layout) -> dict[str, int]:
    """``train-verified.jsonl``: the labelled pairs whose answer agrees with the query's design intent.

    The dropped answers go to ``rejected.jsonl`` (query, intent, the teacher's dominant, its answer).
    With ``verify`` off every pair is kept.
    """
    from stillhouse.router.intents import verify_label_file

    intents = layout.intents if config.verify else None
    return verify_label_file(layout.train, intents, layout.verified, layout.rejected).counts()


def train_student(config: DemoConfig, layout: Layout) -> Any:
    """The generative student in the router's student format, resumed from a checkpoint on a rerun."""
    from stillhouse.train import TrainConfig, run_training
    from stillhouse.train.hparams import with_student_format

    resume = (layout.student_run / "checkpoints").is_dir()
    return run_training(
        TrainConfig(
            student=config.student,
            data=layout.verified,
            out=layout.student_run,
            task="video-router",
            hyperparameters=with_student_format(config.hyperparameters, config.student_format),
            method=config.method,
            seed=config.seed,
            overflow="truncate",
            max_length=512,
            max_steps=config.student_steps,
            resume=resume,
            progress=config.progress,
        )
    )


def publish_demo_student(config: DemoConfig, layout: Layout) -> Path:
    """The trained student published where the demo serves it from (``model.gguf`` from the base's GGUF)."""
    from stillhouse.train.export import MODEL_DIR
    from stillhouse.train.publish import PublishConfig, publish_student

    publish = PublishConfig(base=config.student, weight_type=config.student_weights)  # type: ignore[arg-type]
    return publish_student(layout.student_run / MODEL_DIR, layout.student, publish)


def router_training_set(config: DemoConfig, layout: Layout, *, golden: bool = False) -> tuple[list[str], Any]:
    """What a weights-only router learns from: the verified teacher labels plus the next
    ``router_queries`` synthesized queries, weakly labelled by design intent, and with ``golden``
    the hand-labelled golden examples too (queries, weight rows)."""
    import numpy as np

    from stillhouse.router.intents import intent_prior, read_intents, weak_targets
    from stillhouse.router.trainer import teacher_targets, training_pairs
    from stillhouse.tasks.video_router.golden import load_golden

    queries, weights, _skipped = training_pairs(read_dataset(layout.verified, "none", "skip")[0])
    targets = teacher_targets(weights)
    extra = read_intents(layout.intents)[config.train_queries :][: config.router_queries]
    weak_queries, weak_rows = weak_targets(extra, intent_prior(targets))
    human, human_weights, _ = training_pairs(load_golden() if golden else [])
    return [*queries, *weak_queries, *human], np.vstack([targets, weak_rows, teacher_targets(human_weights)])


def train_fast_router(
    config: DemoConfig, layout: Layout, out: Path | None = None, *, golden: bool = False
) -> Any:
    """The embedding router on :func:`router_training_set`, saved to ``out`` (default: the
    layout's fast router)."""
    from stillhouse.router.fast_router import FastRouter
    from stillhouse.router.trainer import fit

    router = FastRouter.from_spec(config.router_embedder)
    report = fit(router, *router_training_set(config, layout, golden=golden), show_progress=config.progress)
    router.save(out or layout.fast_router)
    return report


def candidate_models(config: DemoConfig, layout: Layout, teacher: Any) -> dict[str, Any]:
    """The four models compared: the teacher as it labels, the base and distilled students, the router."""
    from stillhouse.models import load_model

    return {
        "teacher": teacher,
        "base-student": load_model(config.student),
        "distilled-student": load_model(str(layout.student)),
        "fast-router": load_model(str(layout.fast_router)),  # with the encoder it was trained on
    }


def evaluate_all(
    config: DemoConfig, layout: Layout, models: dict[str, Any], heldout: list[ConversationRecord]
) -> tuple[Any, Any]:
    """Held-out results against the human labels, and the same answers against the teacher's."""
    from stillhouse.evaluate import default_params, evaluate_models, load_prices
    from stillhouse.evaluate.run import rescore
    from stillhouse.tasks import get_task
    from stillhouse.tasks.video_router.golden import labelled_record

    task = get_task("video-router")
    params = default_params(task, max_tokens=max(config.teacher_max_tokens, config.student_max_tokens))
    human = evaluate_models(
        task, heldout, models, prices=load_prices(), params=params, warmup=1, show_progress=config.progress
    )
    # The teacher's answers accepted as labelling accepts them (weights renormalised where needed).
    teacher_refs: dict[int, str] = {}
    for example in human.models["teacher"].examples:
        parsed = task.accept(example.prediction, repair=True)
        if parsed.ok and parsed.value is not None:
            teacher_refs[example.index] = task.render(parsed.value)
    write_records(
        layout.heldout_teacher,
        [
            labelled_record(ex.query, teacher_refs[ex.index])
            for ex in human.models["teacher"].examples
            if ex.index in teacher_refs
        ],
    )
    students = human.model_copy(update={"models": {k: v for k, v in human.models.items() if k != "teacher"}})
    return human, rescore(task, students, teacher_refs)


def write_outputs(layout: Layout, human: Any, versus_teacher: Any, loss_curve: Path) -> Path:
    """``report.html`` + ``results.json`` (human labels), the same under ``vs-teacher/``."""
    from stillhouse.router.figures import plot_weight_distribution, weights_from_records

    train = read_dataset(layout.verified, "none", "skip")[0]
    weights, _ = weights_from_records(train)
    figure = plot_weight_distribution(
        weights, layout.root / "figures" / "train_weights.png", title="Training labels"
    )
    from stillhouse.evaluate import write_report

    extras = [
        (loss_curve, "Generative student: training loss per step"),
        (figure, "Weight distribution of the training labels (golden + verified teacher answers)"),
    ]
    files = write_report(human, layout.root, extra_figures=extras)
    write_report(versus_teacher, layout.root / "vs-teacher")
    return files.report_html


def search_videos(layout: Layout, log: Callable[[str], None]) -> Any:
    """The search demo (clips, queries, printed results) routed by the routers just distilled."""
    from stillhouse.recipes.search_demo import SearchDemoConfig, run_search_demo

    demo = SearchDemoConfig(out=layout.search, router=str(layout.fast_router), student=str(layout.student))
    return run_search_demo(demo, log=log)


def print_results(results: Any, title: str, log: Callable[[str], None]) -> None:
    """The headline comparison, in the one summary table ``stillhouse evaluate`` prints too."""
    from stillhouse.evaluate.table import render_text, summary_table

    log("\n" + render_text(summary_table(results), title))


def run_demo(config: DemoConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage; returns the summary also written to ``out/summary.json``."""
    from stillhouse.tasks import get_task
    from stillhouse.teacher.build import build_teacher
    from stillhouse.train.artifacts import LOSS_CURVE

    if config.search:  # at the start, not after the other stages' 40 minutes
        from stillhouse.recipes.search_demo import require_programs

        require_programs()
    layout = Layout(root=config.out)
    timer = StageTimer(log)
    golden, heldout = timer.run("data", lambda: prepare_data(config, layout))
    # One teacher for labelling and evaluation: one embedder, one steering pool, one request cache.
    teacher = build_teacher(config.teacher_config(), golden, get_task("video-router"))
    labels = timer.run("label", lambda: label_training_set(config, layout, teacher, golden))
    verified = timer.run("verify", lambda: verify_training_set(config, layout))
    log(f"   kept {verified['kept']} pairs, rejected {verified['rejected']} of {verified['checked']} checked")
    if not (layout.student / "model.gguf").is_file():
        timer.run("train", lambda: train_student(config, layout))
        timer.run("export", lambda: publish_demo_student(config, layout))
    router = timer.run("fast-router", lambda: train_fast_router(config, layout))
    models = candidate_models(config, layout, teacher)
    with teacher:
        human, versus_teacher = timer.run("evaluate", lambda: evaluate_all(config, layout, models, heldout))
    loss_curve = layout.student_run / LOSS_CURVE
    report = timer.run("report", lambda: write_outputs(layout, human, versus_teacher, loss_curve))
    print_results(
        human, f"Held-out set ({len(heldout)} hand-labelled queries): scored against the human labels", log
    )
    print_results(versus_teacher, "Same answers scored against the teacher's answers", log)
    search = timer.run("search", lambda: search_videos(layout, log)) if config.search else None
    summary = {
        "config": config.model_dump(mode="json"),
        "labelling": labels.model_dump(),
        "verification": verified,
        "fast_router": router.model_dump() if hasattr(router, "model_dump") else None,
        "vs_human": human.summary(),
        "vs_teacher": versus_teacher.summary(),
        "search": search.summary() if search is not None else None,  # all of it in search/results.json
        "seconds": timer.seconds,
        "report": str(report),
    }
    (layout.root / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    log(f"\nreport: {report}\nstage seconds: {timer.seconds} (total {sum(timer.seconds.values()):.0f} s)")
    return summary
