"""The real work of a customization job's stages (:class:`DefaultStages`).

- validation: fetch the training data (an ``s3://`` JSONL file/folder, or invocation logs filtered by
  ``requestMetadataFilters``), validate it under the job's profile (distillation or fine-tuning), and
  keep a snapshot under the job folder so a resumed job reads exactly what was validated;
- data processing: DISTILLATION labels the prompts with the teacher through a job-scoped persistent
  request cache into an append-only output (a restarted job continues where it stopped and never pays
  twice); FINE_TUNING uses the labelled records as they are;
- training: :func:`stillhouse.train.run_training` with checkpoints, resumed on restart (on N local
  processes under DDP with ``stillhouse serve --train-processes N``);
- publish: the custom model's serving folder (:func:`stillhouse.train.publish.publish_student`: the
  merged model, its manifest, and ``model.gguf`` when the base model is a GGUF, so llama.cpp serves
  it as it serves the demo's student) and the metrics CSVs (and loss curve) to ``outputDataConfig.s3Uri``.

Heavy modules (teacher models, torch) are imported inside the methods that need them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from stillhouse.chat import ChatModel
from stillhouse.errors import DatasetError, JobStoppedError
from stillhouse.jobs.pipeline import JobContext
from stillhouse.models.lazy import LazyModel
from stillhouse.records.schema import ConversationRecord

DEFAULT_MAX_RESPONSE_TOKENS = 512
MAX_REPORTED_PROBLEMS = 20


class _Interrupted(Exception):
    """Raised by the teacher when the job must stop. Deliberately not a StillhouseError: the labeller
    records those as per-record failures, whereas this must unwind the whole labelling run."""


class LazyTeacher(LazyModel):
    """A job's teacher: a :class:`LazyModel` (so a resumed job whose answers are all cached never
    loads it) named by the job's teacher identifier (so cache keys stay the same across restarts)
    that refuses requests once the job must stop, and words what it cannot do for the job's
    ``hyperParameters``, where its user asked for it."""

    cannot_distribute = "return token log-probabilities for distillationMethod"
    cannot_score = (
        "score the answers rewritten into the task's student format, which distillationMethod trains on"
    )
    refused_field = "hyperParameters"

    def __init__(self, name: str, load: Callable[[], ChatModel], should_stop: Callable[[], bool]) -> None:
        super().__init__(name, load)
        self._should_stop = should_stop

    def __getstate__(self) -> dict[str, Any]:
        """Sent to a remote worker with no stop check: the driver asks that one between records
        (``label_records(should_stop=...)``); the model goes unloaded, as any LazyModel's does."""
        return {**self.__dict__, "_should_stop": _never}

    def _loaded(self) -> ChatModel:
        if self._should_stop():
            raise _Interrupted()
        return super()._loaded()


def _never() -> bool:
    return False


def _distillation_top_k(hyperparameters: dict[str, str] | None) -> int:
    """How many log-probabilities per token a job's labelling records: ``kdTopK`` for a
    distillationMethod that trains on them, 0 (plain labelling) for ``sft``."""
    from stillhouse.train.hparams import parse_hyperparameters

    hp = parse_hyperparameters(hyperparameters)
    return hp.kdTopK if hp.distillationMethod != "sft" else 0


def _load_model(spec: str) -> ChatModel:
    from stillhouse.models import load_model

    return load_model(spec)


def _run_training(config: Any, *, should_stop: Callable[[], bool]) -> Any:
    """In this worker, or on the N processes ``stillhouse serve --train-processes N`` asked for."""
    from stillhouse.train.launch import processes_from_env, run_training_processes

    return run_training_processes(config, processes_from_env(), should_stop=should_stop)


