"""Image keyword labelling (SPEC §3): an image in, 15-25 comma-separated search keywords out.

A teacher labels each image with the seed's prompt; the student is trained on single-image records
and scored by the Jaccard similarity of its keyword set with the teacher's (and with human labels
when there are some). See :mod:`.parse` for the normaliser and :mod:`.metrics` for the scores.
"""

from __future__ import annotations

from typing import Any

from stillhouse.chat import Image, Message
from stillhouse.errors import InvalidInputError
from stillhouse.tasks.base import ParseResult, Task
from stillhouse.tasks.image_keywords.metrics import jaccard, prf
from stillhouse.tasks.image_keywords.parse import parse_answer, split_keywords
from stillhouse.tasks.image_keywords.prompt import MAX_KEYWORDS, MIN_KEYWORDS, SYSTEM_PROMPT, USER_PROMPT

__all__ = ["MAX_KEYWORDS", "MIN_KEYWORDS", "ImageKeywordsTask", "image_messages"]


def image_messages(image: Image, *, prompt: str = USER_PROMPT) -> list[Message]:
    """The conversation a teacher or student sees for one image."""
    return [
        Message(role="system", content=SYSTEM_PROMPT),
        Message(role="user", content=prompt, images=(image,)),
    ]


class ImageKeywordsTask(Task):
    """The keyword task: the seed's prompt, the normalising parser and the set metrics."""

    name = "image-keywords"
    system_prompt = SYSTEM_PROMPT
    takes_images = True

    def parse(self, text: str) -> ParseResult:
        return parse_answer(text)

    def lenient_value(self, text: str) -> dict[str, Any] | None:
        """The distinct normalised keywords whatever their count (``None`` when there are none)."""
        keywords = split_keywords(text)
        return {"keywords": keywords} if keywords else None

    def render(self, value: dict[str, Any]) -> str:
        """The keywords as the seed writes them: one line, separated by ", "."""
        return ", ".join(str(k) for k in value.get("keywords", []))

    def combine(self, values: list[dict[str, Any]]) -> dict[str, Any]:
        """Keywords that at least half the samples give, in the first sample's order then others'."""
        if not values:
            raise InvalidInputError("nothing to combine", field="values")
        counts: dict[str, int] = {}
        for value in values:
            for keyword in dict.fromkeys(value.get("keywords", [])):
                counts[keyword] = counts.get(keyword, 0) + 1
        kept = [k for k, c in counts.items() if c * 2 >= len(values)]
        return {"keywords": kept[:MAX_KEYWORDS]}

    def score(self, prediction: str, reference: str) -> dict[str, float]:
        """``jaccard``, ``precision``, ``recall``, ``f1`` against the reference keywords,
        ``keyword_count`` and ``valid`` (the prediction meets the 15-25 contract)."""
        ref = split_keywords(reference)
        if not ref:
            raise InvalidInputError("reference answer holds no keyword", field="reference")
        pred = split_keywords(prediction)
        precision, recall, f1 = prf(pred, ref)
        return {
            "jaccard": jaccard(pred, ref),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "keyword_count": float(len(pred)),
            "valid": float(parse_answer(prediction).ok),
        }

    def score_against(self, prediction: str, teacher: str, human: str | None = None) -> dict[str, float]:
        """:meth:`score` against the teacher, and Jaccard/F1 against human labels when given."""
        scores = self.score(prediction, teacher)
        if human is not None:
            against_human = self.score(prediction, human)
            scores["jaccard_human"] = against_human["jaccard"]
            scores["f1_human"] = against_human["f1"]
        return scores
