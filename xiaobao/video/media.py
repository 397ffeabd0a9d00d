"""Read photos and sample video frames through OpenCV.

Every image comes back as an RGB ``uint8`` array (grayscale is expanded to three channels,
because dlib's descriptor network takes RGB), with EXIF orientation already applied
(OpenCV's ``imread`` rotates JPEGs by their EXIF tag unless told not to).
Video frames are sampled by rate with a cap, and keep their timestamp in seconds.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# keep libav's own complaints about a broken file off the terminal: we raise one clear error
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np

from xiaobao.errors import InputError

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pbm", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_EXTS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"})

DEFAULT_FPS = 2.0
DEFAULT_MAX_FRAMES = 1200  # 10 minutes at 2 fps; longer calls are cut, and the result says so


@dataclass(frozen=True)
class Frame:
    """One decoded picture: ``index`` in the source, ``time_s`` from its start, RGB pixels."""

    index: int
    time_s: float
    image: np.ndarray
    grayscale: bool = False


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTS


def is_image(path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTS


def kind_of(path) -> str:
    """``"image"`` or ``"video"`` by extension; anything else is an :class:`InputError`."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found")
    if p.is_dir():
        raise InputError(p, "is a folder, expected a photo or a video file")
    if is_image(p):
        return "image"
    if is_video(p):
        return "video"
    known = ", ".join(sorted(IMAGE_EXTS | VIDEO_EXTS))
    raise InputError(p, f"unsupported file type {p.suffix or '(none)'!r}; expected one of {known}")


def to_rgb(pixels: np.ndarray) -> tuple[np.ndarray, bool]:
    """OpenCV BGR/BGRA/gray (uint8 or uint16) -> (contiguous RGB uint8, was_grayscale)."""
    if pixels.dtype != np.uint8:
        # 16-bit PNG/TIFF: scale down rather than clip, so the face keeps its contrast
        top = float(pixels.max()) or 1.0
        pixels = (pixels.astype(np.float32) * (255.0 / top)).astype(np.uint8)
    if pixels.ndim == 2:
        return np.ascontiguousarray(np.stack([pixels] * 3, axis=-1)), True
    if pixels.shape[2] == 1:
        return to_rgb(pixels[:, :, 0])
    if pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    rgb = np.ascontiguousarray(pixels[:, :, ::-1])
    return rgb, looks_gray(rgb)


def looks_gray(rgb: np.ndarray, tolerance: int = 12) -> bool:
    """A colour file can still hold a gray picture (scanned ID copies, night cameras); lossy
    codecs leave small chroma noise on it, hence the tolerance."""
    s = rgb[::4, ::4].astype(np.int16)
    return bool(np.abs(s[:, :, 0] - s[:, :, 1]).max() <= tolerance and np.abs(s[:, :, 1] - s[:, :, 2]).max() <= tolerance)


def load_image(path) -> Frame:
    """Decode a photo (EXIF orientation applied) into a single :class:`Frame` at t=0."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found")
    # IMREAD_ANYDEPTH|IMREAD_COLOR keeps 16-bit data; EXIF rotation stays on (no IGNORE_ORIENTATION)
    data = np.fromfile(str(p), dtype=np.uint8)  # fromfile+imdecode also works for non-ASCII paths
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if pixels is None:
        raise InputError(p, "cannot decode image (corrupt file or unsupported format)")
    if pixels.ndim == 3 and pixels.shape[2] in (3, 4):
        # IMREAD_UNCHANGED skips EXIF rotation, so decode again with it for colour JPEG/WebP
        oriented = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if oriented is not None and pixels.dtype == np.uint8:
            pixels = oriented
    elif pixels.ndim == 2 and pixels.dtype == np.uint8:
        oriented = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
        if oriented is not None:
            pixels = oriented
    rgb, gray = to_rgb(pixels)
    return Frame(index=0, time_s=0.0, image=rgb, grayscale=gray)


def _open(path) -> cv2.VideoCapture:
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise InputError(p, "cannot decode video (corrupt file or unsupported codec)")
    return cap


def probe_video(path) -> VideoInfo:
    cap = _open(path)
    try:
        return _info(cap)
    finally:
        cap.release()


def _info(cap: cv2.VideoCapture) -> VideoInfo:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 25.0  # containers without a rate: assume PAL, timestamps come from the decoder anyway
    return VideoInfo(
        fps=fps,
        frame_count=int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
    )


def sample_frames(path, fps: float = DEFAULT_FPS, max_frames: int | None = DEFAULT_MAX_FRAMES) -> Iterator[Frame]:
    """Yield frames of a video at about ``fps`` per second (``fps <= 0``: every frame).

    Frames that are not kept are only ``grab()``-ed, never converted to pixels, which is most
    of the speed-up over decoding every frame. Stops after ``max_frames`` kept frames.
    An unreadable file raises :class:`InputError`; so does a file that opens but yields no frame.
    """
    p = Path(path)
    cap = _open(p)
    try:
        info = _info(cap)
        step = 1.0 if fps is None or fps <= 0 else max(1.0, info.fps / float(fps))
        next_keep = 0.0
        index = -1
        kept = 0
        while max_frames is None or kept < max_frames:
            if not cap.grab():
                break
            index += 1
            if index + 1e-6 < next_keep:
                continue
            ok, bgr = cap.retrieve()
            if not ok or bgr is None:
                continue
            next_keep += step
            pos_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            t = index / info.fps
            if pos_ms and pos_ms > 0 and abs(pos_ms / 1000.0 - t) < 5.0:
                t = pos_ms / 1000.0
            rgb, gray = to_rgb(bgr)
            kept += 1
            yield Frame(index=index, time_s=round(t, 3), image=rgb, grayscale=gray)
        if index < 0:
            raise InputError(p, "cannot decode video: no frame could be read (corrupt file or unsupported codec)")
    finally:
        cap.release()


def load_frames(path, fps: float = DEFAULT_FPS, max_frames: int | None = DEFAULT_MAX_FRAMES) -> list[Frame]:
    """All sampled frames of a photo (one frame) or a video, chosen by the file's extension."""
    if kind_of(path) == "image":
        return [load_image(path)]
    return list(sample_frames(path, fps=fps, max_frames=max_frames))
