"""The scikit-image photos, the default image set of the image tests (bundled, no download)."""

from __future__ import annotations

import io
from pathlib import Path

# 16 images that ship inside scikit-image's wheel (others are fetched on first use: not offline).
PHOTOS = (
    "astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry", "hubble_deep_field",
    "coins", "horse", "page", "text", "moon", "clock", "grass", "brick", "colorwheel",
)  # fmt: skip


def photo_png(name: str, max_side: int | None = None) -> bytes:
    """``skimage.data.<name>()`` as PNG bytes (RGB), shrunk to ``max_side`` when given."""
    from PIL import Image
    from skimage import data

    picture = Image.fromarray(getattr(data, name)()).convert("RGB")
    if max_side:
        picture.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def write_photos(folder: Path, n: int = len(PHOTOS), max_side: int | None = None) -> list[Path]:
    """The first ``n`` photos as PNG files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in PHOTOS[:n]:
        path = folder / f"{name}.png"
        path.write_bytes(photo_png(name, max_side))
        paths.append(path)
    return paths
