"""A DISTILLATION job for a vision-language base model: image prompts (inline and in the object
store) are labelled by the teacher, the tiny LLaVA student trains on them, and the published model
is a vision model. A text base model still refuses image prompts, as Bedrock does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.photos import PHOTOS, photo_png
from tests.tiny_vlm import save_tiny_vlm

from stillhouse.chat import Image
from stillhouse.jobs import JobService
from stillhouse.jobs.pipeline import run_job
from stillhouse.jobs.stages import DefaultStages
from stillhouse.models.fake import FakeModel
from stillhouse.records.schema import from_messages
from stillhouse.tasks.image_keywords import image_messages
from stillhouse.tasks.image_keywords.prompt import SYSTEM_PROMPT, USER_PROMPT

from .helpers import job_request

pytestmark = pytest.mark.model
KEYWORDS = ", ".join(f"kw{i}" for i in range(15))


def image_prompt_lines(store, n: int) -> list[str]:
    """``n`` single-image prompts; every other image is stored in the object store, not inline."""
    lines = []
    for i, name in enumerate(PHOTOS[:n]):
        png = photo_png(name, 48)
        record = json.loads(from_messages(image_messages(Image(format="png", data=png))).to_json())
        if i % 2:
            store.put_bytes(f"s3://data/images/{name}.png", png)
            record["messages"][0]["content"][1]["image"]["source"] = {
                "s3Location": {"uri": f"s3://data/images/{name}.png"}
            }
        lines.append(json.dumps(record))
    return lines


@pytest.fixture
def store(stillhouse_home: Path):
    from stillhouse.sources.objectstore import open_store

    return open_store()


def run(service: JobService, body: dict, fake: FakeModel, store):
    job_id = service.job_id(service.create_job(body).jobArn)
    stages = DefaultStages(load_teacher=lambda spec: fake, embedder="hashing", store=store)
    return run_job(service, job_id, stages, lambda: False)


def test_a_distillation_job_labels_image_prompts_and_trains_a_vision_student(service, store, tmp_path):
    student = save_tiny_vlm(tmp_path / "vlm", [SYSTEM_PROMPT, USER_PROMPT, KEYWORDS])
    store.put_bytes("s3://data/train.jsonl", "\n".join(image_prompt_lines(store, 8)).encode())
    fake = FakeModel([KEYWORDS], name="teacher")
    body = job_request(
        baseModelIdentifier=str(student),
        hyperParameters={"epochCount": "1", "batchSize": "4"},
    )
    job = run(service, body, fake, store)
    assert job.status == "Completed", job.failureMessage
    assert len(fake.calls) == 8 and all(len(messages[-1].images) == 1 for messages, _ in fake.calls)
    assert fake.calls[1][0][-1].images[0].data == photo_png(PHOTOS[1], 48)  # read from the store
    model_dir = service.custom_model_dir(job.outputModelArn)
    assert "vision_config" in json.loads((model_dir / "config.json").read_text())


def test_a_text_base_model_refuses_image_prompts(service, store):
    store.put_bytes("s3://data/train.jsonl", "\n".join(image_prompt_lines(store, 8)).encode())
    fake = FakeModel([KEYWORDS], name="teacher")
    job = run(service, job_request(), fake, store)
    assert job.status == "Failed" and "text only" in (job.failureMessage or "")
    assert fake.calls == []
