"""Face detection: dlib's HOG detector first, OpenCV's Haar cascade as the fallback.

Why this order: dlib's HOG boxes are the ones its 5-point landmark model and descriptor network
were trained with, so they give the best embeddings. HOG's smallest face is about 80 px, so
small faces need upsampling (``upsample=1`` doubles the image, finding ~40 px faces).
HOG also misses faces that fill a tight portrait (an ID photo, a 92x112 crop): the sliding
window needs some margin around the head, so for still photos a second pass runs on the image
padded by replicating its borders, then one on a contrast-equalised (CLAHE) copy for dark or
washed-out photos, then on copies turned by +-45, +-90 and 180 degrees for tilted heads and sideways
photos (and upside down). When HOG still finds nothing, the Haar cascade shipped with
OpenCV (``cv2.data.haarcascades``) is tried: it is less precise but finds dark, small and
slightly turned faces that HOG misses; its boxes are mapped onto HOG's framing so the landmark
model sees what it expects.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np

from xiaobao.errors import ModelUnavailableError

HAAR_FILE = "haarcascade_frontalface_default.xml"
# Haar boxes are larger and sit a little higher than dlib HOG boxes for the same face. Median
# over the 376 ORL faces that both detectors found: HOG width = 0.89 x Haar width, HOG centre
# 0.085 x Haar width lower, no horizontal shift.
HAAR_TO_HOG = (0.89, 0.085)  # (size factor, downward shift as a fraction of the Haar box)
PAD_FRACTION = 0.3
# Next to a confident face (HOG score >= 1), a detection scoring near zero is nearly always a
# face-like pattern (a mission badge, a printed photo on a wall); on its own it is kept.
CONFIDENT_SCORE = 1.0
WEAK_SCORE = 0.05
MAX_DETECT_SIDE = 1600  # larger photos are detected on a downscaled copy (boxes scaled back)


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in image pixels (right/bottom exclusive) and how it was found."""

    left: int
    top: int
    right: int
    bottom: int
    score: float = 0.0
    method: str = "hog"
    # the face is upright once the picture is turned by this many degrees (OpenCV's
    # counter-clockwise convention) about the box centre; 0 for all but the rotated pass
    angle: float = 0.0

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    def to_dlib(self) -> dlib.rectangle:
        return dlib.rectangle(int(self.left), int(self.top), int(self.right), int(self.bottom))

    def clipped(self, width: int, height: int) -> "FaceBox":
        """The part of the box inside a ``width`` x ``height`` picture (for crops and reports)."""
        return FaceBox(max(0, self.left), max(0, self.top), min(width, self.right), min(height, self.bottom),
                       self.score, self.method, self.angle)

    def as_list(self) -> list[int]:
        return [int(self.left), int(self.top), int(self.right), int(self.bottom)]


def prominence(b: FaceBox) -> float:
    """Order of faces in a picture: big and confidently detected first (the subject of a photo)."""
    return b.area * min(1.0, max(b.score, 0.0) + 0.5)


def iou(a: FaceBox, b: FaceBox) -> float:
    ix = max(0, min(a.right, b.right) - max(a.left, b.left))
    iy = max(0, min(a.bottom, b.bottom) - max(a.top, b.top))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def _nms(boxes: list[FaceBox], thresh: float = 0.3) -> list[FaceBox]:
    kept: list[FaceBox] = []
    for b in sorted(boxes, key=lambda x: -x.score):
        if all(iou(b, k) < thresh for k in kept):
            kept.append(b)
    return kept


def _haar_path() -> Path:
    p = Path(cv2.data.haarcascades) / HAAR_FILE
    if not p.exists():
        raise ModelUnavailableError(
            f"OpenCV Haar cascade not found at {p}; reinstall opencv-python-headless, which ships it"
        )
    return p


METHODS = ("hog", "hog-padded", "hog-equalized", "hog-rotated", "haar")
ROTATIONS = (45.0, -45.0, 90.0, -90.0, 180.0)  # HOG tolerates ~35 degrees of roll; these cover the rest


