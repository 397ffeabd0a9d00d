"""Attachment embeddings for screening: faces (photos, videos) and voices (audio, video tracks).

Each attachment becomes zero or more (space, sha256, vector, status) rows. The voice and face
packages do the work through their public functions; a modality whose package or weights are
missing yields a row with status ``unavailable: <why>`` instead of stopping the batch.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from xiaobao.enrolment import file_sha256

AUDIO = {".wav", ".mp3", ".m4a", ".flac", ".ogg", ".amr", ".aac", ".opus"}
VIDEO = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".3gp", ".flv"}
IMAGE = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".webp", ".tif", ".tiff"}

_cache: dict[str, object] = {}


def _face(path: Path) -> tuple[str, np.ndarray | None, str]:
    from xiaobao.video import SPACE, DlibFaceEmbedder, analyse_file

    emb = _cache.get("face") or DlibFaceEmbedder()
    _cache["face"] = emb
    found = analyse_file(path, emb)
    track = found.dominant
    if track is None:
        return SPACE, None, "insufficient: no face found"
    vec = np.asarray(track.template(3), dtype=np.float32)
    return SPACE, vec / (np.linalg.norm(vec) or 1.0), "ok"


MIN_SPEECH_S = 1.5  # the voiceprint package's own floor: less speech is "insufficient"


def _voice(path: Path) -> tuple[str, np.ndarray | None, str]:
    from xiaobao.voiceprint import get_embedder, read_speech

    emb = _cache.get("voice") or get_embedder("resemblyzer")
    _cache["voice"] = emb
    speech = read_speech(path)  # silence, tones and hold music dropped
    if speech.seconds < MIN_SPEECH_S:
        return emb.space, None, f"insufficient: {speech.seconds:.1f} s of speech (need {MIN_SPEECH_S} s)"
    vec = np.asarray(emb.embed([speech.samples])[0], dtype=np.float32)
    return emb.space, vec / (np.linalg.norm(vec) or 1.0), "ok"


def load_space_defaults(space: str) -> None:
    """Import the package that owns a space, so its documented default thresholds are known."""
    try:
        if space.startswith("face/"):
            import xiaobao.video  # noqa: F401
        elif space.startswith("voice/"):
            import xiaobao.voiceprint  # noqa: F401
    except ImportError:
        pass


def embed_attachment(path: str) -> list[tuple[str, str, bytes | None, str]]:
    """(space, sha256, float32 vector bytes or None, status) for each modality of one file."""
    p = Path(path)
    if not p.is_file():
        return [("none", "", None, "missing: file does not exist")]
    sha = file_sha256(p)
    suffix = p.suffix.lower()
    jobs = []
    if suffix in IMAGE or suffix in VIDEO:
        jobs.append(("face", _face, p))
    if suffix in AUDIO:
        jobs.append(("voice", _voice, p))
    if suffix in VIDEO:
        jobs.append(("voice", _video_voice, p))
    if not jobs:
        return [("none", sha, None, f"skipped: unknown attachment type {suffix!r}")]
    out = []
    for modality, fn, arg in jobs:
        try:
            space, vec, status = fn(arg)
        except ImportError as exc:
            out.append((f"{modality}/unavailable", sha, None, f"unavailable: {modality} package not installed ({exc})"))
            continue
        except Exception as exc:  # one bad attachment must never stop the batch
            out.append((f"{modality}/error", sha, None, f"error: {type(exc).__name__}: {exc}"))
            continue
        out.append((space, sha, None if vec is None else vec.astype(np.float32).tobytes(), status))
    return out


def _video_voice(path: Path):
    from xiaobao.video import extract_audio, has_audio

    if not has_audio(path):
        return "voice/none", None, "insufficient: video has no sound track"
    with tempfile.TemporaryDirectory() as tmp:
        wav = extract_audio(path, Path(tmp) / "track.wav")
        if wav is None:
            return "voice/none", None, "insufficient: no sound track extracted"
        return _voice(Path(wav))
