"""Letters in a workspace: enrol a subject's letters, search a letter against them.

Three kinds of evidence, reported separately so an investigator sees why a letter matched:

* ``template``: a near-duplicate (SimHash within ``max_hamming`` bits, confirmed by n-gram
  overlap); the score is the overlap and the detail is the longest shared passage.
* ``artifact``: shared identifying artifacts (phone, WeChat, QQ, e-mail, ID, bank card, URL,
  landline, organisation); the detail lists them.
* ``style``: nearest letters in a dense text space (char n-grams by default), the workspace's
  calibrated thresholds decide.

Fingerprints, normalised text and artifacts live in the workspace's own tables, keyed by the
sample id of the letter's vector, so removing a subject's samples removes them from search.
"""
from __future__ import annotations

import hashlib
from difflib import SequenceMatcher
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from xiaobao.errors import InputError, UserError
from xiaobao.text_fingerprint.artifacts import extract_artifacts
from xiaobao.text_fingerprint.embedders import CHAR_NGRAM_SPACE, embedder_for
from xiaobao.text_fingerprint.normalize import normalize
from xiaobao.text_fingerprint.simhash import SimHashIndex, fingerprint
from xiaobao.text_fingerprint.templates import DEFAULT_MAX_HAMMING

# Artifacts that identify a person or a ring; amounts, dates and phrases are not join keys here.
IDENTIFYING = ("phone", "wechat", "qq", "email", "id_number", "bank_card", "url", "landline", "org")
STRONG = ("phone", "wechat", "qq", "email", "id_number", "bank_card")
TEMPLATE_MATCH, TEMPLATE_POSSIBLE = 0.8, 0.5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS text_letters (
    sample_id INTEGER PRIMARY KEY, subject_id INTEGER NOT NULL, simhash INTEGER NOT NULL,
    shingles BLOB NOT NULL, text_norm TEXT NOT NULL, source_uri TEXT);
