"""Images into records: the seed's token estimate, downscaling, and a folder as prompt records."""

from __future__ import annotations

import io
import json

import pytest
from tests.photos import photo_png, write_photos
from typer.testing import CliRunner

from stillhouse.cli import app
from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.records.images import fit_size, token_estimate
from stillhouse.records.jsonl import parse_record
from stillhouse.records.rules import PROFILES, check_images
from stillhouse.records.schema import to_messages
from stillhouse.sources.images import ImageConfig, folder_prompt_records, prepare_image
from stillhouse.tasks.image_keywords.prompt import SYSTEM_PROMPT, USER_PROMPT


def test_token_estimate_matches_the_seeds_examples():
    assert token_estimate(300, 199) == 80
    assert token_estimate(1000, 665) == 887


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [((1000, 665), 300, (300, 200)), ((665, 1000), 300, (200, 300)), ((200, 100), 512, (200, 100))],
)
def test_fit_size_keeps_the_aspect_and_never_upscales(size, max_side, expected):
    assert fit_size(*size, max_side) == expected


def test_fit_size_refuses_a_non_positive_size():
    with pytest.raises(ValueError, match="sizes must be positive"):
        fit_size(0, 10, 10)


def test_prepare_image_downscales_and_reencodes():
    from PIL import Image

    prepared = prepare_image(photo_png("coffee"), ImageConfig(max_side=120))
    assert prepared.original_size == (600, 400) and prepared.size == (120, 80)
    assert prepared.image.format == "jpeg" and prepared.tokens == token_estimate(120, 80)
    assert Image.open(io.BytesIO(prepared.image.data)).size == (120, 80)


def test_prepare_image_refuses_bytes_that_are_no_image():
    with pytest.raises(InvalidInputError, match="notes.png is not a readable image"):
        prepare_image(b"not an image", ImageConfig(), name="notes.png")


def test_a_folder_becomes_single_image_prompt_records(tmp_path):
    files = write_photos(tmp_path / "photos", 3, max_side=200)
    (tmp_path / "photos" / "readme.txt").write_text("not an image")
    built = folder_prompt_records(tmp_path / "photos", SYSTEM_PROMPT, USER_PROMPT, ImageConfig(max_side=64))
    assert [p.name for p in built.files] == sorted(p.name for p in files)
    assert len(built.records) == 3 and built.tokens == sum(token_estimate(*p.size) for p in built.prepared)
    assert built.original_tokens > built.tokens
    for record in built.records:
        assert check_images(record, 1, PROFILES["fine-tuning"]) == []
        messages = to_messages(record)
        assert messages[0].content == SYSTEM_PROMPT and messages[1].content == USER_PROMPT
        assert len(messages[1].images) == 1 and messages[1].images[0].format == "jpeg"


def test_a_missing_or_imageless_folder_is_refused(tmp_path):
    with pytest.raises(NotFoundError, match="no image folder"):
        folder_prompt_records(tmp_path / "none", "s", "u")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="holds no image"):
        folder_prompt_records(tmp_path / "empty", "s", "u")


def test_images_prompts_cli_writes_parseable_records(tmp_path):
    write_photos(tmp_path / "photos", 2, max_side=200)
    out = tmp_path / "prompts.jsonl"
    args = ["images", "prompts", str(tmp_path / "photos"), "--out", str(out), "--max-side", "50", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records"] == 2 and summary["estimated_image_tokens"] > 0
    lines = out.read_text().splitlines()
    assert len(lines) == 2
    record = parse_record(lines[0], 1)
    assert not isinstance(record, list) and record.messages[0].images[0].format == "jpeg"


def test_images_prompts_cli_refuses_an_unknown_format(tmp_path):
    write_photos(tmp_path / "photos", 1, max_side=50)
    args = [
        "images",
        "prompts",
        str(tmp_path / "photos"),
        "--out",
        str(tmp_path / "o.jsonl"),
        "--format",
        "tiff",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and not (tmp_path / "o.jsonl").exists()


def test_images_experiment_cli_says_what_student_to_provide(tmp_path):
    write_photos(tmp_path / "photos", 1, max_side=50)
    (tmp_path / "text").mkdir()
    args = ["images", "experiment", str(tmp_path / "photos"), "--teacher", "openai:m@http://127.0.0.1:9/v1"]
    args += ["--student", str(tmp_path / "text"), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(app, args)
    # The CLI edge (cli.app.main) turns this into one line and exit code 2.
    assert isinstance(result.exception, InvalidInputError)
    assert "must be a local vision-language model folder" in str(result.exception)
    assert not (tmp_path / "run").exists()
    bad = CliRunner().invoke(app, [*args, "--sizes", "8,x"])
    assert bad.exit_code == 2 and "not a comma-separated list of sizes" in bad.output
