"""Voiceprint operations on a workspace: enrol, search (with staff windows set aside), verify, calibrate."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xiaobao.enrolment import set_aside_enrolled
from xiaobao.errors import InputError, UserError

from .audio import TARGET_RATE, load_audio
from .embedders import _l2, get_embedder
from .labelled import read_labels
from .scoring import eer, min_dcf, threshold_at_far
from .speech import keep_speech

MIN_SPEECH_S = 1.5
WINDOW_S = 3.0      # scoring window: long enough for a stable embedding, short enough to separate two voices
HOP_S = 1.5
AUDIO_EXT = {".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".amr", ".opus", ".wma", ".webm"}


@dataclass
class Speech:
    path: str
    samples: np.ndarray                   # speech only, 16 kHz
    segments: list                        # (start, end) samples in the original recording
    source_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / TARGET_RATE

    def original_range(self, a: int, b: int) -> list[tuple[float, float]]:
        """Map a [a, b) span of the joined speech back to time ranges (seconds) in the recording."""
        out, pos = [], 0
        for s, e in self.segments:
            n = e - s
            lo, hi = max(a, pos), min(b, pos + n)
            if lo < hi:
                out.append((round((s + lo - pos) / TARGET_RATE, 2), round((s + hi - pos) / TARGET_RATE, 2)))
            pos += n
        return out


def read_speech(path, channel: str = "mix") -> Speech:
    audio = load_audio(path, channel)
    samples, segs = keep_speech(audio.samples)
    return Speech(str(path), samples, segs, audio.source_rate)


def collect_files(paths) -> list[Path]:
    """Files as given, folders expanded to the audio files inside (sorted)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXT)
        else:
            out.append(p)
    return out


def _speech_to_enrol(path, channel: str, min_speech: float) -> Speech:
    """Decode one recording and insist on enough speech (the check both enrolment paths make)."""
    sp = read_speech(path, channel)
    if sp.seconds < min_speech:
        raise InputError(path, f"only {sp.seconds:.1f} s of speech (need {min_speech} s) to enrol")
    return sp


@dataclass
class _Refused:
    """A recording a worker could not enrol, as plain data (InputError itself does not pickle)."""

    path: str
    reason: str


class VoiceEnrolWorker:
    """Decodes, checks and embeds one recording; built once per Ray actor (one model load)."""

    def __init__(self, backend: str = "resemblyzer", model_dir=None, channel: str = "mix",
                 min_speech: float = MIN_SPEECH_S):
        self.emb = get_embedder(backend, model_dir)
        self.channel, self.min_speech = channel, min_speech

    def __call__(self, path):
        try:
            sp = _speech_to_enrol(path, self.channel, self.min_speech)
        except InputError as exc:
            return _Refused(exc.path, exc.reason)
        return sp.seconds, sp.source_rate, self.emb.embed([sp.samples])[0]


def _row(f, status: str, reason: str = "", sample_id=None, speech_seconds=None) -> dict:
    return {"file": str(f), "status": status, "sample_id": sample_id, "speech_seconds": speech_seconds,
            "reason": reason}


def enroll_files(ws, subject_id: int, files, *, backend="resemblyzer", model_dir=None, channel="mix",
                 min_speech: float = MIN_SPEECH_S, command=None, ray=None) -> list[dict]:
    """Enrol each file as one sample of the subject; one row per file, in the order given.

    Row: ``file, status (enrolled|skipped|error), sample_id, speech_seconds, reason``. A bad file
    (undecodable, less than ``min_speech`` seconds of speech, enrolled under another subject) is
    an ``error`` row and the others are enrolled, as in every batch. Files this subject already
    has, or given twice, are ``skipped`` without decoding (so a run stopped half-way is simply run
    again). Each file is committed as it is enrolled.

    ``ray`` (True for a local Ray, or an address) decodes and embeds on Ray workers, one model
    load per worker; the rows and vectors are the same as in-process.
    """
    ws.get_subject(subject_id)
    emb = get_embedder(backend, model_dir)   # a missing model is one error here, not one per worker
    ws.ensure_space(emb.space, emb.dim)
    files = collect_files(files)
    if not files:
        raise UserError("no recordings to enrol")
    left, aside = set_aside_enrolled(ws, emb.space, subject_id, files, noun="recording")
    todo = [(files[i], digest) for i, digest in left]
    rows = {str(files[i]): _row(files[i], status, reason) for i, (status, reason) in aside.items()}
    if ray:
        done = _embed_on_ray(todo, backend, model_dir, channel, min_speech, ray)
    else:
        # Decode and check every file, then embed the good ones together (partials of many
        # files share the network's batches).
        checked = []
        for f, _ in todo:
            try:
                checked.append(_speech_to_enrol(f, channel, min_speech))
            except InputError as exc:
                checked.append(_Refused(exc.path, exc.reason))
        good = [sp for sp in checked if not isinstance(sp, _Refused)]
        vecs = iter(emb.embed([sp.samples for sp in good]) if good else [])
        done = [sp if isinstance(sp, _Refused) else (sp.seconds, sp.source_rate, next(vecs)) for sp in checked]
    for (f, digest), got in zip(todo, done):
        if isinstance(got, _Refused):
            rows[str(f)] = _row(f, "error", got.reason)
            continue
        seconds, source_rate, vec = got
        ids = ws.enroll(subject_id, emb.space, np.asarray(vec)[None], sha256=digest, source_uri=str(f),
                        quality=round(seconds, 2), meta={"speech_seconds": round(seconds, 2),
                                                         "source_rate": source_rate, "channel": channel},
                        command=command)
        rows[str(f)] = _row(f, "enrolled", sample_id=ids[0], speech_seconds=round(seconds, 2))
    return [rows[str(f)] for f in files]


