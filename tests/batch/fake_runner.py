"""A batch runner on a FakeModel (job logic only, no real model) for worker tests, loaded by path.

``BATCH_CALL_LOG`` (if set) gets one line per model call, written and fsynced before the answer
returns, so a test can count calls across a worker killed with SIGKILL; ``BATCH_CALL_DELAY`` slows
each call so the kill lands mid-run.
"""

from __future__ import annotations

import os
import time

from stillhouse.batch.runner import BatchRunner
from stillhouse.models.fake import FakeModel


def _answer(messages, params) -> str:
    prompt = messages[-1].content
    time.sleep(float(os.environ.get("BATCH_CALL_DELAY", "0")))
    log = os.environ.get("BATCH_CALL_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(prompt + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    return "answer to " + prompt


def make() -> BatchRunner:
    return BatchRunner(load=lambda spec: FakeModel(_answer, name=spec))
