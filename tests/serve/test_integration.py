"""End to end through a real `stillhouse serve` process on loopback, with the seed notebook's calls.

The boto3 calls are the seed's (``create_model_customization_job`` with DISTILLATION,
``get_model_customization_job``, ``create_custom_model_deployment``, ``converse``) changed only in
``endpoint_url`` and credentials. Teacher and student are tiny random-weight Llamas built here and run
by the real transformers backend (no FakeModel), so labelling and training take seconds; the packaged
SmolLM2-135M on llama.cpp is served by the same real process in the catalog test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.serve.helpers import API_KEY, KEY_ID, SECRET, boto_client, free_port
from tests.tiny_llama import chatml_tokenizer, save_tiny_llama

pytestmark = pytest.mark.integration
needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"
)

TOPICS = [
    "guitar solo",
    "sunset over mountains",
    "CEO talks about layoffs",
    "videos uploaded by NASA in 2019",
    "crowd cheering at a goal",
    "whispered confession",
    "slow motion rain",
    "news anchor on elections",
    "dog barking at night",
    "wedding speech",
]


def build_tiny_model(folder: Path, texts: list[str], *, seed: int = 0) -> Path:
    """A 2-layer Llama (hidden 32) with a small byte-level BPE tokenizer (it can encode any answer)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = ["<pad>", "<|im_start|>", "<|im_end|>"]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok = chatml_tokenizer(core, unk_token=None)
    return save_tiny_llama(folder, tok, max_positions=512, seed=seed)


