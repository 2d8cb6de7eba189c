"""YAMNet's log-mel front end (numpy) against known tones, and the packaged YAMNet on a sox sine."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from stillhouse.recipes.search_demo import synth_audio
from stillhouse.search.video import audio_events as ae

RATE = 16_000


def sine(hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_frame_count_and_shape_follow_the_no_centring_rule() -> None:
    samples = np.zeros(RATE, dtype=np.float32)
    assert ae.log_mel(samples).shape == (1 + (RATE - 512) // 160, 64)  # 97 frames in one second
    assert ae.log_mel(samples[:511]).shape == (0, 64)


def test_silence_is_log_of_the_floor() -> None:
    assert np.allclose(ae.log_mel(np.zeros(2048, dtype=np.float32)), np.log(1e-6))


@pytest.mark.parametrize("hz", [250.0, 1000.0, 3000.0])
def test_a_sine_lands_in_the_mel_bin_centred_nearest_its_frequency(hz: float) -> None:
    # HTK mel of 1 kHz is 1000: the bins span mel(125)..mel(7500) in 65 equal steps.
    centres = 700 * (
        10 ** (np.linspace(2595 * np.log10(1 + 125 / 700), 2595 * np.log10(1 + 7500 / 700), 66) / 2595) - 1
    )
    expected = int(np.argmin(np.abs(centres[1:-1] - hz)))
    frames = ae.log_mel(sine(hz, 1.0))
    assert int(np.argmax(frames.mean(axis=0))) == expected
    if hz == 1000.0:
        assert expected == 19  # of 0..63


def test_a_1khz_sines_energy_matches_the_filter_response() -> None:
    # Magnitude of a windowed sine at its peak FFT bin is A * sum(window) / 2; the mel bin sums the
    # filter-weighted magnitudes around it, so the log level is predictable to within a few percent.
    frames = ae.log_mel(sine(1000.0, 1.0, amplitude=0.5))
    spectrum = np.abs(np.fft.rfft(sine(1000.0, 512 / RATE, 0.5) * ae._window()))
    expected = np.log(spectrum @ ae.mel_filterbank()[:, 19] + 1e-6)
    assert frames[:, 19].mean() == pytest.approx(expected, rel=0.02)


def test_filterbank_is_triangular_within_its_band() -> None:
    bank = ae.mel_filterbank()
    assert bank.shape == (257, 64)
    freqs = np.linspace(0, 8000, 257)
    assert not bank[freqs < 125].any() and not bank[freqs > 7500].any()
    assert (bank.max(axis=0) > 0.5).all() and (bank <= 1.0).all()


def test_streamed_patches_equal_patches_of_the_whole_signal() -> None:
    samples = np.random.default_rng(1).normal(0, 0.1, 5 * RATE).astype(np.float32)
    stream = ae.PatchStream()
    patches = [p for i in range(0, len(samples), 1234) for p in stream.push(samples[i : i + 1234])]
    whole = ae.log_mel(samples)
    assert [t for t, _ in patches] == pytest.approx([0.48 * i for i in range(len(patches))])
    assert len(patches) == 1 + (len(whole) - 96) // 48
    for i, (_, patch) in enumerate(patches):
        assert np.allclose(patch, whole[48 * i : 48 * i + 96], atol=1e-4)


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("sox") is None, reason="needs sox")
def test_yamnet_labels_a_sox_sine_as_sine_wave_or_beep(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "tone.wav"
    synth_audio(path, 3, "sine", "1000", "vol", "0.5")
    with wave.open(str(path)) as handle:
        samples = np.frombuffer(handle.readframes(handle.getnframes()), np.int16) / 32768.0
    model = ae.YamNet()
    scores = [model.scores(p) for _, p in ae.PatchStream().push(samples)]
    top = ae.top_labels(scores, model.labels, 2, 0.1)
    assert top and set(top) <= {"Sine wave", "Beep, bleep"}, top
