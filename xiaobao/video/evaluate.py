"""Face identification/verification on a labelled folder of photos (``xiaobao eval face``).

Per identity the first N images (natural name order: 2.pgm before 10.pgm) are enrolled and
the rest are probes. A probe in which no face is found counts as an error, never as dropped:
for top-1 it is a miss, for the EER its genuine trial scores -1 (rejected) and its impostor
trials -1 (correctly rejected). Gallery scores are the best over an identity's enrolled
samples, the same "collapse by subject" rule the workspace search applies.
"""
from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

from xiaobao.errors import InputError, UserError

from .analyse import analyse_file
from .embedder import DlibFaceEmbedder
from .media import DEFAULT_FPS, kind_of, load_image

FILE_COLUMNS = ("file", "path", "filename", "image")


def natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(name))]


def read_labels(labels_csv, label_column: str, file_column: str | None = None) -> list[tuple[str, str]]:
    """(file, label) rows of a CSV; the file column is ``file_column`` or the first of file/path/filename/image."""
    p = Path(labels_csv)
    if not p.is_file():
        raise InputError(p, "labels file not found")
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        if label_column not in cols:
            raise InputError(p, f"no column {label_column!r} (columns: {', '.join(cols)})")
        fcol = file_column or next((c for c in FILE_COLUMNS if c in cols), None)
        if fcol is None or fcol not in cols:
            raise InputError(p, f"no file column (expected one of {', '.join(FILE_COLUMNS)})")
        rows = []
        for line, row in enumerate(reader, start=2):
            f, lab = (row.get(fcol) or "").strip(), (row.get(label_column) or "").strip()
            if not f or not lab:
                raise InputError(p, f"empty {fcol if not f else label_column}", line=line)
            rows.append((f, lab))
    if not rows:
        raise InputError(p, "no rows")
    return rows


def eer(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """Equal error rate and the threshold where false accepts meet false rejects."""
    if len(genuine) == 0 or len(impostor) == 0:
        return float("nan"), float("nan")
    thr = np.unique(np.concatenate([genuine, impostor]))
    g = np.sort(genuine)
    i = np.sort(impostor)
    frr = np.searchsorted(g, thr, side="left") / len(g)          # genuine below threshold
    far = 1.0 - np.searchsorted(i, thr, side="left") / len(i)    # impostor at/above threshold
    k = int(np.argmin(np.abs(far - frr)))
    return float((far[k] + frr[k]) / 2.0), float(thr[k])


def evaluate_faces(data_dir, labels_csv, label_column: str, enroll: int = 1, file_column: str | None = None,
                   embedder: DlibFaceEmbedder | None = None, fps: float = DEFAULT_FPS,
                   on_item: Callable[[str, str | None], None] | None = None) -> dict:
    """Run the evaluation; returns ``eer``, ``top1``, ``n_identities``, ``n_trials`` (probe x identity
    pairs scored for the EER), ``n_tests`` (probes), ``no_face`` and details.

    Items may be photos or videos (a video counts as its dominant face track, sampled at ``fps``).
    Unreadable files are reported in ``bad_files`` and counted like ``no_face`` (errors).
    """
    if enroll < 1:
        raise UserError("--enroll must be at least 1")
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(root, "data folder not found")
    emb = embedder or DlibFaceEmbedder()
    by_id: dict[str, list[str]] = defaultdict(list)
    for f, lab in read_labels(labels_csv, label_column, file_column):
        by_id[lab].append(f)

    def vector(rel: str):
        try:
            if kind_of(root / rel) == "video":
                # a clip stands for its dominant track, searched with its best frames (as in search)
                track = analyse_file(root / rel, emb, fps=fps).dominant
                found = [(track.template(), track.best(1)[0].box.method)] if track else []
            else:
                found = [(f.vector, f.box.method) for f in emb.faces(load_image(root / rel), thorough=True)]
        except InputError as e:
            bad.append(str(e))
            if on_item:
                on_item(rel, "bad")
            return None, None
        if on_item:
            on_item(rel, None if found else "no_face")
        return found[0] if found else (None, None)

    bad: list[str] = []
    methods: dict[str, int] = defaultdict(int)
    gallery, gallery_ids, probes = [], [], []
    no_face = no_face_enrol = 0
    ids = sorted(by_id)
    for lab in ids:
        files = sorted(by_id[lab], key=natural_key)
        for rel in files[:enroll]:
            v, m = vector(rel)
            if v is None:
                no_face_enrol += 1
                continue
            methods[m] += 1
            gallery.append(v)
            gallery_ids.append(lab)
        for rel in files[enroll:]:
            v, m = vector(rel)
            if v is None:
                no_face += 1
            else:
                methods[m] += 1
            probes.append((lab, v))
    if not probes:
        raise UserError(f"no probe images: every identity has at most {enroll} image(s)")

    id_index = {lab: i for i, lab in enumerate(ids)}
    G = np.stack(gallery) if gallery else np.zeros((0, 128), np.float32)
    gid = np.array([id_index[x] for x in gallery_ids], dtype=int)
    correct = 0
    genuine, impostor = [], []
    for lab, v in probes:
        per_id = np.full(len(ids), -1.0, dtype=np.float64)  # identities with no enrolled face score -1
        if v is not None and len(G):
            s = G @ v
            np.maximum.at(per_id, gid, s)
        truth = id_index[lab]
        if v is not None and len(G) and int(np.argmax(per_id)) == truth and per_id[truth] > -1.0:
            correct += 1
        genuine.append(per_id[truth])
        impostor.extend(np.delete(per_id, truth).tolist())
    rate, thr = eer(np.array(genuine), np.array(impostor))
    return {
        "eer": round(rate, 4),
        "eer_threshold": round(thr, 4),
        "top1": round(correct / len(probes), 4),
        "n_identities": len(ids),
        # As in `eval voice`: trials are the probe-vs-identity pairs the EER is computed over;
        # tests are the probe images (top-1 is over these).
        "n_trials": len(genuine) + len(impostor),
        "n_tests": len(probes),
        "n_enrolled": len(gallery),
        "no_face": no_face,
        "no_face_enrol": no_face_enrol,
        "bad_files": bad,
        "detector": dict(sorted(methods.items())),
        "enroll": enroll,
        "space": emb.space,
    }
