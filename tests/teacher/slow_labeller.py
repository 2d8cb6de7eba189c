"""A labelling run with a slow scripted teacher, for the kill -9 test (run as a subprocess).

Usage: python slow_labeller.py OUT CACHE CALLS_LOG DELAY_SECONDS N_PROMPTS

The teacher sleeps DELAY_SECONDS per request and appends the query to CALLS_LOG once it has answered,
so the test can count how many answers were paid for.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from stillhouse.chat import GenerationParams, Message
from stillhouse.models.fake import FakeModel
from stillhouse.records.schema import ConversationRecord
from stillhouse.tasks.base import ParseResult, Task
from stillhouse.teacher.build import TeacherConfig, build_teacher
from stillhouse.teacher.label import LabelConfig, label_records


class TextTask(Task):
    """Any JSON object with a non-empty 'answer' is valid."""

    name = "text"
    system_prompt = "Answer in JSON."

    def parse(self, text: str) -> ParseResult:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return ParseResult(errors=["not_json"])
        return ParseResult(value=value) if value.get("answer") else ParseResult(errors=["empty"])


def main(out: str, cache: str, calls_log: str, delay: str, count: str) -> None:
    log = Path(calls_log)

    def slow(messages: list[Message], params: GenerationParams) -> str:
        time.sleep(float(delay))
        query = messages[-1].content
        with log.open("a") as fh:  # the answer is paid for once the teacher has produced it
            fh.write(query + "\n")
        return json.dumps({"answer": f"label of {query}"})

    records = [
        ConversationRecord.model_validate(
            {"messages": [{"role": "user", "content": [{"text": f"prompt {i}"}]}]}
        )
        for i in range(int(count))
    ]
    config = TeacherConfig(embedder=None, cache=Path(cache))
    with build_teacher(config, [], TextTask(), model=FakeModel(slow)) as teacher:
        summary = label_records(records, teacher, LabelConfig(progress=False), out_path=out)
    print(summary.model_dump_json())


if __name__ == "__main__":
    main(*sys.argv[1:])