def start_server(home: Path, log_path: Path, job_workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """`stillhouse serve` in its own process on a free loopback port, once healthy."""
    from stillhouse import paths

    env = {
        **os.environ,
        "STILLHOUSE_HOME": str(home),
        "STILLHOUSE_MODELS": str(paths.models_dir()),
        "OMP_NUM_THREADS": "2",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "STILLHOUSE_ACCESS_KEY_ID": KEY_ID,
        "STILLHOUSE_SECRET_ACCESS_KEY": SECRET,
        "STILLHOUSE_API_KEY": API_KEY,
    }
    env.pop("STILLHOUSE_S3_ROOT", None)
    env.pop("STILLHOUSE_S3_BACKEND", None)
    port = free_port()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stillhouse",
                "serve",
                "--port",
                str(port),
                "--job-workers",
                str(job_workers),
                "--model-threads",
                "1",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc, log_path)
    return proc, url


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(params=[1])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`stillhouse serve` in its own process with a private STILLHOUSE_HOME and ``param`` job workers."""
    home = tmp_path / "home"
    proc, url = start_server(home, tmp_path / "server.log", request.param)
    try:
        yield url, home
    finally:
        stop_server(proc)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("server did not become healthy")


def _poll(fetch: Any, field: str, done: set[str], timeout: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = fetch()
        if answer[field] in done:
            return answer
        assert time.monotonic() < deadline, f"{what} still {answer[field]} after {timeout:.0f} s: {answer}"
        time.sleep(2)


def _finished_job(bedrock_client: Any, job_arn: str) -> dict[str, Any]:
    """The customization job once it has ended (Completed, Failed or Stopped); 15 minutes at most."""
    return _poll(
        lambda: bedrock_client.get_model_customization_job(jobIdentifier=job_arn),
        "status",
        {"Completed", "Failed", "Stopped"},
        900,
        "job",
    )


@needs_llama
@pytest.mark.parametrize("served", [0], indirect=True)
def test_real_process_auth_and_catalog_model(served: tuple[str, Path]) -> None:
    """The real server process: a wrong secret is refused and creates nothing; a catalog model
    (SmolLM2-135M on llama.cpp) answers Converse and the OpenAI API."""
    from botocore.exceptions import ClientError

    url, _ = served
    with pytest.raises(ClientError) as denied:
        boto_client("bedrock", url, secret="not-the-secret").create_model_customization_job(
            jobName="j",
            customModelName="m",
            roleArn="r",
            baseModelIdentifier="smollm2-135m",
            trainingDataConfig={"s3Uri": "s3://b/k.jsonl"},
            outputDataConfig={"s3Uri": "s3://b/o/"},
        )
    assert denied.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert boto_client("bedrock", url).list_model_customization_jobs()["modelCustomizationJobSummaries"] == []

    out = boto_client("bedrock-runtime", url).converse(
        modelId="smollm2-135m",
        messages=[{"role": "user", "content": [{"text": "Say hi."}]}],
        inferenceConfig={"maxTokens": 4},
    )
    assert out["usage"]["outputTokens"] >= 1 and out["output"]["message"]["content"][0]["text"]

    import openai

    chat = openai.OpenAI(base_url=url + "/v1", api_key=API_KEY, max_retries=0).chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": "Say hi."}], max_tokens=4
    )
    assert chat.usage.completion_tokens >= 1


def test_seed_notebook_flow_against_a_real_server(served: tuple[str, Path], tmp_path: Path) -> None:
    url, home = served
    prompts = [f"{TOPICS[i % len(TOPICS)]} #{i}" for i in range(100)]
    data = home / "s3" / "distill-data" / "router" / "prompts.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text(
        "".join(
            json.dumps(
                {
                    "schemaVersion": "bedrock-conversation-2024",
                    "system": [{"text": "Give modality weights as JSON."}],
                    "messages": [{"role": "user", "content": [{"text": p}]}],
                }
            )
            + "\n"
            for p in prompts
        )
    )
    texts = prompts + ['visual audio transcription metadata {}":,0.1']
    student = build_tiny_model(tmp_path / "student", texts)
    # A real transformers teacher, tiny so that labelling 100 prompts takes seconds on a busy machine
    # (SmolLM2 on llama.cpp answers Converse in test_real_process_auth_and_catalog_model above).
    teacher = build_tiny_model(tmp_path / "teacher", texts, seed=1)

    bedrock_client = boto_client("bedrock", url)  # the seed: boto3.client(service_name="bedrock")

    # --- the seed's job submission, unchanged but for the model identifiers and URIs
    teacher_model = f"hf:{teacher}"
    student_model = str(student)
    job_name = f"video-search-distillation-{datetime.now().strftime('%Y-%m-%d-%H-%M-%S')}"
    model_name = "nova-micro-video-router-v1"
    response = bedrock_client.create_model_customization_job(
        jobName=job_name,
        customModelName=model_name,
        roleArn="arn:aws:iam::000000000000:role/distillation",
        baseModelIdentifier=student_model,
        customizationType="DISTILLATION",
        trainingDataConfig={"s3Uri": "s3://distill-data/router/prompts.jsonl"},
        outputDataConfig={"s3Uri": "s3://distill-out/router/"},
        hyperParameters={"epochCount": "1", "batchSize": "8", "learningRate": "0.0001"},
        customizationConfig={
            "distillationConfig": {
                "teacherModelConfig": {
                    "teacherModelIdentifier": teacher_model,
                    "maxResponseLengthForInference": 8,
                }
            }
        },
    )
    job_arn = response["jobArn"]

    intruder = boto_client("bedrock", url, secret="not-the-secret")
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as denied:
        intruder.get_model_customization_job(jobIdentifier=job_arn)
    assert denied.value.response["Error"]["Code"] == "InvalidSignatureException"

    job = _finished_job(bedrock_client, job_arn)
    print(
        "job timeline:",
        json.dumps(
            {
                k: [str(v.get("creationTime")), str(v.get("lastModifiedTime"))]
                for k, v in job["statusDetails"].items()
            }
        ),
    )
    assert job["status"] == "Completed", job.get("failureMessage")
    custom_model_arn = job["outputModelArn"]
    assert job["trainingMetrics"]["trainingLoss"] > 0

    # --- the seed's deployment, unchanged
    deployment_name = f"nova-micro-video-router-{datetime.now().strftime('%Y-%m-%d')}"
    response = bedrock_client.create_custom_model_deployment(
        modelDeploymentName=deployment_name,
        modelArn=custom_model_arn,
        description="Distilled Nova Micro for video search modality weight prediction (4 weights)",
        tags=[
            {"key": "UseCase", "value": "VideoSearch"},
            {"key": "Version", "value": "v2-4weights"},
        ],
        clientRequestToken=f"deployment-{uuid.uuid4()}",
    )
    deployment_arn = response[
        "customModelDeploymentArn"
    ]  # botocore's member name (the seed says modelDeploymentArn)
    dep = _poll(
        lambda: bedrock_client.get_custom_model_deployment(customModelDeploymentIdentifier=deployment_arn),
        "status",
        {"Active", "Failed"},
        180,
        "deployment",
    )
    assert dep["status"] == "Active", dep.get("failureMessage")

    runtime = boto_client("bedrock-runtime", url)
    out = runtime.converse(
        modelId=custom_model_arn,
        messages=[{"role": "user", "content": [{"text": "guitar solo"}]}],
        inferenceConfig={"maxTokens": 8},
        requestMetadata={"use_case": "router"},
    )
    assert out["usage"]["outputTokens"] >= 1 and out["stopReason"] in ("end_turn", "max_tokens")
    assert isinstance(out["output"]["message"]["content"][0]["text"], str)

    import openai

    oai = openai.OpenAI(base_url=url + "/v1", api_key=API_KEY, max_retries=0)
    chat = oai.chat.completions.create(
        model=custom_model_arn, messages=[{"role": "user", "content": "drum solo"}], max_tokens=8
    )
    assert chat.usage.completion_tokens >= 1 and chat.choices[0].finish_reason in ("stop", "length")


def test_server_killed_mid_training_resumes_the_job_without_the_teacher(tmp_path: Path) -> None:
    """kill -9 of the server while its job trains; after a restart the job reaches Completed.

    The teacher's model folder is deleted before the restart: a job that asked the teacher again for
    any answer it already gave would fail to load it, so Completed proves nothing was paid twice.
    """
    import shutil
    import signal

    home, log = tmp_path / "home", tmp_path / "server.log"
    prompts = [f"{TOPICS[i % len(TOPICS)]} #{i}" for i in range(100)]
    data = home / "s3" / "data" / "prompts.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text(
        "".join(
            json.dumps(
                {
                    "schemaVersion": "bedrock-conversation-2024",
                    "messages": [{"role": "user", "content": [{"text": p}]}],
                }
            )
            + "\n"
            for p in prompts
        )
    )
    texts = prompts + ['visual audio transcription metadata {}":,0.1']
    student = build_tiny_model(tmp_path / "student", texts)
    teacher = build_tiny_model(tmp_path / "teacher", texts, seed=1)

    proc, url = start_server(home, log, job_workers=1)
    bedrock_client = boto_client("bedrock", url)
    job_arn = bedrock_client.create_model_customization_job(
        jobName="killed-mid-training",
        customModelName="survivor",
        roleArn="arn:aws:iam::000000000000:role/r",
        baseModelIdentifier=str(student),
        customizationType="DISTILLATION",
        trainingDataConfig={"s3Uri": "s3://data/prompts.jsonl"},
        outputDataConfig={"s3Uri": "s3://out/"},
        # batch 1 x 5 epochs: ~500 tiny steps, so there is a training phase to interrupt
        hyperParameters={"epochCount": "5", "batchSize": "1", "learningRate": "0.0001"},
        customizationConfig={
            "distillationConfig": {
                "teacherModelConfig": {
                    "teacherModelIdentifier": f"hf:{teacher}",
                    "maxResponseLengthForInference": 8,
                }
            }
        },
    )["jobArn"]
    try:
        training = _poll(
            lambda: bedrock_client.get_model_customization_job(jobIdentifier=job_arn)["statusDetails"][
                "trainingDetails"
            ],
            "status",
            {"InProgress", "Completed"},
            600,
            "training",
        )
        assert training["status"] == "InProgress", "training ended before the kill; make the job longer"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    shutil.rmtree(teacher)

    proc, url = start_server(home, log, job_workers=1)
    try:
        bedrock_client = boto_client("bedrock", url)
        job = _finished_job(bedrock_client, job_arn)
    finally:
        stop_server(proc)
    assert job["status"] == "Completed", job.get("failureMessage")
    assert job["statusDetails"]["dataProcessingDetails"]["status"] == "Completed"
