"""`stillhouse label --task image-keywords` on the prompt records `stillhouse images prompts` writes
from scikit-image's photos: a scripted vision teacher's keywords land in the records beside their
images; the tiny random LLaVA answers through the real transformers backend (its word soup fails
the keyword contract, each photo reported); a text-only teacher is refused photo by photo."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from tests.photos import write_photos
from typer.testing import CliRunner

from stillhouse.chat import GenerationParams, Message
from stillhouse.cli import app
from stillhouse.models.fake import FakeModel
from stillhouse.tasks.image_keywords.prompt import SYSTEM_PROMPT, USER_PROMPT

N_PHOTOS = 8  # the image-prompts profile's minimum
WORDS = [f"kw{i}" for i in range(30)]


def keywords_of(messages: list[Message], params: GenerationParams) -> str:
    """15 keywords chosen by the photo's bytes: a teacher whose labels depend on the image."""
    start = hashlib.sha256(messages[-1].images[0].data).digest()[0] % len(WORDS)
    return ", ".join(WORDS[(start + k) % len(WORDS)] for k in range(15))


def invoke(args: list[str], exit_code: int = 0) -> dict:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image-keywords prompt records of 8 photos, downscaled to 48 px PNGs by the CLI."""
    folder = tmp_path_factory.mktemp("photos")
    write_photos(folder / "photos", N_PHOTOS, max_side=64)
    out = folder / "prompts.jsonl"
    summary = invoke(["images", "prompts", str(folder / "photos"), "--out", str(out), "--max-side", "48",
                      "--format", "png", "--json"])  # fmt: skip
    assert summary["records"] == N_PHOTOS
    return out


def label_args(prompts: Path, teacher: str, out: Path, max_tokens: int = 40) -> list[str]:
    return ["label", str(prompts), "--teacher", teacher, "--task", "image-keywords", "--out", str(out),
            "--cache", str(out.parent / "cache.sqlite"), "--max-tokens", str(max_tokens), "--json"]  # fmt: skip


def user_images(record: dict) -> list[bytes]:
    blocks = [b for m in record["messages"] if m["role"] == "user" for b in m["content"] if "image" in b]
    return [base64.b64decode(b["image"]["source"]["bytes"]) for b in blocks]


def test_a_vision_teacher_labels_each_photo_and_its_record_keeps_the_image(prompts, tmp_path, monkeypatch):
    teacher = FakeModel(keywords_of, name="fake-vision")
    monkeypatch.setattr("stillhouse.models.load_model", lambda spec: teacher)
    first = invoke(label_args(prompts, "fake-vision", tmp_path / "a.jsonl"))
    assert (first["labelled"], first["teacher_calls"], first["failed"]) == (N_PHOTOS, N_PHOTOS, 0)
    inputs = [json.loads(line) for line in prompts.read_text().splitlines()]
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [user_images(r) for r in rows] == [user_images(r) for r in inputs]  # in order, bytes intact
    for (messages, params), row in zip(teacher.calls, rows, strict=True):
        assert [m.role for m in messages] == ["system", "user"] and messages[0].content == SYSTEM_PROMPT
        assert messages[1].content == USER_PROMPT and len(messages[1].images) == 1
        assert messages[1].images[0].format == "png" and params.max_tokens == 40
        assert row["messages"][-1]["content"][0]["text"] == keywords_of(messages, params)
    again = invoke(label_args(prompts, "fake-vision", tmp_path / "b.jsonl"))
    assert (again["labelled"], again["from_cache"], again["teacher_calls"]) == (N_PHOTOS, N_PHOTOS, 0)


@pytest.mark.model
def test_the_tiny_vlm_answers_each_photo_and_its_word_soup_is_reported(prompts, tmp_path):
    from tests.tiny_vlm import save_tiny_vlm

    vlm = save_tiny_vlm(tmp_path / "vlm", [SYSTEM_PROMPT, USER_PROMPT, ", ".join(WORDS)])
    out = tmp_path / "labels.jsonl"
    summary = invoke(label_args(prompts, str(vlm), out, max_tokens=8), exit_code=1)  # nothing usable
    # An invalid answer is asked for twice more (sampled), so three calls a photo.
    assert (summary["labelled"], summary["failed"], summary["teacher_calls"]) == (0, N_PHOTOS, 3 * N_PHOTOS)
    # Each call saw its photo: 16 image tokens (32 px, 8 px patches) beside the prompt's words.
    assert summary["input_tokens"] >= 3 * N_PHOTOS * (16 + len(USER_PROMPT.split()))
    report = [
        json.loads(line) for line in out.with_name(out.name + ".failures.jsonl").read_text().splitlines()
    ]
    assert [r["line"] for r in report] == list(range(1, N_PHOTOS + 1))
    assert all(r["attempts"] == 3 and r["reason"].startswith("invalid answer: ") for r in report), report
    assert all("keywords" in r["reason"] for r in report), report


@pytest.mark.model
def test_a_text_only_teacher_is_refused_for_each_photo(prompts, tmp_path):
    from tests.tiny_llama import save_tiny_llama
    from tests.tiny_vlm import vlm_tokenizer

    text_model = save_tiny_llama(tmp_path / "llama", vlm_tokenizer([USER_PROMPT]))
    out = tmp_path / "labels.jsonl"
    summary = invoke(label_args(prompts, str(text_model), out), exit_code=1)
    assert (summary["labelled"], summary["failed"], summary["teacher_calls"]) == (0, N_PHOTOS, 0)
    report = [
        json.loads(line) for line in out.with_name(out.name + ".failures.jsonl").read_text().splitlines()
    ]
    assert len(report) == N_PHOTOS
    assert all("text-only model; images are not supported" in r["reason"] for r in report)