class DefaultStages:
    """The stages of a real job; the loaders are injectable (tests use a fake teacher)."""

    def __init__(
        self,
        *,
        load_teacher: Callable[[str], ChatModel] = _load_model,
        train: Callable[..., Any] = _run_training,
        embedder: str | None = "minilm",
        store: Any = None,
        label_workers: int = 1,
    ) -> None:
        self.load_teacher, self.run_training = load_teacher, train
        self.embedder_spec, self._store, self.label_workers = embedder, store, label_workers

    @property
    def store(self) -> Any:
        if self._store is None:
            from stillhouse.sources.objectstore import open_store

            self._store = open_store()
        return self._store

    # ------------------------------------------------------------------------------ validation

    def validate(self, ctx: JobContext) -> None:
        """Snapshot and validate the training (and validation) data; an unusable set fails the job."""
        from stillhouse.records.validate import get_profile, require_usable
        from stillhouse.sources.dataset import read_dataset

        # The student's family has rules of its own (an Anthropic or Llama student: single-turn only).
        profile = get_profile(_profile(ctx)).for_student(ctx.request.baseModelIdentifier)  # type: ignore[union-attr]
        data_dir = ctx.job_dir / "data"
        location: str | Path = ctx.request.trainingDataConfig.s3Uri or self._logs_snapshot(ctx, data_dir)
        records, report = read_dataset(location, profile, "report", store=self.store)
        ctx.progress.validation_report = _short_report(report.to_json())
        require_usable(report)
        records = self._inlined(records)
        ctx.progress.training_file = str(_write(data_dir / "train.jsonl", records))
        validators = ctx.request.validationDataConfig.validators if ctx.request.validationDataConfig else []
        if validators:
            ctx.progress.validation_file = str(self._validation_set(validators[0].s3Uri, profile, data_dir))

    def _inlined(self, records: list[ConversationRecord]) -> list[ConversationRecord]:
        """Images the records keep in the object store, read into the snapshot: labelling and
        training then see the images as they were when the job started."""
        from stillhouse.records.schema import inline_images
        from stillhouse.sources.objectstore import image_loader

        load = image_loader(self.store)
        return [inline_images(record, load) for record in records]

    def _logs_snapshot(self, ctx: JobContext, data_dir: Path) -> Path:
        from stillhouse.sources.invocation_logs import read_invocation_logs

        config = ctx.request.trainingDataConfig.invocationLogsConfig
        assert config is not None  # the request model guarantees one source
        teacher = ctx.request.teacher.teacherModelIdentifier if ctx.request.teacher else None
        records, report = read_invocation_logs(config, teacher_model_id=teacher, store=self.store)
        ctx.progress.log_report = _short_report(report.model_dump(mode="json"), key="problems")
        if not records:
            raise DatasetError(
                f"no usable invocation log under {config.invocationLogSource.s3Uri}: {report.summary()}",
                field="trainingDataConfig.invocationLogsConfig",
            )
        return _write(data_dir / "invocation_logs.jsonl", records)

    def _validation_set(self, uri: str, profile: Any, data_dir: Path) -> Path:
        """Validation records are checked line by line; the dataset-size rules are for training sets."""
        from stillhouse.sources.dataset import read_dataset

        records, report = read_dataset(uri, profile, "report", store=self.store)
        if not records:
            raise DatasetError(
                f"{uri}: no valid validation records ({report.summary()})", field="validationDataConfig"
            )
        return _write(data_dir / "validation.jsonl", self._inlined(records))

    # ------------------------------------------------------------------------- data processing

    def process_data(self, ctx: JobContext) -> None:
        """DISTILLATION: the teacher answers every prompt (cached, resumable). FINE_TUNING: as is."""
        progress = ctx.progress
        if ctx.request.customizationType == "FINE_TUNING":
            progress.labelled_file, progress.labelled_validation_file = (
                progress.training_file,
                progress.validation_file,
            )
            return
        assert progress.training_file is not None
        summary = self._label(ctx, Path(progress.training_file), ctx.job_dir / "data" / "labelled.jsonl")
        progress.label_summary = summary
        progress.labelled_file = str(ctx.job_dir / "data" / "labelled.jsonl")
        if not summary["labelled"] + summary["golden_kept"]:
            raise DatasetError(
                f"the teacher labelled no record ({summary['failed']} failed); see "
                f"{progress.labelled_file}.failures.jsonl",
                field="trainingDataConfig",
            )
        if progress.validation_file:
            out = ctx.job_dir / "data" / "labelled_validation.jsonl"
            self._label(ctx, Path(progress.validation_file), out)
            progress.labelled_validation_file = str(out)

    def _label(self, ctx: JobContext, source: Path, out: Path) -> dict[str, Any]:
        """The teacher (with the request's labelled records as its golden examples) answers the rest."""
        from stillhouse.executors import open_executor
        from stillhouse.executors.spec import executor_from_env
        from stillhouse.jobs.specs import local_specs
        from stillhouse.tasks import detect_task
        from stillhouse.teacher.build import TeacherConfig, build_teacher
        from stillhouse.teacher.label import LabelConfig, label_records

        teacher_config = ctx.request.teacher
        assert teacher_config is not None
        records = _read(source)
        spec = local_specs(ctx.request)[1]
        assert spec is not None  # a DISTILLATION request has a teacher
        # Named by the job's identifier (the cache key), loaded from the spec the id maps to.
        model = LazyTeacher(
            teacher_config.teacherModelIdentifier, partial(self.load_teacher, spec), ctx.should_stop
        )
        config = TeacherConfig(
            model=teacher_config.teacherModelIdentifier,
            embedder=self.embedder_spec,
            cache=ctx.job_dir / "teacher_cache.sqlite",
        )
        task = detect_task(r.system_text for r in records)
        run = LabelConfig(
            max_tokens=teacher_config.maxResponseLengthForInference or DEFAULT_MAX_RESPONSE_TOKENS,
            workers=self.label_workers,
            progress=False,
            top_logprobs=_distillation_top_k(ctx.request.hyperParameters),
            # The job trains in the task's student format (see train): distil the teacher's scores
            # of the answers as rewritten into it, not of its own wording.
            distributions_for="student" if task is not None and task.student_prompt is not None else "answer",
        )
        try:
            with (
                open_executor(executor_from_env(os.environ)) as executor,
                build_teacher(config, [], task, model=model) as teacher,
            ):
                summary = label_records(
                    records, teacher, run, out_path=out, executor=executor, should_stop=ctx.should_stop
                )
        except _Interrupted as exc:  # every answer given so far is already flushed to ``out``
            raise JobStoppedError(
                f"job {ctx.request.jobName} stopped during labelling", field="status"
            ) from exc
        # Where the calls ran and on how many workers: the job's page shows it.
        return {**summary.model_dump(mode="json"), **executor.info.model_dump(mode="json")}

    # -------------------------------------------------------------------------------- training

    def train(self, ctx: JobContext) -> None:
        """Fine-tune the student on the labelled pairs, resuming from the last checkpoint."""
        from stillhouse.jobs.specs import local_specs
        from stillhouse.teacher.distributions import distributions_path
        from stillhouse.train.config import TrainConfig

        progress = ctx.progress
        assert progress.labelled_file is not None
        config = TrainConfig(
            student=local_specs(ctx.request)[0],
            task=_student_format_task(Path(progress.labelled_file)),
            data=Path(progress.labelled_file),
            out=ctx.job_dir / "train",
            hyperparameters=ctx.request.hyperParameters,
            resume=True,
            progress=False,
            validation=Path(progress.labelled_validation_file) if progress.labelled_validation_file else None,
            teacher_distributions=distributions_path(Path(progress.labelled_file))
            if _distillation_top_k(ctx.request.hyperParameters)
            else None,
        )
        result = self.run_training(config, should_stop=ctx.should_stop)
        progress.train_out, progress.model_dir = str(result.out_dir), str(result.model_dir)
        progress.training_loss, progress.validation_loss = result.final_training_loss, result.validation_loss

    # --------------------------------------------------------------------------------- publish

    def publish(self, ctx: JobContext) -> None:
        """Publish the custom model's folder (``<job>/model``, what it is registered and served from)
        and copy the run's artifacts to ``<outputDataConfig.s3Uri>/model-customization-job-<id>/``."""
        from stillhouse.jobs.specs import local_specs
        from stillhouse.train.export import MODEL_DIR
        from stillhouse.train.publish import PublishConfig, publish_student

        assert ctx.progress.train_out is not None
        out = Path(ctx.progress.train_out)
        published = publish_student(
            out / MODEL_DIR, ctx.job_dir / "model", PublishConfig(base=local_specs(ctx.request)[0])
        )
        ctx.progress.model_dir = str(published)
        ctx.progress.outputs_uri = upload_outputs(
            self.store, out, ctx.request.outputDataConfig.s3Uri, ctx.job_id
        )


