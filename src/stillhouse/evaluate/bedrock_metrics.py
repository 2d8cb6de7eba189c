"""Bedrock's built-in judge metrics (``Builtin.Correctness`` ...) as rubrics for :mod:`judge`.

Bedrock reports a built-in metric normalised to 0..1; :func:`normalised` maps a rubric score onto
that range. The instructions are ours (Bedrock's evaluator prompts differ per judge model); the names,
the 1..5 scales and the normalisation are what a Bedrock user reads in the results.
"""

from __future__ import annotations

from stillhouse.evaluate.judge import CORRECTNESS, JudgeRubric, RatingLevel

_TAIL = "\n\nPrompt: {{prompt}}\n\nReference answer: {{ground_truth}}\n\nCandidate answer: {{prediction}}"
_LIKERT = ("Not at all", "Slightly", "Somewhat", "Mostly", "Completely")


def _rubric(name: str, question: str) -> JudgeRubric:
    return JudgeRubric(
        name=name,
        instructions=question + _TAIL,
        ratingScale=[RatingLevel(definition=text, value=float(i + 1)) for i, text in enumerate(_LIKERT)][
            ::-1
        ],
    )


BUILTIN_METRICS: dict[str, JudgeRubric] = {
    "Builtin.Correctness": CORRECTNESS,
    "Builtin.Completeness": _rubric(
        "Completeness",
        "Does the candidate answer cover everything the prompt asks for and the reference holds?",
    ),
    "Builtin.Helpfulness": _rubric(
        "Helpfulness", "How helpful is the candidate answer to the person who asked?"
    ),
    "Builtin.Faithfulness": _rubric(
        "Faithfulness",
        "Does the candidate answer stay within what the prompt states, adding no invented facts?",
    ),
    "Builtin.Relevance": _rubric("Relevance", "How relevant is the candidate answer to the prompt?"),
    # RAG evaluation's name for coherence.
    "Builtin.LogicalCoherence": _rubric(
        "LogicalCoherence",
        "Is the candidate answer logically consistent and free of contradictions and gaps?",
    ),
    "Builtin.Coherence": _rubric(
        "Coherence", "Is the candidate answer logically consistent and free of contradictions and gaps?"
    ),
    "Builtin.FollowingInstructions": _rubric(
        "FollowingInstructions", "Does the candidate answer follow every explicit instruction in the prompt?"
    ),
    "Builtin.ProfessionalStyleAndTone": _rubric(
        "ProfessionalStyleAndTone",
        "Are the candidate answer's style, formatting and tone appropriate for a professional setting?",
    ),
}


def normalised(rubric: JudgeRubric, score: float) -> float:
    """A rubric score on Bedrock's 0..1 scale for built-in metrics."""
    return (score - rubric.low) / (rubric.high - rubric.low)
