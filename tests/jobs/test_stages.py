"""Real stages end to end: a FakeModel teacher labels, a tiny random-weight student trains (marked model)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from stillhouse.jobs import JobService
from stillhouse.jobs.pipeline import run_job
from stillhouse.jobs.stages import DefaultStages
from stillhouse.models.fake import FakeModel
from stillhouse.models.manifest import MANIFEST, read_manifest
from stillhouse.tasks.video_router.prompt import SYSTEM_PROMPT

from .helpers import build_tiny_student, job_request, prompt_line, router_prompts, teacher_answer

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_student(tmp_path_factory.mktemp("student"))


@pytest.fixture(scope="module")
def tiny_gguf_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny student with a ``model.gguf`` of its own, as a packaged base model has."""
    from tests.tiny_llama import write_tiny_gguf

    folder = build_tiny_student(tmp_path_factory.mktemp("gguf-student"))
    write_tiny_gguf(folder)
    return folder


@pytest.fixture
def store(stillhouse_home: Path):
    from stillhouse.sources.objectstore import open_store

    return open_store()


def teacher() -> FakeModel:
    return FakeModel(lambda messages, params: teacher_answer(messages[-1].content), name="teacher")


def run(service: JobService, body: dict, fake: FakeModel, store) -> tuple[str, object]:
    job_id = service.job_id(service.create_job(body).jobArn)
    stages = DefaultStages(load_teacher=lambda spec: fake, embedder="hashing", store=store)
    return job_id, run_job(service, job_id, stages, lambda: False)


def test_distillation_from_a_jsonl_file(service: JobService, store, tiny_student: Path) -> None:
    prompts = router_prompts(110)
    golden = [prompt_line("red red red", "visual"), prompt_line("music music", "audio")]
    store.put_bytes("s3://data/train.jsonl", "\n".join([*map(prompt_line, prompts), *golden]).encode())
    fake = teacher()
    body = job_request(
        baseModelIdentifier=str(tiny_student),
        outputDataConfig={"s3Uri": "s3://out/run"},
        hyperParameters={"epochCount": "1", "batchSize": "64"},
    )
    job_id, job = run(service, body, fake, store)
    assert job.status == "Completed", job.failureMessage
    assert len(fake.calls) == 110  # golden pairs are kept as they are, never sent to the teacher
    assert any(m.content == "red red red" for m in fake.calls[0][0])  # ... but shown as few-shot turns
    assert fake.calls[0][1].max_tokens == 64  # maxResponseLengthForInference
    assert job.trainingMetrics.trainingLoss > 0
    csv = store.get_bytes(
        f"s3://out/run/model-customization-job-{job_id}/training_artifacts/step_wise_training_metrics.csv"
    ).decode()
    assert (
        csv.splitlines()[0] == "step_number,epoch_number,training_loss,perplexity"
        and len(csv.splitlines()) == 3
    )
    model_dir = service.custom_model_dir(job.outputModelArn)
    assert (model_dir / "config.json").is_file()
    progress = service.progress(job_id)
    assert progress["label_summary"]["labelled"] == 110 and progress["label_summary"]["golden_kept"] == 2
    # Where the teacher's calls ran (the job's page shows it): here, on the label stage's one thread.
    assert progress["label_summary"]["executor"] == "local"
    assert progress["label_summary"]["workers"] == {"label": 1}


def test_distillation_from_filtered_invocation_logs(service: JobService, store, tiny_student: Path) -> None:
    lines = []
    for i, prompt in enumerate(router_prompts(130)):
        project = "router" if i < 105 else "search"
        lines.append(
            json.dumps(
                {
                    "schemaType": "ModelInvocationLog",
                    "schemaVersion": "1.0",
                    "timestamp": "2026-11-20T10:00:00Z",
                    "requestId": f"r{i}",
                    "operation": "ChatCompletions",
                    "modelId": "someone-else",
                    "requestMetadata": {"project": project},
                    "input": {"inputBodyJson": {"messages": [{"role": "user", "content": prompt}]}},
                    "output": {
                        "outputBodyJson": {"choices": [{"message": {"role": "assistant", "content": "x"}}]}
                    },
                }
            )
        )
    store.put_bytes("s3://logs/app/2026/11/20/10/0.json.gz", gzip.compress("\n".join(lines).encode()))
    body = job_request(
        baseModelIdentifier=str(tiny_student),
        hyperParameters={"epochCount": "1", "batchSize": "64"},
        trainingDataConfig={
            "invocationLogsConfig": {
                "usePromptResponse": False,
                "invocationLogSource": {"s3Uri": "s3://logs/app/"},
                "requestMetadataFilters": {"andAll": [{"equals": {"project": "router"}}]},
            }
        },
    )
    fake = teacher()
    job_id, job = run(service, body, fake, store)
    assert job.status == "Completed", job.failureMessage
    assert len(fake.calls) == 105
    report = service.progress(job_id)["log_report"]
    assert (report["kept"], report["filtered_out"]) == (105, 25)


