"""Quality gates for one detected face: size, sharpness, and how frontal it is.

All three are measured on things the pipeline already has (the box, the aligned 150x150 chip,
the 5 landmarks), so the gate costs almost nothing. Gates pick the frames a video track is
searched with, and keep poor samples out of the watchlist at enrolment; a photo that fails is
still searched, and its result says which gate it failed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# Defaults, chosen so that every ORL face (92x112 grayscale, ~75 px faces, some turned) passes
# while motion-blurred or profile faces in video frames do not.
MIN_FACE_PX = 40          # HOG with upsampling finds faces down to ~36 px; below 40 the descriptor degrades
MIN_SHARPNESS = 60.0      # contrast-normalised Laplacian variance of the 150x150 chip; ORL's lowest is ~170
MAX_YAW = 0.35            # |nose offset from the eye midpoint| / eye distance; ~0 frontal, >0.5 profile


@dataclass(frozen=True)
class QualityGate:
    min_face_px: int = MIN_FACE_PX
    min_sharpness: float = MIN_SHARPNESS
    max_yaw: float = MAX_YAW


@dataclass(frozen=True)
class FaceQuality:
    size_px: int
    sharpness: float
    yaw: float
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def score(self) -> float:
        """One number to rank frames of a track: bigger, sharper, more frontal is better."""
        size = min(1.0, self.size_px / 150.0)
        sharp = min(1.0, self.sharpness / 400.0)
        frontal = max(0.0, 1.0 - abs(self.yaw) / 0.6)
        return round(0.4 * size + 0.3 * sharp + 0.3 * frontal, 4)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "size_px": self.size_px,
            "sharpness": round(self.sharpness, 1),
            "yaw": round(self.yaw, 3),
            "score": self.score,
            "reasons": list(self.reasons),
        }


def sharpness(chip_rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the aligned chip after stretching its gray levels (1st-99th
    percentile to 0-255), so a dark or low-contrast face is not mistaken for a blurred one."""
    gray = cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2GRAY) if chip_rgb.ndim == 3 else chip_rgb
    g = gray.astype(np.float32)
    lo, hi = np.percentile(g, (1, 99))
    g = np.clip((g - lo) * (255.0 / max(float(hi - lo), 1.0)), 0, 255).astype(np.float32)
    return float(cv2.Laplacian(g, cv2.CV_32F).var())


def yaw_ratio(points: np.ndarray) -> float:
    """Signed horizontal nose offset for dlib's 5-point layout (two eyes x 2 corners, nose base)."""
    eye_a = points[0:2].mean(axis=0)
    eye_b = points[2:4].mean(axis=0)
    axis = eye_b - eye_a
    dist = float(np.linalg.norm(axis))
    if dist < 1e-6:
        return 1.0
    mid = (eye_a + eye_b) / 2.0
    return float(np.dot(points[4] - mid, axis / dist) / dist)


def assess(size_px: int, chip_rgb: np.ndarray, points: np.ndarray, gate: QualityGate = QualityGate()) -> FaceQuality:
    sharp = sharpness(chip_rgb)
    yaw = yaw_ratio(points)
    reasons = []
    if size_px < gate.min_face_px:
        reasons.append(f"face too small ({size_px} px < {gate.min_face_px})")
    if sharp < gate.min_sharpness:
        reasons.append(f"blurred (sharpness {sharp:.0f} < {gate.min_sharpness:.0f})")
    if abs(yaw) > gate.max_yaw:
        reasons.append(f"turned away (yaw {yaw:+.2f}, limit {gate.max_yaw:.2f})")
    return FaceQuality(size_px=int(size_px), sharpness=sharp, yaw=yaw, reasons=tuple(reasons))
