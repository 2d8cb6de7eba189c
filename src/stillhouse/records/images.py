"""Image sizing for records, pure: the downscaled size of an image and its token estimate.

Vision models pay for pixels: the seed's estimate (Claude's published rule) is width × height / 750
tokens per image, so a photo is downscaled before it is labelled or trained on.
"""

from __future__ import annotations

import math

PIXELS_PER_TOKEN = 750


def token_estimate(width: int, height: int) -> int:
    """Tokens an image of ``width`` × ``height`` pixels costs (rounded up, as the seed counts)."""
    return math.ceil(width * height / PIXELS_PER_TOKEN)


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size that fits inside ``max_side`` × ``max_side`` keeping the aspect ratio; never upscales."""
    if width <= 0 or height <= 0 or max_side <= 0:
        raise ValueError(f"sizes must be positive; got {width}x{height} into {max_side}")
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))
