"""On-screen text: rapidocr (PP-OCR ONNX models inside the package) on segments' keyframes, in
batches: the detector on each keyframe, then one recogniser call over every text box of the batch
(rapidocr batches and pads boxes of similar width together) instead of one per keyframe
(``benchmarks/bench_ingest.py --ocr-only`` compares the two)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class _Prepared:
    """One keyframe as rapidocr's own pipeline prepares it, and how to map boxes back."""

    image: np.ndarray  # BGR, resized and letterboxed for the detector
    record: dict  # rapidocr's op record (its resize ratios and padding)
    raw: tuple[int, int]  # the keyframe's height and width


class Ocr:
    """Text lines read from RGB images, top to bottom, above ``min_score`` confidence."""

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
        """One image through rapidocr's own call (what :meth:`read_many` is checked against)."""
        result, _ = self._engine(image_rgb[:, :, ::-1].copy(), use_cls=False)
        return text_lines(result or [], self.min_score)

    def read_many(self, images_rgb: list[np.ndarray]) -> list[str]:
        """Each image's text, as :meth:`read` gives it, with the models run once per batch."""
        engine = self._engine
        prepared = [self._prepare(image) for image in images_rgb]
        boxes = self._detect([p.image for p in prepared])
        crops = [
            engine.get_crop_img_list(p.image, b) if b else [] for p, b in zip(prepared, boxes, strict=True)
        ]
        flat = [crop for group in crops for crop in group]
        recognised = list(engine.text_rec(flat, False)[0]) if flat else []
        out = []
        for p, found, group in zip(prepared, boxes, crops, strict=True):
            rec, recognised = recognised[: len(group)], recognised[len(group) :]
            if not found:
                out.append("")
                continue
            origin = engine._get_origin_points(found, p.record, *p.raw)
            result, _ = engine.get_final_res(origin, None, rec, 0.0, 0.0, 0.0)
            out.append(text_lines(result or [], self.min_score))
        return out

    def _prepare(self, image_rgb: np.ndarray) -> _Prepared:
        engine = self._engine
        image = engine.load_img(image_rgb[:, :, ::-1].copy())
        raw = image.shape[0], image.shape[1]
        image, ratio_h, ratio_w = engine.preprocess(image)
        image, record = engine.maybe_add_letterbox(
            image, {"preprocess": {"ratio_h": ratio_h, "ratio_w": ratio_w}}
        )
        return _Prepared(image, record, raw)

    def _detect(self, images: list[np.ndarray]) -> list[list[np.ndarray]]:
        """The sorted text boxes of each image. One detector pass per image: stacking a batch's
        keyframes into one pass was slower per CPU second here (``bench_ingest.py --ocr-only``)."""
        det = self._engine.text_det
        out = []
        for image in images:
            shape = image.shape[0], image.shape[1]
            pred = det.infer(det.get_preprocess(max(shape))(image))[0]
            found, _ = det.postprocess_op(pred, shape)
            found = det.filter_tag_det_res(found, shape)
            out.append(self._engine.sorted_boxes(found) if len(found) else [])
        return out


def text_lines(result: list, min_score: float) -> str:
    """rapidocr's ``[box, text, score]`` rows as one line each, in reading order (top, then left)."""
    kept = [(box, text) for box, text, score in result if float(score) >= min_score and _wordlike(text)]
    kept.sort(key=lambda r: (round(min(p[1] for p in r[0]) / 10), min(p[0] for p in r[0])))
    return "\n".join(text.strip() for _, text in kept)


def _wordlike(text: str) -> bool:
    """At least two letters or digits: single glyphs read off textures are noise, not text."""
    return sum(ch.isalnum() for ch in text) >= 2
