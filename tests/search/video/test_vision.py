"""The vision-model spec: only the OpenAI-compatible form, every part present."""

from __future__ import annotations

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.search.video.vision import load_captioner


@pytest.mark.parametrize(
    "spec",
    ["clip:/models/x", "openai-vision:", "openai-vision:http://h/v1", "openai-vision:#model", "http://h#m"],
)
def test_bad_vision_specs_are_refused(spec: str) -> None:
    with pytest.raises(InvalidInputError, match="openai-vision:BASE_URL#MODEL"):
        load_captioner(spec)


def test_a_good_spec_builds_a_client_without_calling_it() -> None:
    captioner = load_captioner("openai-vision:http://127.0.0.1:9/v1#llava")
    assert captioner.model == "llava"  # type: ignore[attr-defined]
