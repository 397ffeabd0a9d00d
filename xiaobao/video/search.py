"""Watchlist operations on photos and videos: enrol a face, search faces, write evidence crops.

These are the library functions behind ``xiaobao face enroll`` / ``face search``; the video
search that also answers for the voice is in :mod:`xiaobao.video.video_search`.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np

from xiaobao.enrolment import set_aside_enrolled
from xiaobao.errors import DuplicateSampleError, InputError, UserError

from .analyse import FileFaces, analyse_file
from .embedder import DIM, SPACE, DlibFaceEmbedder
from .media import DEFAULT_FPS, DEFAULT_MAX_FRAMES
from .tracks import Track

BEST_FRAMES = 3  # frames per track used to search (averaged) and to enrol (one sample each)


@dataclass
class FacesToEnrol:
    """What enrolment needs from one analysed file, as plain data (a Ray worker sends it back)."""

    status: str                         # "enrolled" (ready to enrol) | "skipped" | "error"
    faces: int = 0
    reason: str = ""
    sha256: str | None = None
    vectors: np.ndarray | None = None   # [n, 128] best frames of the dominant track
    quality: list = field(default_factory=list)
    meta: list = field(default_factory=list)


class FaceEnrolWorker:
    """Analyses one photo or video for enrolment; built once per Ray actor (one model load)."""

    def __init__(self, fps: float = DEFAULT_FPS, max_frames: int | None = DEFAULT_MAX_FRAMES,
                 allow_low_quality: bool = False, embedder: DlibFaceEmbedder | None = None):
        self.emb = embedder or DlibFaceEmbedder()
        self.fps, self.max_frames, self.allow_low_quality = fps, max_frames, allow_low_quality

    def __call__(self, path) -> FacesToEnrol:
        try:
            found = analyse_file(path, self.emb, fps=self.fps, max_frames=self.max_frames)
        except InputError as exc:
            return FacesToEnrol("error", reason=exc.reason)
        n = len(found.tracks)
        track = found.dominant
        if track is None:
            return FacesToEnrol("skipped", n, "no face found", found.sha256)
        if not track.quality_ok and not self.allow_low_quality:
            reasons = "; ".join(track.best(1)[0].quality.reasons)
            return FacesToEnrol("skipped", n, f"face fails the quality gates ({reasons}); "
                                              "use --allow-low-quality to enrol it anyway", found.sha256)
        best = track.best(BEST_FRAMES if found.kind == "video" else 1)
        meta = [{"kind": found.kind, "time_s": s.time_s, "frame": s.frame_index, "box": s.box.as_list(),
                 "detector": s.box.method, "faces_in_file": n, "quality": s.quality.as_dict()} for s in best]
        return FacesToEnrol("enrolled", n, f"most prominent of {n} faces" if n > 1 else "", found.sha256,
                            np.stack([s.vector for s in best]), [s.quality.score for s in best], meta)


def enroll_faces(ws, subject_id: int, files: Iterable, *, fps: float = DEFAULT_FPS,
                 max_frames: int | None = DEFAULT_MAX_FRAMES, allow_low_quality: bool = False,
                 embedder: DlibFaceEmbedder | None = None, command: str | None = None,
                 on_file: Callable[[dict], None] | None = None, ray=None) -> list[dict]:
    """Enrol each file's face for ``subject_id``: a photo's largest face, a video's dominant track.

    A video enrols up to three best frames of its dominant track (one sample each). Files with
    no face, an undecodable file, a face failing the quality gates (unless
    ``allow_low_quality``) or a file already enrolled are reported and skipped; the others are
    kept. Returns one row per file: ``file, status (enrolled|skipped|error), sample_ids, reason``.
    Files already enrolled are recognised by content before any decoding, so a rerun after an
    interruption only works on what is left; each file is committed as it is enrolled.

    ``ray`` (True for a local Ray, or an address) analyses files on Ray workers (each loads the
    models once; ``embedder`` is then not used); rows are written here, in input order, and are
    the same as in-process.
    """
    from xiaobao.distributed import ItemError, map_items

    ws.get_subject(subject_id)  # unknown subject: NotFoundError before any work
    ws.ensure_space(SPACE, DIM)
    files = list(files)
    rows = [{"file": str(f), "status": "error", "sample_ids": [], "faces": 0, "reason": ""} for f in files]
    left, aside = set_aside_enrolled(ws, SPACE, subject_id, files, noun="content", source_uri=_source_uri)
    for i, (status, reason) in aside.items():
        rows[i].update(status=status, reason=reason)
    todo = {i for i, _ in left}
    if ray:
        worker = functools.partial(FaceEnrolWorker, fps, max_frames, allow_low_quality)
    else:
        worker = functools.partial(FaceEnrolWorker, fps, max_frames, allow_low_quality, embedder)
    paths = [str(f) for i, f in enumerate(files) if i in todo]
    results = map_items(paths, worker, ray=ray, batch_size=1) if paths else iter(())
    for i in range(len(files)):
        row = rows[i]
        if i in todo:
            _, got = next(results)
            if isinstance(got, ItemError):  # a crash on one file is that file's error row
                row.update(reason=got.message)
            else:
                row.update(status=got.status, faces=got.faces, reason=got.reason)
                if got.status == "enrolled":
                    try:
                        row["sample_ids"] = ws.enroll(subject_id, SPACE, got.vectors, sha256=got.sha256,
                                                      source_uri=_source_uri(files[i]), quality=got.quality,
                                                      meta=got.meta, command=command)
                    except DuplicateSampleError as exc:   # enrolled meanwhile by another run
                        row.update(status="skipped", reason=str(exc))
                    except UserError as exc:
                        row.update(status="error", reason=str(exc))
        if on_file:
            on_file(row)
    return rows


def _source_uri(f) -> str:
    return str(Path(f).resolve())


def _search_found(ws, found: FileFaces, *, top: int = 5, kinds: Sequence[str] | None = None,
                 exclude_kinds: Sequence[str] | None = None, command: str | None = None) -> dict:
    """Search every face/track of an analysed file (rows keep their best samples under ``_samples``)."""
    ws.ensure_space(SPACE, DIM)
    faces = []
    if found.tracks:
        queries = np.stack([t.template(BEST_FRAMES) for t in found.tracks])
        results = ws.search(SPACE, queries, k=top, kinds=kinds, exclude_kinds=exclude_kinds, command=command)
        for track, matches in zip(found.tracks, results):
            faces.append(_face_row(track, matches))
    overall = _overall(faces)
    return {
        "file": found.path,
        "kind": found.kind,
        "sha256": found.sha256,
        "space": SPACE,
        "frames_sampled": found.frames_sampled,
        "duration_s": round(found.duration_s, 3),
        "truncated": found.truncated,
        "grayscale": found.grayscale,
        "decision": overall,
        "reason": "no face found" if not faces else "",
        "faces": faces,
    }


def search_faces(ws, path, *, top: int = 5, fps: float = DEFAULT_FPS, max_frames: int | None = DEFAULT_MAX_FRAMES,
                 kinds: Sequence[str] | None = None, exclude_kinds: Sequence[str] | None = None,
                 evidence_dir=None, embedder: DlibFaceEmbedder | None = None, command: str | None = None) -> dict:
    """Whose face is in this photo or video, and in which frames.

    Returns the file's facts and one entry per face (photo) or track (video): the top ``top``
    subjects with score and decision, the track's time span and its best frames (timestamp,
    bounding box, quality). A face whose every frame fails the quality gates has decision
    ``insufficient`` (its scores are still listed); no face at all gives ``insufficient`` too.
    With ``evidence_dir``, crops of the matched faces are written there (``<stem>_face<track>_<t>s.jpg`` and a ``<stem>_evidence.json`` manifest).
    """
    found = analyse_file(path, embedder or DlibFaceEmbedder(), fps=fps, max_frames=max_frames)
    result = _search_found(ws, found, top=top, kinds=kinds, exclude_kinds=exclude_kinds, command=command)
    if evidence_dir is not None:
        result["evidence"] = _write_evidence(evidence_dir, found, result)
    return public(result)


def _face_row(track: Track, matches) -> dict:
    best = track.best(BEST_FRAMES)
    top = matches[0] if matches else None
    decision = top.decision if top else "none"
    if not track.quality_ok:
        decision = "insufficient"
    return {
        "track": track.id,
        "subject_id": top.subject_id if top else None,
        "subject_name": top.subject_name if top else None,
        "subject_kind": top.subject_kind if top else None,
        "score": round(float(top.score), 4) if top else None,
        "decision": decision,
        "start_s": track.start_s,
        "end_s": track.end_s,
        "n_frames": len(track.samples),
        "quality": best[0].quality.as_dict(),
        "frames": [{"time_s": s.time_s, "frame": s.frame_index, "box": s.box.as_list(), "detector": s.box.method,
                    "quality": s.quality.score} for s in best],
        "matches": [{"subject_id": m.subject_id, "subject_name": m.subject_name, "subject_kind": m.subject_kind,
                     "sample_id": m.sample_id, "score": round(float(m.score), 4), "decision": m.decision}
                    for m in matches],
        "_samples": best,  # for evidence crops; dropped before output
    }


_RANK = {"match": 3, "possible": 2, "none": 1, "insufficient": 0}


def _overall(faces: list[dict]) -> str:
    if not faces:
        return "insufficient"
    return max((f["decision"] for f in faces), key=lambda d: _RANK.get(d, 0))


def _write_evidence(evidence_dir, found: FileFaces, result: dict, decisions=("match", "possible")) -> dict:
    """Write crops (JPEG) of the faces whose decision is in ``decisions`` and a manifest.

    Files: ``<stem>_face<track>_<t>s.jpg`` per best frame, and ``<stem>_evidence.json`` listing
    for each crop the source file and its sha256, timestamp, frame, box, subject, score and decision.
    """
    out = Path(evidence_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the evidence folder ({exc.strerror})") from exc
    stem = Path(found.path).stem
    items = []
    for face in result["faces"]:
        if face["decision"] not in decisions:
            continue
        for s in face["_samples"]:
            name = f"{stem}_face{face['track']}_{s.time_s:08.2f}s.jpg"
            crop = s.crop if s.crop is not None and s.crop.size else s.chip
            cv2.imwrite(str(out / name), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
            items.append({"crop": name, "source": found.path, "sha256": found.sha256, "time_s": s.time_s,
                          "frame": s.frame_index, "box": s.box.as_list(), "track": face["track"],
                          "subject_id": face["subject_id"], "subject_name": face["subject_name"],
                          "score": face["score"], "decision": face["decision"]})
    manifest = out / f"{stem}_evidence.json"
    manifest.write_text(json.dumps({"source": found.path, "sha256": found.sha256, "space": SPACE, "crops": items},
                                   ensure_ascii=False, indent=2), encoding="utf-8")
    return {"dir": str(out), "manifest": str(manifest), "crops": [i["crop"] for i in items]}


def public(result: dict) -> dict:
    """The result without in-memory helpers (what ``--json`` prints)."""
    clean = dict(result)
    clean["faces"] = [{k: v for k, v in f.items() if not k.startswith("_")} for f in result.get("faces", [])]
    return clean
