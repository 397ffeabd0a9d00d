"""One photo or video in, its faces out: detection, quality, descriptors and tracks.

A photo gives one single-frame track per face. A video is sampled (``fps``, default 2, capped
at ``max_frames``), every sampled frame's faces are described, and faces are grouped into
tracks (:mod:`xiaobao.video.tracks`), longest first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from xiaobao.enrolment import file_sha256

from .embedder import DlibFaceEmbedder
from .media import DEFAULT_FPS, DEFAULT_MAX_FRAMES, kind_of, load_image, probe_video, sample_frames
from .tracks import Track, build_tracks


@dataclass
class FileFaces:
    """What was found in one file."""

    path: str
    kind: str                     # "image" | "video"
    sha256: str
    tracks: list[Track] = field(default_factory=list)
    frames_sampled: int = 1
    duration_s: float = 0.0
    source_fps: float = 0.0
    truncated: bool = False       # the frame cap stopped sampling before the end
    grayscale: bool = False

    @property
    def dominant(self) -> Track | None:
        """The track on screen longest (for a photo: the largest face)."""
        return self.tracks[0] if self.tracks else None


def analyse_file(path, embedder: DlibFaceEmbedder | None = None, fps: float = DEFAULT_FPS,
                 max_frames: int | None = DEFAULT_MAX_FRAMES,
                 on_frame: Callable[[int], None] | None = None) -> FileFaces:
    """Faces of a photo or a video, grouped into tracks. Undecodable files raise ``InputError``."""
    p = Path(path)
    kind = kind_of(p)
    emb = embedder or DlibFaceEmbedder()
    if kind == "image":
        frame = load_image(p)
        faces = emb.faces(frame, thorough=True)
        tracks = [Track(i, [f]) for i, f in enumerate(faces, start=1)]
        return FileFaces(str(p), kind, file_sha256(p), tracks, 1, 0.0, 0.0, False, frame.grayscale)

    info = probe_video(p)
    per_frame = []
    n = 0
    gray = True
    last_index = -1
    for frame in sample_frames(p, fps=fps, max_frames=max_frames):
        n += 1
        gray = gray and frame.grayscale
        last_index = frame.index
        per_frame.append(emb.faces(frame, thorough=False, describe=False))  # tracking describes lazily
        if on_frame:
            on_frame(n)
    step = max(1.0, info.fps / fps) if fps and fps > 0 else 1.0
    # the cap stopped us if another sample was due before the end of the file
    truncated = bool(max_frames and n >= max_frames and info.frame_count and last_index + step < info.frame_count)
    return FileFaces(str(p), kind, file_sha256(p), build_tracks(per_frame, emb.describe), n, info.duration_s, info.fps,
                     truncated, gray)
