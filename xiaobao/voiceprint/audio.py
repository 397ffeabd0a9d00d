"""Decode call recordings to mono float32 at 16 kHz.

Why 16 kHz: both embedders were trained on 16 kHz speech. Telephone audio (8 kHz) carries
nothing above 4 kHz; we upsample it with a polyphase Kaiser-windowed filter
(scipy ``resample_poly``), which adds no imaging above 4 kHz, and record the original rate in
``Audio.source_rate`` so callers (and the evaluation) know the band was narrow.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from xiaobao.errors import InputError

TARGET_RATE = 16000
CHANNELS = ("left", "right", "mix")
# libsndfile reads these natively; everything else (mp3, m4a/aac, amr, ...) goes to ffmpeg, whose
# errors are clean (libsndfile's mp3 decoder prints resync notes to stderr on a bad file).
SOUNDFILE_EXT = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".caf", ".w64"}


@dataclass
class Audio:
    path: str
    samples: np.ndarray      # float32 mono at TARGET_RATE
    source_rate: int
    source_channels: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / TARGET_RATE


def _pick_channel(data: np.ndarray, channel: str, path) -> np.ndarray:
    if data.ndim == 1:
        return data
    if channel == "mix":
        return data.mean(axis=1)
    idx = 0 if channel == "left" else 1
    if data.shape[1] <= idx:
        # A mono file asked for its right channel: the only channel is the answer.
        return data[:, 0]
    return data[:, idx]


def _decode_soundfile(path: Path):
    import soundfile as sf
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data, int(rate)


def _decode_ffmpeg(path: Path):
    """Anything soundfile can't read (mp3, m4a/aac, amr): ffmpeg to 2-channel-preserving float PCM."""
    import imageio_ffmpeg
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    probe = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    channels, rate = 1, None
    for line in probe.stderr.splitlines():
        if "Audio:" in line:
            parts = [p.strip() for p in line.split("Audio:", 1)[1].split(",")]
            for p in parts:
                if p.endswith(" Hz"):
                    rate = int(p.split()[0])
                if p in ("stereo", "2 channels") or p.startswith("2 channels"):
                    channels = 2
            break
    if rate is None:
        raise InputError(path, "cannot be decoded as audio (no audio stream found)")
    out = subprocess.run([exe, "-v", "error", "-i", str(path), "-f", "f32le", "-acodec", "pcm_f32le",
                          "-ac", str(channels), "-"], capture_output=True)
    if out.returncode != 0 or not out.stdout:
        raise InputError(path, "cannot be decoded as audio: " + out.stderr.decode(errors="replace").strip()[:200])
    data = np.frombuffer(out.stdout, dtype=np.float32).reshape(-1, channels)
    return data, rate


def resample(x: np.ndarray, rate: int, target: int = TARGET_RATE) -> np.ndarray:
    if rate == target:
        return x.astype(np.float32, copy=False)
    from scipy.signal import resample_poly
    g = gcd(rate, target)
    return resample_poly(x, target // g, rate // g).astype(np.float32)


def load_audio(path, channel: str = "mix") -> Audio:
    """Read WAV/FLAC/OGG (soundfile) or MP3/M4A/AAC/AMR and the rest (ffmpeg); pick/mix the channel."""
    path = Path(path)
    if channel not in CHANNELS:
        raise InputError(path, f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
    if not path.is_file():
        raise InputError(path, "no such file")
    data = None
    if path.suffix.lower() in SOUNDFILE_EXT:
        try:
            data, rate = _decode_soundfile(path)
        except Exception:
            data = None   # mislabelled or unusual container: let ffmpeg try
    if data is None:
        data, rate = _decode_ffmpeg(path)
    if data.size == 0:
        raise InputError(path, "contains no audio samples")
    mono = _pick_channel(data, channel, path)
    return Audio(str(path), resample(mono, rate), rate, data.shape[1])