def test_too_few_records_fail_validation_before_any_teacher_call(service: JobService, store) -> None:
    store.put_bytes("s3://data/small.jsonl", "\n".join(map(prompt_line, router_prompts(5))).encode())
    fake = teacher()
    _, job = run(service, job_request(trainingDataConfig={"s3Uri": "s3://data/small.jsonl"}), fake, store)
    assert job.status == "Failed" and "NOT usable" in job.failureMessage
    assert job.statusDetails.validationDetails.status == "Failed" and fake.calls == []
    report = service.progress(service.job_id(job.jobArn))["validation_report"]
    assert (report["valid"], report["usable"]) == (5, False)


def test_fine_tuning_trains_on_the_pairs_without_a_teacher(
    service: JobService, store, tiny_student: Path
) -> None:
    pairs = [prompt_line(p, teacher_answer(p)) for p in router_prompts(12)]
    store.put_bytes("s3://data/ft.jsonl", "\n".join(pairs).encode())
    store.put_bytes("s3://data/val.jsonl", "\n".join(pairs[:3]).encode())
    body = job_request(
        customizationType="FINE_TUNING",
        customizationConfig=None,
        baseModelIdentifier=str(tiny_student),
        trainingDataConfig={"s3Uri": "s3://data/ft.jsonl"},
        validationDataConfig={"validators": [{"s3Uri": "s3://data/val.jsonl"}]},
        hyperParameters={"epochCount": "1", "batchSize": "4"},
    )
    fake = teacher()
    job_id, job = run(service, body, fake, store)
    assert job.status == "Completed", job.failureMessage
    assert fake.calls == [] and job.validationMetrics[0].validationLoss > 0
    assert not (service.custom_model_dir(job.outputModelArn) / MANIFEST).exists()  # no task's records
    assert store.exists(
        f"s3://out/model-customization-job-{job_id}/validation_artifacts/"
        "post_fine_tuning_validation/validation_metrics.csv"
    )


def _router_fine_tuning_job(service: JobService, store, base: Path):
    """A FINE_TUNING job on 12 video-router pairs (the task's system prompt), run to its end."""
    answer = '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "red"}'
    pairs = [prompt_line(p, answer, system=SYSTEM_PROMPT) for p in router_prompts(12)]
    store.put_bytes("s3://data/router.jsonl", "\n".join(pairs).encode())
    body = job_request(
        customizationType="FINE_TUNING",
        customizationConfig=None,
        baseModelIdentifier=str(base),
        trainingDataConfig={"s3Uri": "s3://data/router.jsonl"},
        hyperParameters={"epochCount": "1", "batchSize": "4"},
    )
    return run(service, body, teacher(), store)[1]


def test_a_job_on_a_tasks_records_trains_and_publishes_its_student_format(
    service: JobService, store, tiny_student: Path
) -> None:
    job = _router_fine_tuning_job(service, store, tiny_student)
    assert job.status == "Completed", job.failureMessage
    manifest = read_manifest(service.custom_model_dir(job.outputModelArn))
    assert manifest is not None and manifest.task == "video-router"


def test_a_job_on_a_gguf_base_publishes_a_student_that_llama_cpp_serves(
    service: JobService, store, tiny_gguf_student: Path
) -> None:
    from stillhouse.models import load_model, resolve
    from stillhouse.models.llamacpp import LlamaCppModel
    from stillhouse.tasks.student_model import StudentFormatModel

    job = _router_fine_tuning_job(service, store, tiny_gguf_student)
    assert job.status == "Completed", job.failureMessage
    folder = service.custom_model_dir(job.outputModelArn)
    assert (folder / "model.gguf").is_file() and (folder / MANIFEST).is_file()
    resolved = resolve(str(folder))
    assert resolved.backend == "llamacpp" and resolved.path == folder / "model.gguf"
    model = load_model(str(folder), n_ctx=128, n_threads=1)
    assert isinstance(model, StudentFormatModel) and isinstance(model.inner, LlamaCppModel)


class _LogprobTeacher(FakeModel):
    """The jobs' fake teacher that also gives its one-word answers' distributions, in the tiny
    student's vocabulary (the same tokenizer: what ``distillationMethod=kd`` needs)."""

    def __init__(self, vocab: dict[str, int]) -> None:
        super().__init__(lambda messages, params: teacher_answer(messages[-1].content), name="teacher")
        self.vocab, self.asked_k = vocab, set()

    def generate_with_distribution(self, messages, params, top_k):
        from stillhouse.chat import TokenDistribution

        self.asked_k.add(top_k)
        completion = self.generate(messages, params)
        ids = (self.vocab[completion.text], self.vocab["audio" if completion.text == "visual" else "visual"])
        dist = TokenDistribution(
            text=completion.text, offsets=(0,), ids=ids[:1], top_ids=(ids,), top_logprobs=((-0.2, -1.7),)
        )
        return completion, dist


