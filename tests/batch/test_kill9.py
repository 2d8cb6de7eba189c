"""The issue's check: a batch job over 120 records (one malformed) on a worker killed with SIGKILL
mid-run finishes on the next worker without asking the model again for a finished record.

The fast test's worker runs a FakeModel (``tests.batch.fake_runner``: the job logic, the lease and
the request cache across a real process kill); the slow one a real tiny random-weight Llama loaded
through the registry (``tests.batch.tiny_runner``), so the cache is also exercised on real answers.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import time
from pathlib import Path

import pytest

from stillhouse.jobs import JobService
from stillhouse.jobs.worker import start_workers
from stillhouse.sources.objectstore import open_store

from .helpers import INPUT, OUTPUT, input_lines, job_body

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RUNNERS = {"batch": "tests.batch.fake_runner:make"}
N = 120


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_kill_9_mid_batch_resumes_without_recomputing(
    service: JobService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill_and_resume(service, tmp_path, monkeypatch, RUNNERS, "fake-model", delay=0.03, timeout=60)


@pytest.mark.slow
@pytest.mark.model
def test_kill_9_mid_batch_on_a_tiny_model(
    service: JobService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.jobs.helpers import build_tiny_student

    student = build_tiny_student(tmp_path / "tiny")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    runners = {"batch": "tests.batch.tiny_runner:make"}
    kill_and_resume(service, tmp_path, monkeypatch, runners, f"hf:{student}", delay=0.02, timeout=180)


def kill_and_resume(
    service: JobService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    runners: dict[str, str],
    model_id: str,
    *,
    delay: float,
    timeout: float,
) -> None:
    log = tmp_path / "calls.log"
    monkeypatch.setenv("BATCH_CALL_LOG", str(log))
    monkeypatch.setenv("BATCH_CALL_DELAY", str(delay))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    open_store().put_bytes(INPUT, "\n".join(input_lines(N, malformed_at=57)).encode())
    job_id = service.invocation_job_id(service.create_invocation_job(job_body(modelId=model_id)).jobArn)

    first = start_workers(service, 1, lease_seconds=2.0, runners=runners)
    try:
        wait_for(lambda: len(calls(log)) >= 30, timeout, "30 answers")
        os.kill(first.pids[0], signal.SIGKILL)
        first.processes[0].wait()
    finally:
        first.stop()
    before = calls(log)
    assert service.get_invocation_job(job_id).status == "InProgress" and len(before) < N - 1

    with start_workers(service, 1, lease_seconds=2.0, runners=runners):
        wait_for(
            lambda: service.get_invocation_job(job_id).status == "PartiallyCompleted", timeout, "the job"
        )
    job = service.get_invocation_job(job_id)
    assert (job.successRecordCount, job.errorRecordCount) == (N - 1, 1)
    counted = collections.Counter(calls(log))
    assert len(counted) == N - 1  # every well-formed record answered; the malformed one never asked
    # Only the answer in flight at the instant of the kill (given, not yet cached) may be asked again.
    assert {p for p, n in counted.items() if n > 1} <= {before[-1]}
    lines = [
        json.loads(x) for x in open_store().get_bytes(f"{OUTPUT}{job_id}/records.jsonl.out").splitlines()
    ]
    assert len(lines) == N and "error" in lines[57]
    assert [x["recordId"] for i, x in enumerate(lines) if i != 57] == [
        f"rec-{i:04d}" for i in range(N) if i != 57
    ]
