"""The image keyword experiment end to end at toy size: a scripted teacher labels 16 photos, two
tiny LLaVA students train on 8 and 12 of them, and the Jaccard histogram and learning curve are
written; a text student or too few images are refused before any model loads."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tests.photos import write_photos
from tests.tiny_vlm import save_tiny_vlm

from stillhouse.chat import GenerationParams, Message
from stillhouse.errors import InvalidInputError
from stillhouse.models.fake import FakeModel
from stillhouse.recipes.image_keywords import ImageKeywordsConfig, run_image_keywords
from stillhouse.sources.images import ImageConfig
from stillhouse.tasks.image_keywords.prompt import SYSTEM_PROMPT, USER_PROMPT

WORDS = [f"kw{i}" for i in range(30)]


def teacher_answer(messages: list[Message], params: GenerationParams) -> str:
    """15 keywords chosen by the image's bytes: a teacher whose labels depend on the image."""
    image = messages[-1].images[0].data
    start = hashlib.sha256(image).digest()[0] % len(WORDS)
    return ", ".join(WORDS[(start + k) % len(WORDS)] for k in range(15))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    write_photos(folder, 16, max_side=64)
    return folder


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_vlm(tmp_path_factory.mktemp("vlm"), [SYSTEM_PROMPT, USER_PROMPT, ", ".join(WORDS)])


def _config(photos: Path, student: Path, out: Path, **overrides: object) -> ImageKeywordsConfig:
    base: dict[str, object] = dict(
        images=photos,
        teacher="fake-teacher",
        student=str(student),
        out=out,
        sizes=(8, 12),
        eval_images=4,
        image=ImageConfig(max_side=48),
        max_tokens=40,
        hyperparameters={"epochCount": "1", "batchSize": "2", "learningRateWarmupSteps": "0"},
        train_options={"lora_alpha": 1024, "threads": 2},
        progress=False,
    )
    return ImageKeywordsConfig(**{**base, **overrides})


@pytest.mark.integration
def test_the_experiment_writes_the_histogram_and_the_learning_curve(photos, student, tmp_path):
    teacher = FakeModel(teacher_answer, name="fake-teacher")
    summary = run_image_keywords(
        _config(photos, student, tmp_path / "run"), log=lambda _: None, teacher_model=teacher
    )
    assert summary["images"] == 16 and summary["labelled"] == {"train": 12, "heldout": 4}
    assert len(teacher.calls) == 16
    assert set(summary["mean_jaccard"]) == {"base student", "8 images", "12 images"}
    assert all(0.0 <= v <= 1.0 for v in summary["mean_jaccard"].values())
    for key in ("histogram", "learning_curve"):
        assert Path(summary["files"][key]).read_bytes()[:4] == b"\x89PNG"
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    examples = results["models"]["12 images"]["examples"]
    assert len(examples) == 4 and all("jaccard" in e["scores"] for e in examples)
    assert (tmp_path / "run" / "train-12.jsonl").read_text().count("\n") == 12


def test_a_text_student_is_refused_with_what_to_provide(photos, tmp_path):
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(InvalidInputError, match="must be a local vision-language model folder"):
        run_image_keywords(_config(photos, tmp_path / "text", tmp_path / "run"), log=lambda _: None)


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ((13,), "leave 12 to train on; the largest size asked is 13"),
        ((4, 8), "sizes of at least 8"),
        ((), "at least 8"),
    ],
)
def test_sizes_the_folder_or_the_rules_cannot_fill_are_refused(photos, student, tmp_path, sizes, message):
    with pytest.raises(InvalidInputError, match=message):
        run_image_keywords(_config(photos, student, tmp_path / "run", sizes=sizes), log=lambda _: None)
    assert not (tmp_path / "run").exists()
