"""Group the faces of a video's sampled frames into tracks, one per person on screen.

A face that is alone where exactly one live track was joins it on position alone (descriptors
are the costly step; each track is still re-checked by descriptor every 1.5 s). Any other face
joins the live track it most resembles if it is also where that track was (boxes overlap or
are near, allowing for motion over the gap), or anywhere if the resemblance alone is strong
(a cut between cameras). A track stays live for ``max_gap_s`` without a sighting
(missed detections, a turned head); afterwards tracks of one person that never share a frame
are merged, so a face that leaves and comes back is one track.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .detect import iou
from .embedder import FaceSample, normalise

# dlib descriptors of different people are close in cosine (ORL impostor pairs: median 0.86,
# 99.9th percentile 0.93), while one person in consecutive frames scores 0.95-0.99. Joining two
# people in one track is worse than splitting one person in two, so the bars are high.
LINK_NEAR = 0.91      # cosine to join a track whose last box is close by
LINK_ANYWHERE = 0.95  # cosine to join a track wherever its last box was
MERGE = 0.95          # cosine between track templates to merge non-overlapping tracks
MAX_GAP_S = 3.0
POSITION_IOU = 0.3    # box overlap with a track's last box that links a face without a descriptor
POSITION_MAX_GAP_S = 1.0  # ...if the track was seen this recently (the previous sample or so)
VERIFY_EVERY_S = 1.5  # ...but a track's identity is re-checked by descriptor this often
BEST_DESCRIBED = 3    # frames per track described at the end (what search and enrolment use)


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
        """Mean of the best described frames' descriptors, re-normalised (averaging cancels
        per-frame noise)."""
        described = [s for s in self.best(len(self.samples)) if s.vector is not None][:n]
        return normalise(np.mean([s.vector for s in described], axis=0))

    @property
    def described_at(self) -> float:
        """Time of the latest sample with a descriptor."""
        return max((s.time_s for s in self.samples if s.vector is not None), default=-1e9)

    @property
    def quality_ok(self) -> bool:
        return any(s.quality.ok for s in self.samples)

    def _recent(self) -> np.ndarray:
        described = [s.vector for s in self.samples if s.vector is not None]
        return normalise(np.mean(described[-3:], axis=0))


def _near(track: Track, face: FaceSample) -> bool:
    last = track.samples[-1]
    if iou(last.box, face.box) >= 0.2:
        return True
    (ax, ay), (bx, by) = last.box.center, face.box.center
    gap = max(face.time_s - last.time_s, 0.0)
    reach = max(last.box.width, face.box.width) * (1.0 + gap)  # people move; allow ~1 face width/s
    return float(np.hypot(ax - bx, ay - by)) <= reach


def _all_described(samples) -> None:
    if any(s.vector is None for s in samples):
        raise ValueError("build_tracks needs a describe function for samples without descriptors")


def build_tracks(frames: list[list[FaceSample]], describe: Callable[[list[FaceSample]], None] | None = None,
                 max_gap_s: float = MAX_GAP_S, link_near: float = LINK_NEAR, link_anywhere: float = LINK_ANYWHERE,
                 merge: float = MERGE, verify_every_s: float = VERIFY_EVERY_S) -> list[Track]:
    """Tracks from the faces of each sampled frame (frames in time order). Longest track first.

    Descriptors are the expensive part, so samples may come without them (``vector=None``) and
    ``describe(samples)`` computes them only where needed: a face that is the only one where
    exactly one track was (boxes overlap) joins it undescribed, except that each track is
    re-checked by descriptor every ``verify_every_s``; every other face, and in the end each
    track's best frames, are described.
    """
    describe = describe or _all_described
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
        # 1. unambiguous overlaps: one face where one track was, and nothing else there
        cands = {fi: [ti for ti, t in enumerate(live)
                      if now - t.end_s <= POSITION_MAX_GAP_S and iou(t.samples[-1].box, f.box) >= POSITION_IOU]
                 for fi, f in enumerate(faces)}
        claims: dict[int, int] = {}
        for fi, tis in cands.items():
            for ti in tis:
                claims[ti] = claims.get(ti, 0) + 1
        by_position = {fi: tis[0] for fi, tis in cands.items() if len(tis) == 1 and claims[tis[0]] == 1}
        need = [f for fi, f in enumerate(faces)
                if fi not in by_position or now - live[by_position[fi]].described_at >= verify_every_s]
        describe(need)
        used_f, used_t = set(), set()
        split: list[Track] = []
        for fi, ti in by_position.items():
            face, track = faces[fi], live[ti]
            if face.vector is None or float(track._recent() @ face.vector) >= link_near:
                track.samples.append(face)
                used_f.add(fi)
                used_t.add(ti)
            else:
                # someone else took the place: the faces linked by position since the last check
                # may be that other person too; re-check them and move them out
                moved = _split_tail(track, describe, link_near)
                if moved:
                    split.append(moved)
        for t in split:
            t.id = next_id
            next_id += 1
            live.append(t)
        # 2. the rest by resemblance (and place)
        loose = [fi for fi in range(len(faces)) if fi not in used_f]
        describe([faces[fi] for fi in loose])
        pairs = []
        for fi in loose:
            for ti, track in enumerate(live):
                if ti in used_t:
                    continue
                sim = float(track._recent() @ faces[fi].vector)
                if sim >= link_anywhere or (sim >= link_near and _near(track, faces[fi])):
                    pairs.append((sim, fi, ti))
        for sim, fi, ti in sorted(pairs, reverse=True):
            if fi in used_f or ti in used_t:
                continue
            live[ti].samples.append(faces[fi])
            used_f.add(fi)
            used_t.add(ti)
        for fi in loose:
            if fi not in used_f:
                live.append(Track(next_id, [faces[fi]]))
                next_id += 1
    tracks = done + live
    for t in list(tracks):  # the tails linked by position after each track's last check
        moved = _split_tail(t, describe, link_near)
        if moved:
            tracks.append(moved)
    describe([s for t in tracks for s in t.best(BEST_DESCRIBED)])
    tracks = _merge(tracks, merge)
    tracks.sort(key=lambda t: (-len(t.samples), t.start_s))
    for i, t in enumerate(tracks, start=1):
        t.id = i
    return tracks


def _split_tail(track: Track, describe, link_near: float) -> Track | None:
    """Describe the samples linked by position since the track's last descriptor check and
    move those that are not the track's person into a new track (returned, id unset)."""
    anchor = track.described_at
    tail = [s for s in track.samples if s.vector is None and s.time_s > anchor]
    if not tail:
        return None
    ref = track._recent()
    describe(tail)
    odd = [s for s in tail if float(ref @ s.vector) < link_near]
    if not odd:
        return None
    odd_ids = {id(s) for s in odd}
    track.samples = [s for s in track.samples if id(s) not in odd_ids]
    return Track(0, odd)


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
