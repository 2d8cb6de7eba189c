"""Background workers: processes that claim jobs from the SQLite store and run them.

A worker leases one job at a time and renews the lease from a heartbeat thread, which also notices a
stop request (status Stopping) or a lost lease and tells the pipeline to stop at its next safe point.
If a worker dies (kill -9, OOM, power), its lease expires and another worker, or the next one
started, claims the job and resumes it. A job that has killed its worker ``MAX_ATTEMPTS`` times is
failed rather than retried forever. SIGTERM ends a worker gracefully: the job it held stays
InProgress, released for the next worker.

Run one in the foreground with ``stillhouse jobs worker`` or ``python -m stillhouse.jobs.worker``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stillhouse.jobs import state
from stillhouse.jobs.pipeline import Abandoned, Stages, run_job
from stillhouse.jobs.store import CUSTOMIZATION

if TYPE_CHECKING:
    from stillhouse.jobs.service import JobService

log = logging.getLogger("stillhouse.jobs.worker")  # not __main__ when run with -m
MAX_ATTEMPTS = 3
DEFAULT_STAGES = "stillhouse.jobs.stages:DefaultStages"


# The runners of the other job kinds, by ``module:factory`` path: a runner has
# ``run(service, job_id, should_stop)`` (raising Abandoned to let go of the job) and
# ``give_up(service, job_id, message) -> bool`` (fail a job that keeps killing its worker, unless it
# is stopping). Batch inference runs the Bedrock runtime's bodies, which live
# above this package (serve), so it is named here rather than imported.
DEFAULT_RUNNERS: dict[str, str] = {
    "batch": "stillhouse.batch.runner:BatchRunner",
    "evaluation": "stillhouse.jobs.evaluation_run:EvaluationRunner",
}


class KindRunner(Protocol):
    def run(self, service: JobService, job_id: str, should_stop: Callable[[], bool]) -> object: ...

    def give_up(self, service: JobService, job_id: str, message: str) -> bool: ...


def _build(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)()


def load_stages(path: str | None) -> Stages:
    """Build the stage runner from a ``module:factory`` path (default: the real stages)."""
    return _build(path or DEFAULT_STAGES)


class Runners:
    """The runner of each job kind, built on first use (a worker that never meets a batch job never
    imports its machinery); ``overrides`` maps a kind to another ``module:factory`` (tests)."""

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        self.paths = {**DEFAULT_RUNNERS, **(overrides or {})}
        self._built: dict[str, KindRunner] = {}

    def __getitem__(self, kind: str) -> KindRunner:
        if kind not in self._built:
            self._built[kind] = _build(self.paths[kind])
        return self._built[kind]


class Heartbeat(threading.Thread):
    """Renews a job's lease and watches for a stop request while the job runs."""

    def __init__(self, service: JobService, job_id: str, owner: str, lease_seconds: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.service, self.job_id, self.owner, self.lease = service, job_id, owner, lease_seconds
        self.interval = min(lease_seconds / 3, 1.0)
        self.lost = threading.Event()
        self.stop_requested = threading.Event()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            try:
                if not self.service.store.renew_lease(self.job_id, self.owner, self.lease):
                    self.lost.set()  # another worker took over after our lease expired: stand down
                row = self.service.store.one("SELECT status FROM jobs WHERE id = ?", (self.job_id,))
                if row is not None and row["status"] == "Stopping":
                    self.stop_requested.set()
            except Exception:  # a busy database must not kill the heartbeat; the lease covers a few misses
                log.exception("heartbeat for job %s failed", self.job_id)

    def finish(self) -> None:
        self._done.set()
        self.join()


class Worker:
    """Claims and runs jobs one at a time until :attr:`shutdown` is set."""

    def __init__(
        self,
        service: JobService,
        stages: Stages,
        *,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        owner: str | None = None,
        runners: Runners | None = None,
    ) -> None:
        self.service, self.stages, self.runners = service, stages, runners or Runners()
        self.lease_seconds, self.poll_seconds = lease_seconds, poll_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.shutdown = threading.Event()

    def run_once(self) -> str | None:
        """Claim one job and run it to an end (or until shutdown); the job id, or ``None`` if idle."""
        claim = self.service.store.claim_job(self.owner, self.lease_seconds)
        if claim is None:
            return None
        job_id, attempt = claim
        kind = self.service.store.job_kind(job_id)
        message = f"the job stopped its worker {attempt - 1} times (crash or out of memory); giving up"
        if attempt > MAX_ATTEMPTS and self._give_up(kind, job_id, message):
            self.service.store.release_lease(job_id, self.owner)
            return job_id
        beat = Heartbeat(self.service, job_id, self.owner, self.lease_seconds)
        beat.start()
        graceful = False
        try:

            def should_stop() -> bool:
                return self.shutdown.is_set() or beat.lost.is_set() or beat.stop_requested.is_set()

            if kind == CUSTOMIZATION:
                log.info(
                    "job %s ended %s", job_id, run_job(self.service, job_id, self.stages, should_stop).status
                )
            else:
                self.runners[kind].run(self.service, job_id, should_stop)
                log.info("%s job %s ended", kind, job_id)
        except Abandoned:
            graceful = True
            log.info("job %s released for another worker", job_id)
        finally:
            beat.finish()
            self.service.store.release_lease(job_id, self.owner, forgive=graceful)
        return job_id

    def _give_up(self, kind: str, job_id: str, message: str) -> bool:
        """Fail a job that keeps killing its worker; ``False`` when it is not running (a job asked
        to stop is still run, so that it ends Stopped)."""
        if kind != CUSTOMIZATION:
            return self.runners[kind].give_up(self.service, job_id, message)
        if self.service.get_job(job_id).status != "InProgress":
            return False
        self.service.transition(job_id, lambda j: state.fail(j, message, state.now()))
        return True

    def run_forever(self) -> None:
        """Poll for work until shutdown."""
        while not self.shutdown.is_set():
            if self.run_once() is None:
                self.shutdown.wait(self.poll_seconds)


def run_worker(
    service: JobService,
    *,
    stages: str | None = None,
    lease_seconds: float = 30.0,
    poll_seconds: float = 1.0,
    parent_pid: int | None = None,
    runners: dict[str, str] | None = None,
) -> None:
    """Run a worker in this process until SIGTERM/SIGINT (or until ``parent_pid`` goes away)."""
    worker = Worker(
        service,
        load_stages(stages),
        lease_seconds=lease_seconds,
        poll_seconds=poll_seconds,
        runners=Runners(runners),
    )

    def on_signal(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and worker.shutdown.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: leave now (the lease expires, the job resumes)
        worker.shutdown.set()  # otherwise stop at the next safe point, releasing the job

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(parent_pid, worker.shutdown), daemon=True).start()
    worker.run_forever()


def _watch_parent(parent_pid: int, shutdown: threading.Event) -> None:
    """Orphaned workers exit gracefully: a restarted server starts its own."""
    while not shutdown.wait(2.0):
        if os.getppid() != parent_pid:
            shutdown.set()


class WorkerPool:
    """Worker subprocesses started by :func:`start_workers`; ``stop()`` ends them."""

    def __init__(self, processes: list[subprocess.Popen[bytes]]) -> None:
        self.processes = processes

    @classmethod
    def start(
        cls,
        service: JobService,
        n: int,
        *,
        stages: str | None = None,
        lease_seconds: float = 30.0,
        runners: dict[str, str] | None = None,
    ) -> WorkerPool:
        service.jobs_root.mkdir(parents=True, exist_ok=True)
        processes = []
        for index in range(n):
            command = [
                sys.executable,
                "-m",
                "stillhouse.jobs.worker",
                "--db",
                str(service.db_path),
                "--jobs-root",
                str(service.jobs_root),
                "--lease-seconds",
                str(lease_seconds),
                "--parent-pid",
                str(os.getpid()),
            ]
            command += ["--stages", stages] if stages else []
            for kind, path in (runners or {}).items():
                command += ["--runner", f"{kind}={path}"]
            with open(service.jobs_root / f"worker-{index}.log", "ab") as logfile:
                processes.append(subprocess.Popen(command, stdout=logfile, stderr=subprocess.STDOUT))
        return cls(processes)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every worker (each releases its job), then kill any still alive after ``timeout``."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_workers(
    service: JobService,
    n: int = 1,
    *,
    stages: str | None = None,
    lease_seconds: float = 30.0,
    runners: dict[str, str] | None = None,
) -> WorkerPool:
    """Start ``n`` background worker processes on ``service``'s database; ``stages`` is an optional
    ``module:factory`` path of the stage runner and ``runners`` maps a job kind to another runner's
    (tests inject fakes this way).

    The service stores jobs and knows nothing of workers; whoever composes the two (the CLI, the
    server) starts them here, so the worker depends on the service and never the other way round.
    """
    return WorkerPool.start(service, n, stages=stages, lease_seconds=lease_seconds, runners=runners)


def main(argv: list[str] | None = None) -> None:
    """``python -m stillhouse.jobs.worker``: the process :class:`WorkerPool` starts."""
    from stillhouse.jobs.service import JobService

    parser = argparse.ArgumentParser(description="Run a stillhouse job worker.")
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--jobs-root", type=Path)
    parser.add_argument("--stages")
    parser.add_argument("--lease-seconds", type=float, default=30.0)
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--runner", action="append", default=[], help="KIND=module:factory")
    args = parser.parse_args(argv)
    runners = dict(item.split("=", 1) for item in args.runner)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(message)s")
    service = JobService(args.db, jobs_root=args.jobs_root)
    run_worker(
        service,
        stages=args.stages,
        lease_seconds=args.lease_seconds,
        parent_pid=args.parent_pid,
        runners=runners,
    )


if __name__ == "__main__":
    main()
