"""A batch runner on a real tiny model (a random-weight 2-layer Llama loaded from its folder through
the model registry) whose every call is logged, for the slow kill -9 test (``tiny_runner:make``)."""

from __future__ import annotations

import os
import time

from stillhouse.batch.runner import BatchRunner
from stillhouse.chat import ChatModel, Completion, GenerationParams, Message


class Logged:
    """``model`` with each call's prompt appended (and fsynced) to ``BATCH_CALL_LOG`` after it answers."""

    supports_json_schema = False

    def __init__(self, model: ChatModel) -> None:
        self.model, self.name = model, model.name

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        completion = self.model.generate(messages, params)
        time.sleep(float(os.environ.get("BATCH_CALL_DELAY", "0")))
        with open(os.environ["BATCH_CALL_LOG"], "a") as handle:
            handle.write(messages[-1].content + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return completion


def make() -> BatchRunner:
    from stillhouse.models import load_model

    return BatchRunner(load=lambda spec: Logged(load_model(spec)))
