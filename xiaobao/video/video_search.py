"""``xiaobao video search``: one answer for the faces and the voice of a video.

The faces go through :func:`xiaobao.video.search.search_faces`; the audio track is extracted to
a temporary 16 kHz WAV with the packaged ffmpeg and handed to the voiceprint package's public
search, so the voice is matched exactly as ``xiaobao voice search`` would match it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from xiaobao.errors import InputError

from .audio import extract_audio
from .embedder import DlibFaceEmbedder
from .media import DEFAULT_FPS, DEFAULT_MAX_FRAMES, kind_of
from .search import search_faces

_RANK = {"match": 3, "possible": 2, "none": 1, "insufficient": 0}


def search_voice_track(ws, path, *, top: int = 5, kinds: Sequence[str] | None = None,
                       exclude_kinds: Sequence[str] | None = None, command: str | None = None) -> dict:
    """Extract the audio track and search it with the voiceprint search.

    Returns ``{"decision", "reason", "matches", ...}``; a video without sound gives decision
    ``insufficient`` with reason ``no audio track``.
    """
    with tempfile.TemporaryDirectory(prefix="xiaobao-audio-") as tmp:
        wav = extract_audio(path, Path(tmp) / "audio.wav")
        if wav is None:
            return {"decision": "insufficient", "reason": "no audio track", "matches": []}
        try:
            from xiaobao.voiceprint import search_voice  # the voiceprint package's public search
        except ImportError as exc:
            return {"decision": "insufficient", "reason": f"voice search unavailable ({exc})", "matches": []}
        try:
            found = search_voice(ws, wav, top=top, kinds=kinds, exclude_kinds=exclude_kinds, command=command)
        except InputError as exc:   # name the video, not the temporary WAV that disappears with this block
            raise InputError(path, f"audio track: {exc.reason}") from exc
    # The result names the video (the evidence an investigator has), not the temporary WAV.
    return {**found, "file": str(path)}


def search_video(ws, path, *, top: int = 5, fps: float = DEFAULT_FPS, max_frames: int | None = DEFAULT_MAX_FRAMES,
                 kinds: Sequence[str] | None = None, exclude_kinds: Sequence[str] | None = None,
                 evidence_dir=None, voice: bool = True, embedder: DlibFaceEmbedder | None = None,
                 command: str | None = None) -> dict:
    """Faces (per track, with frames and boxes) and voice (audio track) of one video.

    ``decision`` is the stronger of the two modalities' decisions; each keeps its own.
    """
    kind_of(path)  # clear error for a missing or unsupported file before any work
    faces = search_faces(ws, path, top=top, fps=fps, max_frames=max_frames, kinds=kinds,
                         exclude_kinds=exclude_kinds, evidence_dir=evidence_dir, embedder=embedder, command=command)
    out = {"file": faces["file"], "kind": faces["kind"], "sha256": faces["sha256"], "faces": faces}
    if voice and faces["kind"] == "video":
        out["voice"] = search_voice_track(ws, path, top=top, kinds=kinds, exclude_kinds=exclude_kinds, command=command)
    else:
        out["voice"] = {"decision": "insufficient",
                        "reason": "a photo has no sound" if faces["kind"] == "image" else "voice search turned off",
                        "matches": []}
    out["decision"] = max((faces["decision"], out["voice"]["decision"]), key=lambda d: _RANK.get(d, 0))
    return out