def _embed_on_ray(todo, backend, model_dir, channel, min_speech, ray) -> list:
    """Workers decode, check and embed; results (or _Refused) come back in input order."""
    import functools

    from xiaobao.distributed import ItemError, map_items

    if not todo:
        return []
    factory = functools.partial(VoiceEnrolWorker, backend, model_dir, channel, min_speech)
    out = [None] * len(todo)
    for i, got in map_items([str(f) for f, _ in todo], factory, ray=ray, batch_size=4):
        out[i] = _Refused(todo[i][0], f"a worker failed: {got.message}") if isinstance(got, ItemError) else got
    return out


def _windows(sp: Speech) -> list[tuple[int, int]]:
    n, w, h = len(sp.samples), int(WINDOW_S * TARGET_RATE), int(HOP_S * TARGET_RATE)
    if n <= w:
        return [(0, n)]
    starts = list(range(0, n - w + 1, h))
    if starts[-1] + w < n:
        starts.append(n - w)
    return [(s, s + w) for s in starts]


def search_speech(ws, sp: Speech, *, top: int = 5, backend="resemblyzer", model_dir=None,
                  min_speech: float = MIN_SPEECH_S, kinds=None, exclude_kinds=None, command=None) -> dict:
    """Whose voice is this? Windows that match one of our staff are set aside; the rest are the caller."""
    emb = get_embedder(backend, model_dir)
    # source_rate: an 8 kHz call was upsampled to 16 kHz for the network; the answer says so.
    base = {"file": sp.path, "speech_seconds": round(sp.seconds, 2), "source_rate": sp.source_rate, "space": emb.space}
    if sp.seconds < min_speech:
        return {**base, "decision": "insufficient", "matches": [], "ranges": [], "time_ranges": [], "staff_ranges": [],
                "reason": f"{sp.seconds:.1f} s of speech, need {min_speech} s"}
    ws.ensure_space(emb.space, emb.dim)
    wins = _windows(sp)
    vecs = emb.embed([sp.samples[a:b] for a, b in wins])
    staff = [s for s in ws.list_subjects(kind="staff")]
    keep = list(range(len(wins)))
    staff_ranges = []
    if staff:
        # A window is our staff's only if its best match over everyone enrolled is a staff member
        # at the `possible` level: a watchlisted caller who merely resembles a staff voice scores
        # higher against his own enrolment and must not be set aside (that would hide the hit).
        hits = ws.search(emb.space, vecs, k=1, command=command, log=False)
        _, possible = ws.thresholds(emb.space)
        keep = [i for i, h in enumerate(hits) if not (h and h[0].subject_kind == "staff" and h[0].score >= possible)]
        staff_ranges = [r for i in range(len(wins)) if i not in keep for r in sp.original_range(*wins[i])]
    caller_s = sum(wins[i][1] - wins[i][0] for i in keep) / TARGET_RATE if keep else 0.0
    ranges = [r for i in keep for r in sp.original_range(*wins[i])]
    if not keep:
        return {**base, "decision": "insufficient", "matches": [], "ranges": [], "time_ranges": [],
                "staff_ranges": _merge(staff_ranges),
                "reason": "all speech matched our own staff"}
    caller = _l2(vecs[keep].mean(axis=0, keepdims=True))
    exclude = sorted({"staff", *(exclude_kinds or ())})
    wanted = [k for k in kinds if k != "staff"] if kinds else None
    hits = ws.search(emb.space, caller, k=top, kinds=wanted, exclude_kinds=exclude, command=command)[0]
    matches = [{"subject_id": m.subject_id, "subject": m.subject_name, "kind": m.subject_kind,
                "score": round(float(m.score), 4), "decision": m.decision} for m in hits]
    decision = matches[0]["decision"] if matches else "none"
    ranges = _merge(ranges)
    # "time_ranges" is the name other packages read; "ranges" is kept for existing JSONL consumers.
    return {**base, "caller_seconds": round(min(caller_s, sp.seconds), 2), "decision": decision,
            "matches": matches, "ranges": ranges, "time_ranges": ranges, "staff_ranges": _merge(staff_ranges)}