CREATE TABLE IF NOT EXISTS text_artifacts (
    sample_id INTEGER NOT NULL, subject_id INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS text_artifacts_key ON text_artifacts (kind, value);
"""


def ensure_tables(ws) -> None:
    with ws.transaction():
        for stmt in _SCHEMA.split(";\n"):
            if stmt.strip():
                ws.conn.execute(stmt)


def read_letter(path: str | Path) -> str:
    """A letter from a UTF-8 (or UTF-16 with BOM / GB18030) text file; empty files are refused."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    data = path.read_bytes()
    for enc in ("utf-8-sig", "utf-16", "gb18030"):
        if enc == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(path, "not a text file (neither UTF-8, UTF-16 nor GB18030)")
    if "\x00" in text:
        raise InputError(path, "binary file, not a letter")
    if not text.strip():
        raise InputError(path, "empty letter")
    return text


def _sha(text: str) -> str:
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()


def enroll_letters(ws, subject_id: int, letters: Sequence[tuple[str, str]], *, space: str = CHAR_NGRAM_SPACE,
                   model_dir=None, command: str | None = None, ray=None) -> list[dict]:
    """Enrol ``(source, text)`` letters of one subject. Returns one row per letter (bad ones skipped).

    ``ray`` (True for a local Ray, or an address) embeds on Ray workers; enrolment stays here, in order.
    """
    ensure_tables(ws)
    ws.get_subject(subject_id)  # unknown subject: NotFoundError before any work
    emb = embedder_for(space, model_dir)
    ws.ensure_space(emb.space, emb.dim)
    rows, good = [], []
    for source, text in letters:
        if not text or not normalize(text):
            rows.append({"source": source, "status": "error", "reason": "empty letter", "sample_ids": []})
            continue
        good.append((source, text))
    if good:
        from xiaobao.distributed import embed_items

        vectors = emb.embed([t for _, t in good]) if not ray else \
            embed_items([t for _, t in good], embedder_for, space, model_dir, ray=ray)
    for (source, text), vec in zip(good, vectors if good else []):
        try:
            ids = ws.enroll(subject_id, emb.space, vec[None, :], sha256=_sha(text), source_uri=source,
                            meta={"chars": len(text)}, command=command)
        except UserError as exc:
            rows.append({"source": source, "status": "error", "reason": str(exc), "sample_ids": []})
            continue
        code, sh = fingerprint(text)
        arts = extract_artifacts(text)
        with ws.transaction():
            ws.conn.execute("INSERT OR REPLACE INTO text_letters VALUES (?, ?, ?, ?, ?, ?)",
                            (ids[0], subject_id, _signed(code), sh.astype(np.uint32).tobytes(), normalize(text), source))
            ws.conn.executemany("INSERT INTO text_artifacts VALUES (?, ?, ?, ?)",
                                [(ids[0], subject_id, a.kind, a.value) for a in arts if a.kind in IDENTIFYING])
        rows.append({"source": source, "status": "enrolled", "sample_ids": ids, "space": emb.space,
                     "artifacts": sorted({f"{a.kind}:{a.value}" for a in arts if a.kind in IDENTIFYING})})
    return rows


def _signed(code: int) -> int:
    """SQLite integers are signed 64-bit."""
    return code - (1 << 64) if code >= (1 << 63) else code


def _live_letters(ws) -> list[tuple]:
    return ws.conn.execute(
        "SELECT l.sample_id, l.subject_id, l.simhash, l.shingles, l.text_norm, l.source_uri FROM text_letters l "
        "JOIN samples s ON s.id = l.sample_id").fetchall()


def _passage(a: str, b: str, limit: int = 80) -> str:
    m = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return a[m.a:m.a + min(m.size, limit)]


def search_letter(ws, text: str, *, top: int = 5, space: str = CHAR_NGRAM_SPACE, model_dir=None,
                  max_hamming: int = DEFAULT_MAX_HAMMING, kinds: Iterable[str] | None = None,
                  exclude_kinds: Iterable[str] | None = None, command: str | None = None) -> list[dict]:
    """Subjects whose letters share a template, an identifying artifact or a style with ``text``.

    One row per (subject, kind of evidence), best first: ``subject_id, subject_name, subject_kind,
    evidence, score, decision, detail, sample_id``.
    """
    if not normalize(text):
        raise UserError("empty letter: nothing to search")
    ensure_tables(ws)
    kinds = set(kinds or []) or None
    exclude = set(exclude_kinds or [])
    subjects = {s["id"]: s for s in ws.list_subjects()}

    def wanted(sid: int) -> bool:
        s = subjects.get(sid)
        return bool(s) and (kinds is None or s["kind"] in kinds) and s["kind"] not in exclude

    out: list[dict] = []
    letters = _live_letters(ws)
    qnorm = normalize(text)
    # template evidence
    if letters:
        index = SimHashIndex()
        index.add_fingerprints(list(range(len(letters))), [r[2] & ((1 << 64) - 1) for r in letters],
                               [np.frombuffer(r[3], dtype=np.uint32) for r in letters])
        code, sh = fingerprint(text)
        hits = index.search_fingerprints([code], [sh], k=max(50, top * 10), max_hamming=max_hamming,
                                         min_overlap=TEMPLATE_POSSIBLE)[0]
        seen = set()
        for pos, dist, ov in hits:
            sample_id, sid, _, _, tnorm, source = letters[pos]
            if sid in seen or not wanted(sid):
                continue
            seen.add(sid)
            out.append(_row(subjects[sid], "template", ov, "match" if ov >= TEMPLATE_MATCH else "possible",
                            {"passage": _passage(qnorm, tnorm), "hamming": dist, "source": source}, sample_id))
    # artifact evidence
    keys = {(a.kind, a.value) for a in extract_artifacts(text) if a.kind in IDENTIFYING}
    if keys:
        shared: dict[int, dict] = {}
        for kind, value in keys:
            for sample_id, sid in ws.conn.execute(
                    "SELECT a.sample_id, a.subject_id FROM text_artifacts a JOIN samples s ON s.id = a.sample_id "
                    "WHERE a.kind = ? AND a.value = ?", (kind, value)):
                if wanted(sid):
                    shared.setdefault(sid, {"keys": set(), "sample_id": sample_id})["keys"].add(f"{kind}:{value}")
        for sid, info in shared.items():
            strong = [k for k in info["keys"] if k.split(":", 1)[0] in STRONG]
            score = min(1.0, 0.5 * len(strong) + 0.25 * (len(info["keys"]) - len(strong)))
            out.append(_row(subjects[sid], "artifact", round(score, 4), "match" if strong else "possible",
                            {"shared": sorted(info["keys"])}, info["sample_id"]))
    # style evidence
    emb = embedder_for(space, model_dir)
    if emb.space in {s["name"] for s in ws.spaces()}:
        for m in ws.search(emb.space, emb.embed([text]), k=top, kinds=list(kinds) if kinds else None,
                           exclude_kinds=list(exclude) or None, command=command)[0]:
            out.append(_row(subjects.get(m.subject_id, {"id": m.subject_id, "name": m.subject_name,
                                                        "kind": m.subject_kind}),
                            "style", round(float(m.score), 4), m.decision, {"space": emb.space}, m.sample_id))
    rank = {"match": 0, "possible": 1, "none": 2}
    out.sort(key=lambda r: (rank.get(r["decision"], 3), -r["score"]))
    return out[: top * 3]


def _row(subject: dict, evidence: str, score: float, decision: str, detail: dict, sample_id) -> dict:
    return {"subject_id": subject["id"], "subject_name": subject.get("name"), "subject_kind": subject.get("kind"),
            "evidence": evidence, "score": score, "decision": decision, "detail": detail, "sample_id": sample_id}
