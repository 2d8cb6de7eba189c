"""Reading a keyword answer: split on commas, normalise each keyword, check the 15-25 contract.

Normalisation makes two answers comparable as sets: case, inner whitespace, list bullets and
numbering, surrounding quotes and full stops, and a plural last word ("red cars" -> "red car") are
all differences of spelling, not of meaning. Duplicates after normalisation count once.
"""

from __future__ import annotations

import re

from stillhouse.tasks.base import ParseResult
from stillhouse.tasks.image_keywords.prompt import MAX_KEYWORDS, MIN_KEYWORDS

# Words whose final "s" is not a plural (or whose singular would read as another word).
_INVARIANT = frozenset(
    {
        "glasses",
        "jeans",
        "clothes",
        "news",
        "series",
        "species",
        "trousers",
        "shorts",
        "scissors",
        "pants",
        "physics",
        "mathematics",
        "politics",
        "sunglasses",
        "headphones",
        "stairs",
        "lens",
    }
)
_SPLIT = re.compile(r"[,\n;]+")
_BULLET = re.compile(r"^\s*(?:[-*•]+|\d+[.)]|[a-z][.)](?=\s))\s*", re.IGNORECASE)
_EDGES = " \t\"'`“”‘’.:!?()[]{}"
_PREAMBLE = re.compile(r"^\s*(?:keywords?|tags?)\s*:\s*", re.IGNORECASE)


def singular(word: str) -> str:
    """The singular of an English plural by the regular rules; other words unchanged."""
    if word in _INVARIANT or len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "ous")):
        return word[:-1]
    return word


def normalise_keyword(raw: str) -> str:
    """One keyword in canonical form ('' when nothing is left of it)."""
    text = _BULLET.sub("", raw).strip(_EDGES)
    words = text.lower().split()
    if not words:
        return ""
    words[-1] = singular(words[-1])
    return " ".join(words)


def split_keywords(text: str) -> list[str]:
    """The answer's distinct normalised keywords, in the order they first appear."""
    seen: dict[str, None] = {}
    for part in _SPLIT.split(_PREAMBLE.sub("", text.strip())):
        keyword = normalise_keyword(part)
        if keyword:
            seen.setdefault(keyword, None)
    return list(seen)


def parse_answer(text: str) -> ParseResult:
    """``{"keywords": [...]}`` when the answer holds 15-25 distinct keywords, else the broken rule
    (``empty``, ``too-few-keywords: N < 15``, ``too-many-keywords: N > 25``)."""
    keywords = split_keywords(text)
    if not keywords:
        return ParseResult(errors=["empty: no keyword in the answer"])
    if len(keywords) < MIN_KEYWORDS:
        return ParseResult(errors=[f"too-few-keywords: {len(keywords)} < {MIN_KEYWORDS}"])
    if len(keywords) > MAX_KEYWORDS:
        return ParseResult(errors=[f"too-many-keywords: {len(keywords)} > {MAX_KEYWORDS}"])
    return ParseResult(value={"keywords": keywords})
