"""On-screen text: rapidocr (PP-OCR ONNX models inside the package) on each segment's keyframe."""

from __future__ import annotations

import numpy as np


class Ocr:
    """Text lines read from an RGB image, top to bottom, above ``min_score`` confidence."""

    def __init__(self, min_score: float = 0.75, threads: int = 2) -> None:
        from rapidocr_onnxruntime import RapidOCR

        # No angle classifier: keyframes are upright, and it costs a model pass per text box. The
        # detector's default scales the SHORT side up to 736 px (a 640x360 keyframe becomes
        # 1308x736); bounding the long side instead keeps a keyframe at its own size.
        self._engine = RapidOCR(
            use_cls=False,
            det_limit_type="max",
            det_limit_side_len=960,
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
        )
        self.min_score = min_score

    def read(self, image_rgb: np.ndarray) -> str:
        result, _ = self._engine(image_rgb[:, :, ::-1].copy(), use_cls=False)
        return text_lines(result or [], self.min_score)


def text_lines(result: list, min_score: float) -> str:
    """rapidocr's ``[box, text, score]`` rows as one line each, in reading order (top, then left)."""
    kept = [(box, text) for box, text, score in result if float(score) >= min_score and _wordlike(text)]
    kept.sort(key=lambda r: (round(min(p[1] for p in r[0]) / 10), min(p[0] for p in r[0])))
    return "\n".join(text.strip() for _, text in kept)


def _wordlike(text: str) -> bool:
    """At least two letters or digits: single glyphs read off textures are noise, not text."""
    return sum(ch.isalnum() for ch in text) >= 2
