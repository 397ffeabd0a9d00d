"""Group the faces of a video's sampled frames into tracks, one per person on screen.

A face joins the live track it most resembles if it is also where that track was (boxes
overlap or are near, allowing for motion over the gap), or anywhere if the resemblance alone
is strong (a cut between cameras). A track stays live for ``max_gap_s`` without a sighting
(missed detections, a turned head); afterwards tracks of one person that never share a frame
are merged, so a face that leaves and comes back is one track.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .detect import iou
from .embedder import FaceSample, normalise

LINK_NEAR = 0.86     # cosine to join a track whose last box is close by
LINK_ANYWHERE = 0.93  # cosine to join a track wherever its last box was
MERGE = 0.93         # cosine between track templates to merge non-overlapping tracks
MAX_GAP_S = 3.0


@dataclass
class Track:
    """One person's faces across frames, in time order."""

    id: int
    samples: list[FaceSample] = field(default_factory=list)

    @property
    def start_s(self) -> float:
        return self.samples[0].time_s

    @property
    def end_s(self) -> float:
        return self.samples[-1].time_s

    @property
    def frames(self) -> set[int]:
        return {s.frame_index for s in self.samples}

    def best(self, n: int = 3) -> list[FaceSample]:
        """The ``n`` frames to search with: gate-passing faces first, then by quality score."""
        ranked = sorted(self.samples, key=lambda s: (not s.quality.ok, -s.quality.score, s.time_s))
        return ranked[:n]

    def template(self, n: int = 3) -> np.ndarray:
        """Mean of the best frames' descriptors, re-normalised (averaging cancels per-frame noise)."""
        return normalise(np.mean([s.vector for s in self.best(n)], axis=0))

    @property
    def quality_ok(self) -> bool:
        return any(s.quality.ok for s in self.samples)

    def _recent(self) -> np.ndarray:
        return normalise(np.mean([s.vector for s in self.samples[-3:]], axis=0))


def _near(track: Track, face: FaceSample) -> bool:
    last = track.samples[-1]
    if iou(last.box, face.box) >= 0.2:
        return True
    (ax, ay), (bx, by) = last.box.center, face.box.center
    gap = max(face.time_s - last.time_s, 0.0)
    reach = max(last.box.width, face.box.width) * (1.0 + 2.0 * gap)  # people move; allow ~2 face widths/s
    return float(np.hypot(ax - bx, ay - by)) <= reach


def build_tracks(frames: list[list[FaceSample]], max_gap_s: float = MAX_GAP_S,
                 link_near: float = LINK_NEAR, link_anywhere: float = LINK_ANYWHERE,
                 merge: float = MERGE) -> list[Track]:
    """Tracks from the faces of each sampled frame (frames in time order). Longest track first."""
    live: list[Track] = []
    done: list[Track] = []
    next_id = 1
    for faces in frames:
        if not faces:
            continue
        now = faces[0].time_s
        for t in [t for t in live if now - t.end_s > max_gap_s]:
            live.remove(t)
            done.append(t)
        pairs = []
        for fi, face in enumerate(faces):
            for ti, track in enumerate(live):
                sim = float(track._recent() @ face.vector)
                if sim >= link_anywhere or (sim >= link_near and _near(track, face)):
                    pairs.append((sim, fi, ti))
        used_f, used_t = set(), set()
        for sim, fi, ti in sorted(pairs, reverse=True):
            if fi in used_f or ti in used_t:
                continue
            live[ti].samples.append(faces[fi])
            used_f.add(fi)
            used_t.add(ti)
        for fi, face in enumerate(faces):
            if fi not in used_f:
                live.append(Track(next_id, [face]))
                next_id += 1
    tracks = _merge(done + live, merge)
    tracks.sort(key=lambda t: (-len(t.samples), t.start_s))
    for i, t in enumerate(tracks, start=1):
        t.id = i
    return tracks


def _merge(tracks: list[Track], threshold: float) -> list[Track]:
    tracks = sorted(tracks, key=lambda t: t.start_s)
    merged = True
    while merged:
        merged = False
        best = None
        for i in range(len(tracks)):
            for j in range(i + 1, len(tracks)):
                a, b = tracks[i], tracks[j]
                if a.frames & b.frames:
                    continue  # two faces in one frame are two people
                sim = float(a.template() @ b.template())
                if sim >= threshold and (best is None or sim > best[0]):
                    best = (sim, i, j)
        if best:
            _, i, j = best
            a, b = tracks[i], tracks[j]
            a.samples = sorted(a.samples + b.samples, key=lambda s: (s.time_s, s.frame_index))
            del tracks[j]
            merged = True
    return tracks
