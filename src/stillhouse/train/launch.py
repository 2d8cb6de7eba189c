"""Launching one training run as N local processes: what a job worker does with ``--train-processes``.

:func:`run_training_processes` spawns N fresh interpreters (``torch.multiprocessing``, spawn), each
joining a gloo (or NCCL) group on a free loopback port through the same environment torchrun sets,
and each running :func:`stillhouse.train.loop.run_training`: one loop, whoever launches it. The
caller's ``should_stop`` is polled here and passed on as a stop file every rank checks after each
step (they agree on the step). Rank 0's result comes back, or the run's first error with its type
(a stop is a :class:`~stillhouse.errors.JobStoppedError` after rank 0 checkpointed), so a job
handles a distributed run exactly as an in-process one. ``stillhouse serve --train-processes N``
(env ``STILLHOUSE_TRAIN_PROCESSES``) makes the job workers train this way; across machines, use
torchrun (README).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stillhouse.errors import InvalidInputError, StillhouseError
from stillhouse.train.config import TrainConfig, TrainResult
from stillhouse.train.losses import LossFn

PROCESSES_ENV = "STILLHOUSE_TRAIN_PROCESSES"
POLL_SECONDS = 0.5


def processes_from_env() -> int:
    """Training processes per run that the server was started with (1 when unset)."""
    raw = os.environ.get(PROCESSES_ENV, "1")
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInputError(f"{PROCESSES_ENV}={raw!r} is not a positive integer", field=PROCESSES_ENV)
    return int(raw)


def run_training_processes(
    config: TrainConfig,
    processes: int,
    *,
    should_stop: Callable[[], bool] | None = None,
    loss_fn: LossFn | None = None,
) -> TrainResult:
    """Train ``config`` on ``processes`` local processes (in this one when 1); ``loss_fn`` must be
    picklable (a module-level function or a :class:`~stillhouse.train.kd.KDLoss`)."""
    from stillhouse.train.distributed import micro_batch_size
    from stillhouse.train.hparams import parse_hyperparameters
    from stillhouse.train.loop import run_training

    if processes == 1:
        return run_training(config, should_stop=should_stop, loss_fn=loss_fn)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InvalidInputError(
            "this process is already one rank of a torchrun launch; let torchrun start the processes",
            field="processes",
        )
    hp = parse_hyperparameters(config.hyperparameters, config.method)
    micro_batch_size(hp.batchSize, processes, config.grad_accumulation)  # refused before any spawn
    with tempfile.TemporaryDirectory(prefix="stillhouse-train-") as folder:
        files = _Files(Path(folder))
        _spawn_and_wait(config, processes, files, should_stop, loss_fn)
        return files.outcome()


class _Files:
    """Where the ranks leave the stop request, rank 0's result and the run's first error."""

    def __init__(self, folder: Path) -> None:
        self.stop, self.result, self.error = folder / "stop", folder / "result.json", folder / "error.pickle"

    def outcome(self) -> TrainResult:
        if self.error.is_file():
            raise pickle.loads(self.error.read_bytes())
        if not self.result.is_file():
            raise StillhouseError("the training processes ended without a result (see their output above)")
        return TrainResult.model_validate_json(self.result.read_text())


def _spawn_and_wait(
    config: TrainConfig,
    processes: int,
    files: _Files,
    should_stop: Callable[[], bool] | None,
    loss_fn: LossFn | None,
) -> None:
    """Start the ranks and wait for them, turning ``should_stop`` into the stop file meanwhile."""
    import torch.multiprocessing as mp
    from torch.multiprocessing.spawn import ProcessException

    args = (processes, _free_port(), config.model_dump_json(), loss_fn, files, os.getpid())
    context = mp.start_processes(_rank, args=args, nprocs=processes, join=False, start_method="spawn")
    interrupted = False
    try:
        while True:
            if should_stop is not None and not files.stop.exists() and should_stop():
                files.stop.touch()
            try:
                if context.join(timeout=POLL_SECONDS):
                    return
            except ProcessException:  # one rank failed; join() has ended the others
                return
            except KeyboardInterrupt:
                if interrupted:  # a second Ctrl-C: leave now
                    raise
                interrupted = True  # the ranks had it too: they checkpoint and stop after their step
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
            process.join()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rank(
    rank: int, processes: int, port: int, config_json: str, loss_fn: Any, files: _Files, parent: int
) -> None:
    """One rank, in its own interpreter: join the group as torchrun's ranks do, train, report."""
    from stillhouse.train.loop import run_training

    _end_with_parent(parent)
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(processes),
        LOCAL_WORLD_SIZE=str(processes),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    config = TrainConfig.model_validate_json(config_json)
    try:
        result = run_training(config, should_stop=files.stop.exists, loss_fn=loss_fn)
    except BaseException as exc:  # noqa: BLE001 - every way out is reported, then fails the process
        _record_first_error(files.error, exc, rank)
        sys.exit(1)
    if rank == 0:
        files.result.write_text(result.model_dump_json())


def _end_with_parent(parent: int) -> None:
    """Ask Linux to kill this rank when the process that launched it dies (a job worker killed -9):
    an orphaned rank must not go on writing into a run that another worker resumes."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1  # noqa: N806 - the <sys/prctl.h> name
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request was made
        os._exit(1)


def _record_first_error(path: Path, exc: BaseException, rank: int) -> None:
    """Keep the first rank's error only (the others' are mostly its echo: a peer gone mid-collective);
    written whole, then linked into place, so a rank ended mid-write never leaves half of one."""
    try:
        payload = pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - an exception that does not pickle is reported by its text
        payload = pickle.dumps(StillhouseError(f"training rank {rank} failed: {exc!r}"))
    tmp = path.with_name(f"{path.name}.{rank}")
    tmp.write_bytes(payload)
    with contextlib.suppress(FileExistsError):  # another rank's came first
        os.link(tmp, path)
