"""A real `stillhouse serve` process killed with SIGKILL right after its calls return: after a restart
every call's invocation-log record is readable by a job's log source."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.serve.helpers import boto_client
from tests.serve.test_integration import needs_llama, pytestmark, start_server, stop_server  # noqa: F401

from stillhouse.sources.invocation_logs import InvocationLogsConfig, read_invocation_logs
from stillhouse.sources.objectstore import LocalObjectStore


@needs_llama
def test_kill_9_right_after_the_calls_loses_no_invocation_log(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "server.log"
    proc, url = start_server(home, log, job_workers=0)
    texts = [f"question {i}" for i in range(5)]
    try:
        runtime = boto_client("bedrock-runtime", url)
        for text in texts:
            runtime.converse(
                modelId="smollm2-135m",
                messages=[{"role": "user", "content": [{"text": text}]}],
                inferenceConfig={"maxTokens": 2},
                requestMetadata={"use_case": "durability"},
            )
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown flush: only what was durable survives
        proc.wait(30)

    proc, url = start_server(home, log, job_workers=0)  # start-up stores what the dead one left
    stop_server(proc)
    config = InvocationLogsConfig.model_validate(
        {
            "usePromptResponse": True,
            "invocationLogSource": {"s3Uri": "s3://stillhouse-logs/invocation-logs/"},
            "requestMetadataFilters": {"equals": {"use_case": "durability"}},
        }
    )
    records, report = read_invocation_logs(
        config, teacher_model_id="smollm2-135m", store=LocalObjectStore(home / "s3")
    )
    assert not report.problems and [r.messages[0].text for r in records] == texts
