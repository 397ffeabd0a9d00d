"""A video's audio track, extracted to WAV with the ffmpeg binary shipped in ``imageio-ffmpeg``.

OpenCV reads only pictures, so the sound goes through ffmpeg: mono, 16 kHz, 16-bit PCM, which
is what the voiceprint loaders expect. No system ffmpeg is needed.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from xiaobao.errors import InputError, ModelUnavailableError

DEFAULT_RATE = 16000


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # the package raises RuntimeError when its binary is missing
        raise ModelUnavailableError(
            f"no ffmpeg binary: install imageio-ffmpeg (pip install imageio-ffmpeg), which ships one ({exc})"
        ) from exc


def probe_streams(path) -> dict:
    """Which streams ffmpeg sees: ``{"video": n, "audio": n, "duration_s": float|None}``."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(p)],
                          capture_output=True, text=True, errors="replace", timeout=120)
    info = proc.stderr
    if "Invalid data found" in info or "moov atom not found" in info or " Stream #" not in info:
        raise InputError(p, "cannot decode media (corrupt file or unsupported container)")
    m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", info)
    dur = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None
    return {
        "video": len(re.findall(r"Stream #\S+.*?: Video:", info)),
        "audio": len(re.findall(r"Stream #\S+.*?: Audio:", info)),
        "duration_s": dur,
    }


def has_audio(path) -> bool:
    return probe_streams(path)["audio"] > 0


def extract_audio(path, out_wav, rate: int = DEFAULT_RATE) -> Path | None:
    """Write the first audio track of ``path`` to ``out_wav`` (mono PCM at ``rate``).

    Returns the WAV path, or ``None`` when the file has no audio track. A file ffmpeg cannot
    read is an :class:`InputError` naming it.
    """
    p = Path(path)
    if not has_audio(p):
        return None
    out = Path(out_wav)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(p),
           "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(int(rate)), "-acodec", "pcm_s16le", "-f", "wav", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=600)
    if proc.returncode != 0 or not out.exists() or out.stat().st_size <= 44:
        last = (proc.stderr.strip().splitlines() or ["no audio samples decoded"])[-1]
        raise InputError(p, f"cannot extract the audio track: {last}")
    return out


def mux_audio(video_path, wav_path, out_path) -> Path:
    """Copy ``video_path``'s pictures and add ``wav_path`` as its sound (AAC). Used to build test
    and demo clips; the shortest of the two streams sets the length."""
    out = Path(out_path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(video_path),
           "-i", str(wav_path), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-shortest", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=600)
    if proc.returncode != 0:
        raise InputError(video_path, f"cannot add the audio track: {proc.stderr.strip()[-300:]}")
    return out