def upload_outputs(store: Any, train_out: Path, output_uri: str, job_id: str) -> str:
    """Copy a run's metrics (and loss curve) where Bedrock puts a job's outputs:
    ``<outputDataConfig.s3Uri>/model-customization-job-<job id>/training_artifacts/...`` and
    ``.../validation_artifacts/post_fine_tuning_validation/...``; returns that folder's URI."""
    base = output_uri.rstrip("/") + f"/model-customization-job-{job_id}"
    for folder in ("training_artifacts", "validation_artifacts"):
        for path in sorted((train_out / folder).rglob("*")) if (train_out / folder).is_dir() else []:
            if path.is_file():
                store.put_bytes(f"{base}/{path.relative_to(train_out).as_posix()}", path.read_bytes())
    return base + "/"


def _profile(ctx: JobContext) -> str:
    """The rules the job's data is read under. Bedrock distils text only; a distillation job for a
    vision-language base model (a local folder) takes image prompts, labelled here and then trained
    on as a fine-tuning set would be."""
    from stillhouse.jobs.specs import local_specs
    from stillhouse.models.hf_vision import is_vision_folder

    if ctx.request.customizationType != "DISTILLATION":
        return "fine-tuning"
    student = local_specs(ctx.request)[0]
    return "image-prompts" if is_vision_folder(Path(student).expanduser()) else "distillation"


def _student_format_task(labelled: Path) -> str | None:
    """The task whose student format the job trains in, when its records are that task's.

    A Bedrock request names no task, but records written for one carry its system prompt. Trained
    in the student format (and served through the manifest that records it), the video router's
    student routes far better than in the task's own prompt format (benchmarks/bench_student.py).
    """
    from stillhouse.tasks import detect_task
    from stillhouse.tasks.student import has_student_format

    task = detect_task(r.system_text for r in _read(labelled))
    return task.name if task is not None and has_student_format(task) else None


def _short_report(report: dict[str, Any], key: str = "invalid") -> dict[str, Any]:
    """A report small enough to keep in the database: counts and the first problems."""
    problems = report.get(key) or []
    return {**report, key: problems[:MAX_REPORTED_PROBLEMS], f"{key}_total": len(problems)}


def _write(path: Path, records: list[ConversationRecord]) -> Path:
    from stillhouse.records.jsonl import write_records

    write_records(path, records)
    return path


def _read(path: Path) -> list[ConversationRecord]:
    """A file this job wrote itself (already validated): read as it is."""
    from stillhouse.sources.dataset import read_dataset

    return read_dataset(path, "none", "skip")[0]
