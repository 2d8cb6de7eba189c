"""Evidence: the piece of each channel that best matches the query (pure).

A channel's text is split into pieces (transcript and caption sentences, comma-separated audio
labels, metadata ``key: value`` lines) and the piece sharing the most query words wins; with no
shared word the channel's first piece stands in, so a dense-only match still shows what it matched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from stillhouse.tasks.video_router.prompt import Modality

MAX_EVIDENCE_CHARS = 300
_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_LABELS = re.compile(r"\s*[,;\n]\s*")


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def pieces(modality: Modality, text: str) -> list[str]:
    """The units evidence is chosen from, per channel."""
    if modality == "metadata":
        parts = text.splitlines()
    elif modality == "audio":
        parts = _LABELS.split(text)
    else:
        parts = _SENTENCE.split(text)
    return [p.strip() for p in parts if p and p.strip()]


def best_piece(query: str, modality: Modality, text: str) -> str | None:
    """The piece with the most query words (first on ties); None for an empty channel."""
    options = pieces(modality, text)
    if not options:
        return None
    wanted = words(query)
    best = max(options, key=lambda p: len(wanted & words(p)))  # max keeps the first of equals
    return best if len(best) <= MAX_EVIDENCE_CHARS else best[: MAX_EVIDENCE_CHARS - 1] + "…"


def evidence(query: str, texts: Mapping[Modality, str]) -> dict[str, str]:
    """Per modality the segment has, its best-matching piece."""
    out = {}
    for modality, text in texts.items():
        piece = best_piece(query, modality, text)
        if piece is not None:
            out[modality] = piece
    return out
