"""The stage factory the crash-recovery test's worker subprocesses load (``jobs.crash_stages:make``).

Real :class:`DefaultStages` with a FakeModel teacher that appends each answer it gives to the file
named by ``CRASH_TEACHER_LOG`` (after a short delay, so the test can kill the worker mid-labelling).
"""

from __future__ import annotations

import os
import time

from stillhouse.jobs.stages import DefaultStages
from stillhouse.models.fake import FakeModel


def _answer(messages, params) -> str:
    prompt = messages[-1].content
    time.sleep(float(os.environ.get("CRASH_TEACHER_DELAY", "0.05")))
    answer = "visual" if "red" in prompt else "audio"
    with open(os.environ["CRASH_TEACHER_LOG"], "a") as log:
        log.write(prompt + "\n")
        log.flush()
        os.fsync(log.fileno())
    return answer


def make() -> DefaultStages:
    return DefaultStages(load_teacher=lambda spec: FakeModel(_answer, name=spec), embedder=None)
