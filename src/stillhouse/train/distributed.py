"""Training across processes: the process group, the sampler that shards a global batch, collectives.

One run is one sequence of *global* batches, planned from the seed exactly as a single process plans
them (:func:`stillhouse.train.data.plan_batches`); the world size never changes what a step trains
on. Each step's global batch is cut into ``world size x grad accumulation`` contiguous, balanced
slots (:func:`rank_micro_batches`); rank ``r`` trains slots ``r * accumulation ...``. The batch size
must split evenly (:func:`micro_batch_size`), so the same hyperparameters mean the same global batch
on any world size. A short last batch of an epoch leaves some slots smaller or empty; an empty slot
still runs a zero-weight pass so that every rank takes part in every gradient all-reduce, and no
record is repeated (a ``DistributedSampler`` pads by repeating records, which changes the batch).

Processes join the group torchrun describes in the environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``): gloo on CPUs, NCCL with each rank on GPU
``LOCAL_RANK`` where CUDA is available. :mod:`stillhouse.train.launch` starts such processes itself
for the job worker. Everything here but :func:`joined` and :class:`World`'s collectives is pure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from stillhouse.errors import InvalidInputError


def micro_batch_size(batch_size: int, world_size: int, accumulation: int) -> int:
    """The per-process micro-batch: ``micro x accumulation x world size == batch_size``, or an error."""
    slots = world_size * accumulation
    if batch_size % slots:
        raise InvalidInputError(
            f"batchSize {batch_size} does not split over {world_size} process(es) x {accumulation} "
            "gradient-accumulation step(s); per-process micro-batch x accumulation x world size must "
            "equal batchSize, so choose a world size and accumulation whose product divides it",
            field="batchSize",
        )
    return batch_size // slots


def rank_micro_batches(
    batch: Sequence[int], *, rank: int, world_size: int, accumulation: int
) -> list[list[int]]:
    """Rank ``rank``'s ``accumulation`` micro-batches of one global batch (some may be empty)."""
    slots = world_size * accumulation
    bounds = [len(batch) * j // slots for j in range(slots + 1)]
    mine = range(rank * accumulation, (rank + 1) * accumulation)
    return [list(batch[bounds[j] : bounds[j + 1]]) for j in mine]


def is_primary() -> bool:
    """Whether this process is rank 0 of a torchrun launch (or not launched by torchrun at all)."""
    return os.environ.get("RANK", "0") == "0"


@dataclass(frozen=True)
class World:
    """This process's place in the run: rank, world size, processes on this node, device."""

    rank: int = 0
    size: int = 1
    local_size: int = 1
    device: str = "cpu"

    @property
    def primary(self) -> bool:
        """Rank 0: the one process that writes checkpoints, metrics and the model."""
        return self.rank == 0

    def sum(self, values: Sequence[float]) -> list[float]:
        """``values`` summed element-wise over every rank (float64: token counts stay exact)."""
        if self.size == 1:
            return list(values)
        import torch
        import torch.distributed as dist

        tensor = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one (a stop must happen at the same step everywhere)."""
        return flag if self.size == 1 else self.sum([float(flag)])[0] > 0

    def barrier(self) -> None:
        if self.size > 1:
            import torch.distributed as dist

            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object) on every rank."""
        if self.size == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device != "cpu" else None)
        return box[0]

    def wrap(self, model: Any, *, unused: bool = False) -> Any:
        """``model`` under DistributedDataParallel (the model itself in a world of one); ``unused``:
        some trainable weights may get no gradient in a step (a vision student's image projection on
        a batch without images), which DDP must then look for."""
        if self.size == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        gpu = [int(self.device.split(":")[1])] if self.device.startswith("cuda") else None
        # Buffers (rotary frequencies) never train, so there is nothing to re-broadcast each step.
        return DistributedDataParallel(
            model, device_ids=gpu, broadcast_buffers=False, find_unused_parameters=unused
        )

    def place(self, batch: dict[str, Any]) -> dict[str, Any]:
        """A collated batch's tensors on this rank's device (as they are on the CPU)."""
        if self.device == "cpu":
            return batch
        return {key: _to(value, self.device) for key, value in batch.items()}


def _to(value: Any, device: str) -> Any:
    if isinstance(value, dict):
        return {key: _to(item, device) for key, item in value.items()}
    return value.to(device) if hasattr(value, "to") else value


def no_sync(model: Any, last: bool) -> Any:
    """Skip DDP's gradient all-reduce on every micro-batch of a step but its last."""
    return nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()


@contextmanager
def joined() -> Iterator[World]:
    """The world this process trains in: a process group already set up (by its caller), else the one
    torchrun describes in the environment (set up here and torn down on the way out), else one process."""
    import torch
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        yield _world(dist)
        return
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield World()
        return
    gpu = torch.cuda.is_available()  # NCCL on GPUs; untested here (CPU-only machine), gloo otherwise
    if gpu:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if gpu else "gloo")
    try:
        yield _world(dist)
    finally:
        dist.destroy_process_group()


def _world(dist: Any) -> World:
    size = dist.get_world_size()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(size)))
    gpu = dist.get_backend() == "nccl"
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if gpu else "cpu"
    return World(rank=dist.get_rank(), size=size, local_size=local, device=device)
