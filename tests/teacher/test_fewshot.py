from __future__ import annotations

from stillhouse.chat import GenerationParams, Message
from stillhouse.models.embeddings import HashingEmbedder
from stillhouse.models.fake import FakeModel
from stillhouse.tasks.video_router.golden import labelled_record
from stillhouse.teacher.cache import RequestCache
from stillhouse.teacher.fewshot import FewShotTeacher

GOLDEN = [
    labelled_record("drum solo at a jazz club", '{"a": 1}'),
    labelled_record("sunset over the ocean", '{"b": 2}'),
    labelled_record("interview with the mayor", '{"c": 3}'),
]


def test_inserts_nearest_golden_examples_after_the_system_prompt(tmp_path):
    inner = FakeModel(["answer"])
    teacher = FewShotTeacher(
        inner, GOLDEN, k=1, embedder=HashingEmbedder(), cache=RequestCache(tmp_path / "c.db")
    )
    messages = [Message(role="system", content="route"), Message(role="user", content="sunset over the sea")]

    assert teacher.generate(messages, GenerationParams()).text == "answer"
    sent = inner.calls[0][0]
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1].content == "sunset over the ocean" and sent[2].content == '{"b": 2}'


def test_second_identical_request_is_answered_from_the_cache(tmp_path):
    inner = FakeModel(["answer"])
    teacher = FewShotTeacher(
        inner, GOLDEN, k=2, embedder=HashingEmbedder(), cache=RequestCache(tmp_path / "c.db")
    )
    messages = [Message(role="user", content="drum solo")]
    teacher.generate(messages, GenerationParams())
    teacher.generate(messages, GenerationParams())
    assert len(inner.calls) == 1