class FaceDetector:
    """Find faces in an RGB image.

    ``upsample``: HOG pyramid upsampling for video frames (``None``: 1 for frames whose short
    side is at most 480 px, else 0). Still photos (``thorough=True``) always try both 0 and 1
    and merge. ``methods`` are the passes, tried in order until one finds a face: ``"hog"``,
    ``"hog-padded"``, ``"hog-equalized"`` and ``"hog-rotated"`` (still photos only) and ``"haar"``
    (the fallback).
    """

    def __init__(self, upsample: int | None = None, methods: tuple[str, ...] = METHODS):
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown detection method(s) {unknown}; known: {', '.join(METHODS)}")
        self.upsample = upsample
        self.methods = tuple(methods)
        self._hog = dlib.get_frontal_face_detector()
        self._haar = None
        self._clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

    # --- public -------------------------------------------------------------------------
    def detect(self, rgb: np.ndarray, thorough: bool = True) -> list[FaceBox]:
        """Faces in ``rgb`` (H x W x 3 uint8), most prominent first. ``thorough`` is for still photos."""
        # dlib reads raw buffers: a strided view (e.g. one channel sliced out) must be copied
        gray = np.ascontiguousarray(rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        scale = 1.0
        if max(gray.shape) > MAX_DETECT_SIDE:
            scale = MAX_DETECT_SIDE / float(max(gray.shape))
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        boxes = self._detect_gray(gray, thorough)
        if scale != 1.0:
            boxes = [_scaled(b, 1.0 / scale) for b in boxes]
        # boxes may reach past the edge (padded pass): the landmark model needs the unclipped
        # box; use FaceBox.clipped() for crops and reports
        return sorted(boxes, key=prominence, reverse=True)

    # --- passes -------------------------------------------------------------------------
    def _detect_gray(self, gray: np.ndarray, thorough: bool) -> list[FaceBox]:
        if "hog" in self.methods:
            if thorough:
                found = self._hog_pass(gray, 0) + self._hog_pass(gray, 1)
            else:
                up = self.upsample if self.upsample is not None else (1 if min(gray.shape) <= 480 else 0)
                found = self._hog_pass(gray, up)
            found = _nms(found)
            if any(b.score >= CONFIDENT_SCORE for b in found):
                found = [b for b in found if b.score >= WEAK_SCORE]
            if found:
                return found
        if thorough and "hog-padded" in self.methods:
            found = self._padded_hog(gray)
            if found:
                return found
        if thorough and "hog-equalized" in self.methods:
            # dark or flat photos: local contrast equalisation restores the gradients HOG reads
            eq = self._clahe.apply(gray)
            found = _nms(self._hog_pass(eq, 0, "hog-equalized") + self._hog_pass(eq, 1, "hog-equalized"))
            if not found:
                found = self._padded_hog(eq, method="hog-equalized")
            if found:
                return found
        if thorough and "hog-rotated" in self.methods:
            # a tilted head or a sideways photo without an EXIF tag: look on turned copies
            for angle in ROTATIONS:
                found = self._rotated_hog(gray, angle)
                if found:
                    return found
        if "haar" in self.methods:
            return self._haar_pass(gray, padded=thorough)
        return []

    def _rotated_hog(self, gray: np.ndarray, angle: float) -> list[FaceBox]:
        h, w = gray.shape
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
        cos, sin = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
        m[0, 2] += nw / 2.0 - w / 2.0
        m[1, 2] += nh / 2.0 - h / 2.0
        turned = cv2.warpAffine(gray, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        found = _nms(self._hog_pass(turned, 0, "hog-rotated") + self._hog_pass(turned, 1, "hog-rotated"))
        back = cv2.invertAffineTransform(m)
        out = []
        for b in found:
            cx, cy = back @ np.array([*b.center, 1.0])
            half = b.width / 2.0
            out.append(FaceBox(int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half)),
                               b.score, "hog-rotated", angle))
        return out

    def _hog_pass(self, gray: np.ndarray, upsample: int, method: str = "hog") -> list[FaceBox]:
        rects, scores, _ = self._hog.run(gray, upsample, 0.0)
        return [FaceBox(r.left(), r.top(), r.right(), r.bottom(), float(s), method) for r, s in zip(rects, scores)]

    def _padded_hog(self, gray: np.ndarray, method: str = "hog-padded") -> list[FaceBox]:
        # a tight portrait leaves the HOG window no margin: give it one by replicating the border
        pad = int(round(max(gray.shape) * PAD_FRACTION))
        padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        for up in (0, 1):
            found = _nms(self._hog_pass(padded, up, method=method))
            if found:
                return [_shifted(b, -pad) for b in found]
        return []

    def _haar_pass(self, gray: np.ndarray, padded: bool) -> list[FaceBox]:
        if self._haar is None:
            self._haar = cv2.CascadeClassifier(str(_haar_path()))
        pad = int(round(max(gray.shape) * PAD_FRACTION)) if padded else 0
        img = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else gray
        img = cv2.equalizeHist(img)  # evens out dark and backlit faces, which is what Haar is here for
        min_side = max(24, int(min(gray.shape) * 0.08))
        rects, _, weights = self._haar.detectMultiScale3(
            img, scaleFactor=1.1, minNeighbors=4, minSize=(min_side, min_side), outputRejectLevels=True
        )
        out = []
        for (x, y, w, h), s in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1)):
            f, dy = HAAR_TO_HOG
            nw = w * f
            cx, cy = x + w / 2.0, y + h / 2.0 + dy * h
            out.append(
                FaceBox(int(round(cx - nw / 2 - pad)), int(round(cy - nw / 2 - pad)),
                        int(round(cx + nw / 2 - pad)), int(round(cy + nw / 2 - pad)), float(s), "haar")
            )
        return _nms(out)


def _scaled(b: FaceBox, f: float) -> FaceBox:
    return FaceBox(int(round(b.left * f)), int(round(b.top * f)), int(round(b.right * f)), int(round(b.bottom * f)),
                   b.score, b.method, b.angle)


def _shifted(b: FaceBox, d: int) -> FaceBox:
    return FaceBox(b.left + d, b.top + d, b.right + d, b.bottom + d, b.score, b.method, b.angle)


