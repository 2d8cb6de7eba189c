"""The image keyword task's prompt (the seed's, verbatim) and its contract on the keyword count."""

from __future__ import annotations

from typing import Final

# The seed asks for 2-5 keywords in each of five categories, 15-25 in all.
MIN_KEYWORDS: Final[int] = 15
MAX_KEYWORDS: Final[int] = 25

SYSTEM_PROMPT: Final[str] = (
    "You are an image keyword extraction expert. Please analyze the image and extract concise "
    "keywords optimized for search.\n"
    "Extract keywords according to the following 5 categories, but provide the final result as a "
    "single list separated by commas without category distinctions:\n"
    "1. Main objects/people: People (gender, age group, ethnicity), animals, objects, and other core "
    "elements\n"
    "2. Location/background: Places, landscapes, environments (indoor/outdoor), time, season\n"
    "3. Actions/emotions: Verbs describing activities, adjectives indicating mood\n"
    "4. Visual characteristics: Main colors, composition, photography techniques, image style\n"
    "5. Contextual elements: Fashion, landmarks, cultural context, event/festival-related information\n"
    "Please provide 2-5 keywords per category, totaling 15-25 search-optimized keywords. Avoid "
    "duplications and be concise."
)

# The user turn that carries the image; the instruction is all in the system prompt.
USER_PROMPT: Final[str] = "Extract the keywords for this image."