def test_a_kd_job_labels_with_distributions_and_trains_on_them(
    service: JobService, store, tiny_student: Path
) -> None:
    vocab = json.loads((tiny_student / "tokenizer.json").read_text())["model"]["vocab"]
    store.put_bytes("s3://data/train.jsonl", "\n".join(map(prompt_line, router_prompts(100))).encode())
    fake = _LogprobTeacher(vocab)
    hp = {"epochCount": "1", "batchSize": "64", "distillationMethod": "kd", "kdTopK": "2"}
    job_id, job = run(
        service, job_request(baseModelIdentifier=str(tiny_student), hyperParameters=hp), fake, store
    )
    assert job.status == "Completed", job.failureMessage
    assert fake.asked_k == {2} and len(fake.calls) == 100
    labelled = service.job_dir(job_id) / "data" / "labelled.jsonl"
    assert len((labelled.parent / "labelled.jsonl.distributions.jsonl").read_text().splitlines()) == 100
    assert service.progress(job_id)["label_summary"]["distributions"] == 100
    assert job.trainingMetrics.trainingLoss > 0
    from stillhouse.train.checkpoint import FINISHED, checkpoint_root

    finished = json.loads((checkpoint_root(service.job_dir(job_id) / "train") / FINISHED).read_text())
    assert finished["fingerprint"]["hyperparameters"]["distillationMethod"] == "kd"  # trained as KD
    assert finished["fingerprint"]["teacher"]  # on the distributions file the labelling wrote


@pytest.mark.slow
def test_a_job_trains_on_the_processes_the_server_was_given(
    service: JobService, store, tiny_student: Path, monkeypatch
) -> None:
    """`stillhouse serve --train-processes 2` (its environment variable): the training stage runs on
    2 DDP ranks and ends with the loss one process reaches on the same global batches."""
    from stillhouse.train.launch import PROCESSES_ENV

    pairs = [prompt_line(p, teacher_answer(p)) for p in router_prompts(12)]
    store.put_bytes("s3://data/ft.jsonl", "\n".join(pairs).encode())
    losses = []
    for processes in ("1", "2"):
        monkeypatch.setenv(PROCESSES_ENV, processes)
        body = job_request(
            f"ft-{processes}",
            customizationType="FINE_TUNING",
            customizationConfig=None,
            baseModelIdentifier=str(tiny_student),
            trainingDataConfig={"s3Uri": "s3://data/ft.jsonl"},
            hyperParameters={"epochCount": "1", "batchSize": "4"},
        )
        _, job = run(service, body, teacher(), store)
        assert job.status == "Completed", job.failureMessage
        losses.append(job.trainingMetrics.trainingLoss)
    assert losses[1] == pytest.approx(losses[0], abs=1e-4)


class _ScoringRouterTeacher(FakeModel):
    """A router teacher that scores a given answer in the tiny student's vocabulary (its words, by
    the student's own tokenizer), as a llama.cpp or transformers teacher of the same family would."""

    def __init__(self, tokenizer_file: Path) -> None:
        from tokenizers import Tokenizer

        answer = '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "red"}'
        super().__init__(lambda messages, params: answer, name="teacher")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.scored: list[str] = []

    def score_answer(self, messages, answer, top_k):
        from stillhouse.chat import TokenDistribution

        self.scored.append(answer)
        enc = self.tokenizer.encode(answer, add_special_tokens=False)
        return TokenDistribution(
            text=answer,
            offsets=tuple(start for start, _ in enc.offsets),
            ids=tuple(enc.ids),
            top_ids=tuple((i, (i + 1) % 20) for i in enc.ids),
            top_logprobs=tuple((-0.2, -1.7) for _ in enc.ids),
        )


def test_a_kd_job_on_a_tasks_records_distils_the_answers_in_its_student_format(
    service: JobService, store, tiny_student: Path
) -> None:
    lines = [prompt_line(p, system=SYSTEM_PROMPT) for p in router_prompts(100)]
    store.put_bytes("s3://data/router-prompts.jsonl", "\n".join(lines).encode())
    fake = _ScoringRouterTeacher(tiny_student / "tokenizer.json")
    hp = {"epochCount": "1", "batchSize": "64", "distillationMethod": "kd", "kdTopK": "2"}
    body = job_request(
        baseModelIdentifier=str(tiny_student),
        trainingDataConfig={"s3Uri": "s3://data/router-prompts.jsonl"},
        hyperParameters=hp,
    )
    job_id, job = run(service, body, fake, store)
    assert job.status == "Completed", job.failureMessage
    # Each answer was scored once, as the student format rewrites it (route first).
    assert len(fake.scored) == 100 and all(a.startswith('{"route": "visual"') for a in fake.scored)
    assert service.progress(job_id)["label_summary"]["distributions"] == 100
    manifest = read_manifest(service.custom_model_dir(job.outputModelArn))
    assert manifest is not None and manifest.task == "video-router"