def _merge(ranges):
    out = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 0.05:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return [list(r) for r in out]


def search_voice(ws, path, *, top: int = 5, kinds=None, exclude_kinds=None, channel="mix", backend="resemblyzer",
                 model_dir=None, min_speech=MIN_SPEECH_S, command=None) -> dict:
    """One recording: ``search_speech`` on its detected speech (used by the video search for audio tracks)."""
    return search_speech(ws, read_speech(path, channel), top=top, backend=backend, model_dir=model_dir,
                         min_speech=min_speech, kinds=kinds, exclude_kinds=exclude_kinds, command=command)


def search_files(ws, files, *, top=5, backend="resemblyzer", model_dir=None, channel="mix",
                 min_speech=MIN_SPEECH_S, command=None, on_item=None):
    """Search many recordings; a bad file yields an ``error`` row and the batch carries on."""
    get_embedder(backend, model_dir)   # a missing model is one error for the batch, not one per file
    for f in collect_files(files):
        try:
            row = search_speech(ws, read_speech(f, channel), top=top, backend=backend, model_dir=model_dir,
                                min_speech=min_speech, command=command)
        except InputError as e:
            row = {"file": str(f), "decision": "error", "error": str(e)}
        if on_item:
            on_item(row)
        yield row


def verify_files(ws, a, b, *, backend="resemblyzer", model_dir=None, channel="mix", min_speech=MIN_SPEECH_S) -> dict:
    """Same speaker? Cosine score of two recordings and the space's decision."""
    emb = get_embedder(backend, model_dir)
    sa, sb = read_speech(a, channel), read_speech(b, channel)
    out = {"a": str(a), "b": str(b), "space": emb.space,
           "speech_seconds": [round(sa.seconds, 2), round(sb.seconds, 2)]}
    if min(sa.seconds, sb.seconds) < min_speech:
        return {**out, "score": None, "decision": "insufficient"}
    v = emb.embed([sa.samples, sb.samples])
    score = float(v[0] @ v[1])
    match, possible = ws.thresholds(emb.space)
    decision = "match" if score >= match else "possible" if score >= possible else "none"
    return {**out, "score": round(score, 4), "decision": decision}


def calibrate(ws, data, labels, label_column, *, backend="resemblyzer", model_dir=None, target_far=0.01,
              save=True, command=None) -> dict:
    """Thresholds from labelled recordings: ``match`` at the target false-accept rate, ``possible`` at the EER."""
    emb = get_embedder(backend, model_dir)
    groups = read_labels(data, labels, label_column)
    names, wavs, bad = [], [], []
    for label, files in groups.items():
        for f in files:
            try:
                sp = read_speech(f)
            except InputError as e:
                bad.append(str(e))
                continue
            names.append(label)
            wavs.append(sp.samples if sp.seconds > 0.3 else load_audio(f).samples)
    if len(set(names)) < 2:
        raise UserError(f"{labels}: calibration needs recordings of at least two labels")
    v = emb.embed(wavs)
    s = v @ v.T
    lab = np.array(names)
    same = lab[:, None] == lab[None, :]
    iu = np.triu_indices(len(lab), 1)
    tgt, non = s[iu][same[iu]], s[iu][~same[iu]]
    if len(tgt) == 0:
        raise UserError(f"{labels}: calibration needs at least two recordings of one label")
    e, t_eer = eer(tgt, non)
    t_match = max(threshold_at_far(non, target_far), t_eer)
    result = {"space": emb.space, "eer": round(e, 4), "min_dcf": round(min_dcf(tgt, non), 4),
              "match": round(t_match, 4), "possible": round(t_eer, 4), "target_far": target_far,
              "n_target": int(len(tgt)), "n_nontarget": int(len(non)), "skipped": bad}
    if save:
        ws.set_thresholds(emb.space, result["match"], result["possible"],
                          meta={k: result[k] for k in ("eer", "min_dcf", "target_far", "n_target", "n_nontarget")},
                          command=command)
    return result


# The names the other packages (complaints, video) and the docs use for the three voice operations.
enroll_voice = enroll_files
verify_voice = verify_files
