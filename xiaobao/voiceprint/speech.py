"""Speech detection: keep voiced speech, drop silence, steady tones and music.

webrtcvad (aggressiveness 2) marks 30 ms frames; three extra checks remove what it lets through
on call recordings: frames far below the recording's loud frames (line noise), frames whose
spectrum is one narrow peak (ring-back / DTMF / hold tones have very low spectral flatness and
a single dominant bin), and runs of frames whose spectral shape holds still (hold music: a
note or chord keeps its harmonics for hundreds of ms, while speech formants move within ~100 ms).
Short gaps are bridged so digits and syllables are not chopped.
"""
from __future__ import annotations

import warnings

import numpy as np

from .audio import TARGET_RATE

FRAME = 480  # 30 ms at 16 kHz


def _vad():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import webrtcvad
    return webrtcvad.Vad(2)


def _tonal(frame: np.ndarray) -> bool:
    spec = np.abs(np.fft.rfft(frame * np.hanning(len(frame)))) + 1e-9
    power = spec ** 2
    # Share of energy in the 3 strongest bins (+neighbours): a pure tone or DTMF pair puts most there.
    top = np.sort(power)[-6:].sum() / power.sum()
    return top > 0.80


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) frame ranges of the True runs of a boolean mask."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


STEADY_LAG = 4        # frames (120 ms) between the two spectra compared
STEADY_CORR = 0.9     # speech on espeak, Mandarin read speech and 8 kHz/AMR copies: 90th pct <= 0.75
STEADY_RUN = 5        # frames (150 ms): an isolated steady frame in speech is kept


def _steady(frames: np.ndarray) -> np.ndarray:
    """Frames inside a run of >= STEADY_RUN frames whose 100 Hz - 3.7 kHz log spectrum (the band
    8 kHz telephone audio keeps) correlates above STEADY_CORR with the one STEADY_LAG frames away."""
    n = len(frames)
    out = np.zeros(n, dtype=bool)
    if n <= STEADY_LAG:
        return out
    spec = np.abs(np.fft.rfft(frames * np.hanning(frames.shape[1]), axis=1))[:, 3:111]
    s = np.log(spec ** 2 + 1e-8)
    s -= s.mean(axis=1, keepdims=True)
    s /= np.linalg.norm(s, axis=1, keepdims=True) + 1e-9
    c = (s[:-STEADY_LAG] * s[STEADY_LAG:]).sum(axis=1) > STEADY_CORR
    steady = np.zeros(n, dtype=bool)
    steady[:-STEADY_LAG] |= c
    steady[STEADY_LAG:] |= c
    for i, j in _runs(steady):
        if j - i >= STEADY_RUN:
            out[i:j] = True
    return out


def speech_mask(x: np.ndarray) -> np.ndarray:
    """Boolean per 30 ms frame: speech or not."""
    n = len(x) // FRAME
    if n == 0:
        return np.zeros(0, dtype=bool)
    frames = x[: n * FRAME].reshape(n, FRAME)
    energy = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-10)
    loud = np.percentile(energy, 95)
    pcm = (np.clip(x[: n * FRAME], -1, 1) * 32767).astype(np.int16).tobytes()
    vad = _vad()
    voiced = np.array([vad.is_speech(pcm[i * FRAME * 2:(i + 1) * FRAME * 2], TARGET_RATE) for i in range(n)])
    mask = voiced & (energy > loud - 35) & (energy > -60)
    mask &= ~np.array([_tonal(f) for f in frames])
    mask &= ~_steady(frames)
    # Bridge gaps up to 150 ms and drop islands shorter than 90 ms.
    m = mask.copy()
    gap = 0
    for i in range(n):
        if m[i]:
            if 0 < gap <= 5 and i - gap - 1 >= 0 and m[i - gap - 1]:
                m[i - gap:i] = True
            gap = 0
        else:
            gap += 1
    out = m.copy()
    for i, j in _runs(m):
        if j - i < 3:
            out[i:j] = False
    return out


def speech_segments(x: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) sample ranges of speech."""
    return [(i * FRAME, j * FRAME) for i, j in _runs(speech_mask(x))]


def keep_speech(x: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The speech samples joined together, and the ranges they came from."""
    segs = speech_segments(x)
    if not segs:
        return np.zeros(0, dtype=np.float32), []
    return np.concatenate([x[a:b] for a, b in segs]).astype(np.float32), segs
