"""On-screen text: rapidocr's packaged PP-OCR models read keyframes in batches (one recogniser call
over all their text boxes) as they read each alone."""

from __future__ import annotations

import numpy as np
import pytest

from stillhouse.search.video.ocr import Ocr, text_lines

pytest.importorskip("rapidocr_onnxruntime")


def _slide(text: str, size: tuple[int, int] = (320, 180), colour: str = "white") -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, colour)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 24)
    except OSError:
        font = ImageFont.load_default(size=24)
    if text:
        for row, line in enumerate(text.split("\n")):
            ImageDraw.Draw(image).text((16, 30 + 60 * row), line, fill="black", font=font)
    return np.asarray(image)


@pytest.mark.integration
def test_a_batch_reads_each_keyframe_as_it_is_read_alone_in_order() -> None:
    ocr = Ocr()
    frames = [
        _slide("Harbour lights\nopen tonight"),
        _slide(""),  # nothing to read: an empty line, and the batch's other frames keep their places
        _slide("Quarterly report"),
        _slide("Wide slide", size=(480, 180)),  # another size in the same batch
        _slide("", colour="navy"),
    ]
    batch = ocr.read_many(frames)
    assert batch == [ocr.read(f) for f in frames]
    assert batch[0] == "Harbour lights\nopen tonight" and batch[2] == "Quarterly report"
    assert batch[1] == batch[4] == "" and batch[3] == "Wide slide"
    assert ocr.read_many([]) == []


def test_text_lines_keep_confident_words_in_reading_order() -> None:
    box = lambda x, y: [[x, y], [x + 50, y], [x + 50, y + 20], [x, y + 20]]  # noqa: E731
    rows = [[box(200, 100), "second", 0.9], [box(10, 102), "first", 0.95], [box(10, 10), "top", 0.8],
            [box(10, 50), "unsure", 0.5], [box(60, 50), "|", 0.99]]  # fmt: skip
    assert text_lines(rows, 0.75) == "top\nfirst\nsecond"
