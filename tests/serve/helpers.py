"""Shared helpers of the server tests: credentials, the FakeModel loader, boto3 clients, custom models."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Any

from stillhouse.chat import GenerationParams, Message
from stillhouse.models.fake import FakeModel

KEY_ID = "AKIDSTILLHOUSETEST"
SECRET = "test-secret-key/with+chars"
API_KEY = "sk-test-stillhouse"
REGION = "us-east-1"


def server_settings(**changes: Any) -> Any:
    """The test server's settings: every API's credentials, the log flushed only when a test says."""
    from stillhouse.serve.settings import ServerSettings

    return ServerSettings(
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        api_key=API_KEY,
        region=REGION,
        log_flush_records=1000,
        log_flush_seconds=60,
        **changes,
    )


def echo(messages: list[Message], params: GenerationParams) -> str:
    """The FakeModel answer: the last user turn, reversed word order, so tests can check routing."""
    return "echo: " + messages[-1].content


LOADED: list[FakeModel] = []  # every FakeModel the loader built, so tests can inspect their calls


def fake_loader(spec: str) -> FakeModel:
    if "broken" in spec:
        raise RuntimeError(f"cannot load {spec}")
    model = FakeModel(echo, name=f"fake:{Path(spec).name}")
    LOADED.append(model)
    return model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def boto_client(
    service: str,
    url: str,
    *,
    secret: str = SECRET,
    key_id: str = KEY_ID,
    region: str = REGION,
    config: Any = None,
) -> Any:
    import boto3
    from botocore.config import Config

    base = Config(retries={"max_attempts": 1})
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=base.merge(config) if config is not None else base,
    )


def unsigned_call(client: Any, operation: str, sample: str = "abcdef123456") -> tuple[Any, Any]:
    """``operation`` called unsigned (``client``: a test client of the app) at the method and path
    botocore's ``bedrock`` model gives it, ``sample`` in each path parameter: (operation model, response)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("bedrock").operation_model(operation)
    uri = re.sub(r"\{[^}]+\}", sample, model.http["requestUri"])
    return model, client.request(model.http["method"], uri)


def make_custom_model(jobs: Any, home: Path, name: str = "router-v1") -> str:
    """A Completed job with a registered custom model (weights folder is a stub the fake loads).

    The job is walked through its stages here, as a worker would, holding the job's lease so that a
    worker running beside the test (the console's) never claims it; should that worker lease it in
    the instant between creation and the lease, it runs it (and fails it: its data does not exist),
    and another job is made under the next name.
    """
    for attempt in range(3):
        model = name if attempt == 0 else f"{name}-{attempt}"
        job_id = _leased_job(jobs, model)
        if job_id is not None:
            break
    else:
        raise AssertionError("a running worker claimed every job made for a custom model")
    from stillhouse.jobs import state

    for stage in state.STAGES:
        jobs.transition(
            job_id,
            lambda j, s=stage: state.complete_stage(state.start_stage(j, s, state.now()), s, state.now()),
        )
    model_dir = home / "models" / model
    model_dir.mkdir(parents=True)
    return jobs.register_output_model(job_id, model_dir, training_loss=0.5).modelArn


def _leased_job(jobs: Any, name: str) -> str | None:
    """A new customization job for ``name``, leased for the test; ``None`` when a worker got it first."""
    created = jobs.create_job(
        {
            "jobName": f"job-{name}",
            "customModelName": name,
            "roleArn": "arn:aws:iam::000000000000:role/x",
            "baseModelIdentifier": "smollm2-135m",
            "customizationType": "FINE_TUNING",
            "trainingDataConfig": {"s3Uri": "s3://data/train.jsonl"},
            "outputDataConfig": {"s3Uri": "s3://out/"},
        }
    )
    job_id = jobs.job_id(created.jobArn)
    with jobs.store.transaction() as db:
        taken = db.execute(
            "UPDATE jobs SET lease_owner = 'test', lease_expires = ? WHERE id = ? AND lease_expires < ?",
            (time.time() + 3600, job_id, time.time()),
        ).rowcount
    return job_id if taken == 1 else None


def deploy(bedrock: Any, jobs: Any, home: Path) -> tuple[str, str]:
    """A custom model deployed through boto3 and Active: ``(model_arn, deployment_arn)``."""
    model_arn = make_custom_model(jobs, home)
    dep = bedrock.create_custom_model_deployment(modelDeploymentName="router-dep", modelArn=model_arn)
    arn = dep["customModelDeploymentArn"]
    deadline = time.monotonic() + 10
    while bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)["status"] != "Active":
        assert time.monotonic() < deadline, "deployment did not become Active"
        time.sleep(0.05)
    return model_arn, arn
