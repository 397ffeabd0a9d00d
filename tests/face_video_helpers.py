"""Real face pictures and videos for the face/video tests, made on the fly.

Faces come from photos shipped inside installed wheels (scikit-image's astronaut.png, Eileen
Collins; matplotlib's grace_hopper.jpg), so no test needs a download or the shared data.
Videos are composed frame by frame and encoded with OpenCV's VideoWriter; sound is muxed in
with the ffmpeg binary that imageio-ffmpeg ships.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf


@lru_cache(maxsize=None)
def astronaut() -> np.ndarray:
    """Eileen Collins' head and shoulders, RGB (crop of scikit-image's astronaut.png)."""
    from skimage import data
    return np.ascontiguousarray(data.astronaut()[20:260, 110:340])


@lru_cache(maxsize=None)
def grace() -> np.ndarray:
    """Grace Hopper's head, RGB (crop of matplotlib's sample grace_hopper.jpg)."""
    import matplotlib
    p = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    bgr = cv2.imread(str(p))
    return np.ascontiguousarray(bgr[60:460, 70:450, ::-1])


def fit(face: np.ndarray, height: int) -> np.ndarray:
    w = int(round(face.shape[1] * height / face.shape[0]))
    return cv2.resize(face, (w, height), interpolation=cv2.INTER_AREA if height < face.shape[0] else cv2.INTER_CUBIC)


def canvas(width: int, height: int, shade: int = 96) -> np.ndarray:
    """A plain background with a soft gradient (a flat field makes the encoder's job unrealistic)."""
    ramp = np.linspace(-20, 20, width, dtype=np.float32)[None, :, None]
    return np.clip(np.full((height, width, 3), shade, np.float32) + ramp, 0, 255).astype(np.uint8)


def paste(frame: np.ndarray, face: np.ndarray, x: int, y: int, height: int) -> tuple[int, int, int, int]:
    """Put ``face`` scaled to ``height`` at (x, y); returns its rectangle (l, t, r, b)."""
    f = fit(face, height)
    h, w = f.shape[:2]
    h = min(h, frame.shape[0] - y)
    w = min(w, frame.shape[1] - x)
    frame[y:y + h, x:x + w] = f[:h, :w]
    return x, y, x + w, y + h


def save_rgb(path, rgb: np.ndarray, params=None) -> Path:
    p = Path(path)
    img = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(p), img, params or []), p
    return p


def write_video(path, frames, fps: float = 25.0, fourcc: str = "mp4v") -> Path:
    """Encode RGB (or gray) frames with OpenCV's VideoWriter."""
    p = Path(path)
    frames = list(frames)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"cannot write {p} with {fourcc}"
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return p


def tone_wav(path, seconds: float, freq: float = 440.0, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)
    return Path(path)


def scene(seconds: float, fps: float = 25.0, size=(320, 240), grace_from=None, gray: bool = False):
    """Frames of a call: the astronaut drifts right the whole time; Grace Hopper is on screen
    from ``grace_from=(start_s, end_s)``. Returns the frames and, per frame, the truth boxes."""
    frames, truth = [], []
    for i in range(int(round(seconds * fps))):
        t = i / fps
        f = canvas(*size)
        boxes = {"astronaut": paste(f, astronaut(), 10 + int(6 * t), 30, 150)}
        if grace_from and grace_from[0] <= t < grace_from[1]:
            boxes["grace"] = paste(f, grace(), size[0] - 140, 40, 140)
        frames.append(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) if gray else f)
        truth.append(boxes)
    return frames, truth
