"""The router's system prompt and the four modalities it weighs.

The prompt is deliberately compact: on a 2-core CPU every prompt token is paid for on each teacher and
student call, so it defines each modality in one line and states the output contract once.
"""

from __future__ import annotations

from typing import Final, Literal

Modality = Literal["visual", "audio", "transcription", "metadata"]

# Fixed order: rendering, tie-breaking and figures all follow it.
MODALITIES: Final[tuple[Modality, ...]] = ("visual", "audio", "transcription", "metadata")

SYSTEM_PROMPT: Final[str] = (
    "You route video search queries. Weigh how much each index should count for the query:\n"
    "- visual: what is seen: scenes, objects, people's appearance, colours, on-screen action and text.\n"
    "- audio: non-speech sound: music, instruments, sound effects, ambient noise, laughter, applause.\n"
    "- transcription: what is said or sung: quotes, spoken topics, interviews, lectures, lyrics.\n"
    "- metadata: title, caption, people and channel names, genre, upload date or timestamp, and tags "
    "such as camera angle, mood or licensing window.\n"
    'Answer with JSON only: {"visual": w, "audio": w, "transcription": w, "metadata": w, '
    '"reasoning": "one short sentence"}. Weights are numbers from 0 to 1 that sum to 1.0; '
    "the modality that best matches the query gets the most weight."
)

# What the distilled student is trained and served with instead (see ``Task.student_prompt``): 24
# tokens instead of 160, and a training step's cost grows with its tokens (benchmarks/bench_student.py;
# benchmarks/README.md). The leading ``route``
# word of the student's answer is imposed by the student schema and learnt from the training
# answers; the prompt was measured as written (see ``STUDENT_JSON_SCHEMA``), so it was left alone.
STUDENT_PROMPT: Final[str] = (
    "Route the video search query. JSON: reasoning, then visual, audio, transcription, metadata "
    "weights summing to 1."
)
