"""Where the data-parallel stages' model calls run: in this process (``local``, the default) or on Ray.

- :mod:`.spec`   ``ExecutorSpec`` and ``parse_executor`` (``local``, ``ray``, ``ray://HOST:PORT``, ``RAY_ADDRESS``): pure
- :mod:`.base`   ``Stage`` (what a worker loads once and does per item, and what the driver does
                 before and after), the ``Executor`` protocol, ``LocalExecutor`` and ``open_executor``
- :mod:`.ray_pool`  ``RayExecutor``: long-lived actors, one load each; a dead actor's items go to a fresh one

The stages themselves (labelling, batch inference) keep their one implementation; an executor only
changes where an item's call runs. Every write (request cache, output files, job database) stays in the
driver: a remote worker returns what it would have written and the driver commits it.
"""

from stillhouse.executors.base import (
    RAN_ON,
    Executor,
    ExecutorInfo,
    LocalExecutor,
    Ready,
    Stage,
    open_executor,
)
from stillhouse.executors.spec import ExecutorSpec, parse_executor

__all__ = [
    "RAN_ON",
    "Executor",
    "ExecutorInfo",
    "ExecutorSpec",
    "LocalExecutor",
    "Ready",
    "Stage",
    "open_executor",
    "parse_executor",
]
