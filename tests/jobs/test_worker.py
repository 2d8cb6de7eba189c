"""Workers in this process: claiming, leases, heartbeats, giving up on a job that keeps crashing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from stillhouse.jobs import JobService
from stillhouse.jobs.worker import MAX_ATTEMPTS, Worker

from .helpers import FakeStages, job_request


def test_an_idle_worker_finds_nothing(service: JobService, tmp_path: Path) -> None:
    assert Worker(service, FakeStages(tmp_path)).run_once() is None


def test_a_worker_runs_jobs_oldest_first_and_releases_them(service: JobService, tmp_path: Path) -> None:
    first = service.job_id(service.create_job(job_request("a")).jobArn)
    service.create_job(job_request("b"))
    worker = Worker(service, FakeStages(tmp_path / "m"))
    assert worker.run_once() == first
    assert service.get_job(first).status == "Completed"
    assert not service.store.lease_held(first)


def test_a_live_lease_is_not_taken_but_an_expired_one_is(service: JobService) -> None:
    job_id = service.job_id(service.create_job(job_request()).jobArn)
    assert service.store.claim_job("w1", lease_seconds=60) == (job_id, 1)
    assert service.store.claim_job("w2", lease_seconds=60) is None
    assert service.store.renew_lease(job_id, "w1", 0.01)
    time.sleep(0.05)
    assert service.store.claim_job("w2", lease_seconds=60) == (job_id, 2)
    assert not service.store.renew_lease(job_id, "w1", 60)  # w1 lost it


def test_the_heartbeat_carries_a_stop_to_the_running_job(service: JobService, tmp_path: Path) -> None:
    job_id = service.job_id(service.create_job(job_request()).jobArn)
    worker = Worker(service, FakeStages(tmp_path, hold_in="validate"), lease_seconds=0.6)
    threading.Timer(0.3, lambda: service.stop_job(job_id)).start()
    worker.run_once()
    assert service.get_job(job_id).status == "Stopped"


def test_a_job_that_keeps_killing_its_worker_is_failed(service: JobService, tmp_path: Path) -> None:
    job_id = service.job_id(service.create_job(job_request()).jobArn)
    for attempt in range(MAX_ATTEMPTS):  # workers that claimed it and died
        assert service.store.claim_job(f"dead-{attempt}", lease_seconds=0.001) is not None
        time.sleep(0.01)
    stages = FakeStages(tmp_path)
    Worker(service, stages).run_once()
    job = service.get_job(job_id)
    assert job.status == "Failed" and "giving up" in job.failureMessage and stages.calls == []


def test_graceful_shutdown_does_not_count_as_a_crash(service: JobService, tmp_path: Path) -> None:
    job_id = service.job_id(service.create_job(job_request()).jobArn)
    worker = Worker(service, FakeStages(tmp_path, hold_in="validate"))
    threading.Timer(0.2, worker.shutdown.set).start()
    worker.run_once()
    assert service.get_job(job_id).status == "InProgress"
    assert service.store.claim_job("next", 60) == (job_id, 1)
