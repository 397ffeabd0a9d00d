"""Face benchmarks: ORL accuracy, and video speed against a naive per-frame loop.

    .venv/bin/python benchmarks/bench_face.py                 # both parts
    .venv/bin/python benchmarks/bench_face.py --part accuracy
    .venv/bin/python benchmarks/bench_face.py --part speed --naive-seconds 60

(a) Accuracy: ``evaluate_faces`` (what ``xiaobao eval face`` runs) on ORL/AT&T faces from
    ../shared/data/faces/orl_att (92x112 grayscale, small faces) with --enroll 1 and 3;
    images where no face is found count as errors.
(b) Speed: a 60 s 640x360 30 fps clip is made here (faces from ORL and from photos shipped in
    scikit-image/matplotlib, entering and leaving, 2-8 s on screen, up to three at once).
    Ours: ``analyse_file`` at the default sampling (2 fps). Naive: decode every frame, detect,
    embed every face, on the first ``--naive-seconds`` of the same clip. Both report source
    frames per wall second; the ratio is ours / naive. Every appearance of >= 2 s must be in a
    track ("lost" counts those that are not).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from xiaobao.video import DlibFaceEmbedder, analyse_file, evaluate_faces  # noqa: E402
from xiaobao.video.detect import FaceBox, iou  # noqa: E402
from xiaobao.video.media import to_rgb  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
ORL = DATA / "faces" / "orl_att"


def accuracy(emb) -> list[dict]:
    if not (ORL / "labels.csv").is_file():
        print(f"accuracy: skipped, {ORL} not found")
        return []
    out = []
    for n in (1, 3):
        t = time.perf_counter()
        r = evaluate_faces(ORL, ORL / "labels.csv", "identity", enroll=n, embedder=emb)
        r["seconds"] = round(time.perf_counter() - t, 1)
        r.pop("bad_files")
        print(f"ORL --enroll {n}: " + json.dumps(r))
        out.append(r)
    return out


# ---------------------------------------------------------------- the clip
def _faces() -> dict[str, np.ndarray]:
    from face_video_helpers import astronaut, grace
    faces = {"astronaut": astronaut(), "grace": grace()}
    if ORL.is_dir():
        for person in ("s3", "s5", "s12", "s20", "s27", "s33"):
            img = cv2.imread(str(ORL / person / "1.pgm"), cv2.IMREAD_GRAYSCALE)
            if img is not None:
                faces[f"orl_{person}"] = to_rgb(img)[0]
    return faces


def make_clip(path: Path, seconds: float = 60.0, fps: float = 30.0, size=(640, 360), seed: int = 7):
    """Write the clip; return its appearances: (name, start_s, end_s, slot) and per-frame boxes."""
    from face_video_helpers import canvas, fit
    rng = random.Random(seed)
    faces = _faces()
    names = sorted(faces)
    slots = [(20, 40), (230, 60), (440, 30)]  # three places on screen, faces drift a little
    appearances = []
    starts = [rng.uniform(0.0, 2.0) for _ in slots]
    for slot in range(len(slots)):
        t = starts[slot]
        while t < seconds - 2.0:
            dur = min(rng.uniform(2.0, 8.0), seconds - t)
            busy = {n for n, a, b, _ in appearances if a < t + dur and t < b}  # one person, one place
            appearances.append((rng.choice([n for n in names if n not in busy]), round(t, 2), round(t + dur, 2), slot))
            t += dur + rng.uniform(0.5, 3.0)
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    truth = []
    heights = {n: (190 if n in ("astronaut", "grace") else 170) for n in names}
    scaled = {n: fit(faces[n], heights[n]) for n in names}
    for i in range(int(seconds * fps)):
        t = i / fps
        frame = canvas(w, h)
        boxes = []
        for k, (name, a, b, slot) in enumerate(appearances):
            if a <= t < b:
                x0, y0 = slots[slot]
                x = int(x0 + 15 * np.sin(0.8 * t + slot))
                y = int(y0 + 10 * np.cos(0.6 * t + slot))
                f = scaled[name]
                fh, fw = f.shape[:2]
                fh, fw = min(fh, h - y), min(fw, w - x)
                frame[y:y + fh, x:x + fw] = f[:fh, :fw]
                boxes.append((k, FaceBox(x, y, x + fw, y + fh)))
        truth.append(boxes)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return appearances, truth


def naive_loop(path: Path, emb, seconds: float) -> tuple[int, float]:
    """Decode every frame, detect, embed every face: the baseline."""
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    limit = int(seconds * fps)
    n = 0
    t = time.perf_counter()
    from xiaobao.video.media import Frame
    while n < limit:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb, _ = to_rgb(bgr)
        emb.faces(Frame(n, n / fps, rgb), thorough=False)
        n += 1
    cap.release()
    return n, time.perf_counter() - t


def speed(emb, naive_seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        appearances, truth = make_clip(clip)
        t = time.perf_counter()
        found = analyse_file(clip, emb, fps=2.0)
        ours_s = time.perf_counter() - t
        total_frames = len(truth)
        naive_n, naive_s = naive_loop(clip, emb, naive_seconds)

    # which appearance does each tracked face belong to (by box overlap in its frame)?
    lost, covered, fragments, split = [], 0, [], []
    owner: dict[int, set[int]] = {}
    for tr in found.tracks:
        for s in tr.samples:
            for k, box in truth[s.frame_index]:
                if iou(s.box, box) > 0.1:
                    owner.setdefault(k, set()).add(tr.id)
    # a track must hold one person: count tracks whose faces belong to several people
    people_of: dict[int, set[str]] = {}
    for tr in found.tracks:
        for s in tr.samples:
            for k, box in truth[s.frame_index]:
                if iou(s.box, box) > 0.1:
                    people_of.setdefault(tr.id, set()).add(appearances[k][0])
    mixed = {t: sorted(p) for t, p in people_of.items() if len(p) > 1}
    long_ones = [(k, a) for k, a in enumerate(appearances) if a[2] - a[1] >= 2.0]
    for k, (name, a, b, slot) in long_ones:
        if k in owner:
            covered += 1
            fragments.append(len(owner[k]))
            if len(owner[k]) > 1:
                split.append({"who": name, "start_s": a, "end_s": b, "tracks": sorted(owner[k])})
        else:
            lost.append({"who": name, "start_s": a, "end_s": b})
    ours_fps = total_frames / ours_s
    naive_fps = naive_n / naive_s
    r = {
        "clip": "60 s, 640x360, 30 fps, mp4v",
        "sampling_fps": 2.0,
        "frames_sampled": found.frames_sampled,
        "ours_frames_per_s": round(ours_fps, 1),
        "ours_seconds": round(ours_s, 2),
        "naive_frames_per_s": round(naive_fps, 2),
        "naive_frames": naive_n,
        "naive_seconds": round(naive_s, 2),
        "speedup": round(ours_fps / naive_fps, 1),
        "appearances_2s_or_more": len(long_ones),
        "tracked": covered,
        "lost": len(lost),
        "lost_detail": lost,
        "tracks": len(found.tracks),
        "tracks_per_appearance_max": max(fragments) if fragments else 0,
        "split_detail": split,
        "identities": len({a[0] for a in appearances}),
        "tracks_mixing_people": len(mixed),
        "mixed_detail": mixed,
    }
    print("video speed: " + json.dumps(r))
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("all", "accuracy", "speed"), default="all")
    ap.add_argument("--naive-seconds", type=float, default=10.0,
                    help="seconds of the clip the naive loop runs on (its rate is per frame)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    emb = DlibFaceEmbedder()
    out = {}
    if args.part in ("all", "accuracy"):
        out["accuracy"] = accuracy(emb)
    if args.part in ("all", "speed"):
        out["speed"] = speed(emb, args.naive_seconds)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    acc1 = next((r for r in out.get("accuracy", []) if r["enroll"] == 1), None)
    if acc1 is not None and acc1["top1"] < 0.99:
        print(f"FLOOR MISSED: ORL --enroll 1 top-1 {acc1['top1']} < 0.99")
    sp = out.get("speed")
    if sp and (sp["speedup"] < 5 or sp["lost"] or sp["tracks_mixing_people"]):
        print(f"FLOOR MISSED: speed-up {sp['speedup']}x (floor 5x), lost tracks {sp['lost']}, "
              f"tracks mixing people {sp['tracks_mixing_people']}")


if __name__ == "__main__":
    main()
