"""Candidate proxy rings: persisted from the link graph, listed, shown, promoted to agents.

A ring keeps its id across batches (a new component takes the id of the stored ring it
overlaps most), so an investigator's ``rings show 4`` means the same group tomorrow.
Promotion creates one ``agent`` subject holding the ring's letters (text space), its
attachment voices and faces, and its artifacts and templates as watchlist entries, so the
next screening names the ring directly.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter

import numpy as np

from xiaobao.complaints_engine import store
from xiaobao.complaints_engine.links import LinkGraph
from xiaobao.complaints_engine.scorecard import mask
from xiaobao.errors import DuplicateSampleError, NotFoundError, UserError

RING_TAG = "代理团伙关联"
MAX_EDGES_PER_RING = 2000


def ring_label(ring_id: int) -> str:
    return f"R-{ring_id}"


def parse_ring_id(value) -> int:
    s = str(value).strip().upper()
    if s.startswith("R-"):
        s = s[2:]
    if not s.isdigit():
        raise UserError(f"ring id {value!r} is not a number (e.g. 4 or R-4)")
    return int(s)


def _summary(graph: LinkGraph, members: list[str]) -> tuple[dict, list[tuple[str, str, str, str]]]:
    """Evidence counts and the edges (a, b, kind, detail) that hold a ring together."""
    member_set = set(members)
    edges: list[tuple[str, str, str, str]] = []
    artifacts = []
    for c in members:
        for key in graph.artifacts_of.get(c, ()):
            artifacts.append(key)
    shared = []
    for key, n in Counter(artifacts).items():
        inside = [c for c in graph.postings[key] if c in member_set]
        if len(graph.customers(inside)) < 2:
            continue
        kind, value = key
        shared.append({"kind": kind, "value": value, "shown": mask(kind, value), "complaints": len(inside),
                       "customers": len(graph.customers(inside))})
        for c in inside[1:]:
            edges.append((inside[0], c, "artifact", f"{kind}:{value}"))
    templates = Counter(graph.template_of[c] for c in members if c in graph.template_of)
    for a, b, h, o in graph.template_pairs:
        if a in member_set:
            edges.append((a, b, "template", json.dumps({"hamming": h, "overlap": round(o, 3)})))
    for a, b, modality, score in graph.media_pairs:
        if a in member_set:
            edges.append((a, b, modality, json.dumps({"score": round(score, 4)})))
    shared.sort(key=lambda s: -s["customers"])
    evidence = {
        "artifacts": shared[:50],
        "templates": [{"template": f"T-{t}", "complaints": n} for t, n in templates.most_common(20)],
        "edge_kinds": dict(Counter(e[2] for e in edges)),
    }
    return evidence, edges


def persist(ws, graph: LinkGraph, command: str | None = None) -> dict[str, int]:
    """Store the graph's components as rings (stable ids); returns complaint -> ring id."""
    conn = ws.db.conn
    existing: dict[int, set[str]] = {}
    status: dict[int, str] = {}
    for rid, st in conn.execute("SELECT id, status FROM rings"):
        existing[rid] = set()
        status[rid] = st
    for rid, cid in conn.execute("SELECT ring_id, complaint_id FROM ring_members"):
        existing.setdefault(rid, set()).add(cid)
    ring_of: dict[str, int] = {}
    kept: set[int] = set()
    now = store.now_iso()
    changes = {"new": 0, "updated": 0, "unchanged": 0, "dissolved": 0}
    with store.transaction(ws):
        for members in graph.components:
            mset = set(members)
            best, best_overlap = None, 0
            for rid, old in existing.items():
                if rid in kept:
                    continue
                ov = len(mset & old)
                if ov > best_overlap:
                    best, best_overlap = rid, ov
            evidence, edges = _summary(graph, members)
            n_cust = len(graph.customers(members))
            if best is not None and best_overlap * 2 >= min(len(mset), len(existing[best])):
                rid = best
                if existing[rid] == mset and status[rid] != "dissolved":
                    changes["unchanged"] += 1
                else:
                    changes["updated"] += 1
                new_status = "promoted" if status[rid] == "promoted" else "candidate"
                conn.execute("UPDATE rings SET status=?, n_complaints=?, n_customers=?, evidence=?, updated_at=? "
                             "WHERE id=?", (new_status, len(members), n_cust, json.dumps(evidence, ensure_ascii=False),
                                            now, rid))
            else:
                rid = conn.execute("INSERT INTO rings (status, n_complaints, n_customers, evidence, first_seen_at, "
                                   "updated_at) VALUES ('candidate', ?, ?, ?, ?, ?)",
                                   (len(members), n_cust, json.dumps(evidence, ensure_ascii=False), now, now)).lastrowid
                changes["new"] += 1
            kept.add(rid)
            conn.execute("DELETE FROM ring_members WHERE ring_id = ?", (rid,))
            conn.execute("DELETE FROM ring_edges WHERE ring_id = ?", (rid,))
            conn.executemany("INSERT INTO ring_members VALUES (?, ?, ?)",
                             [(rid, c, graph.customer_of.get(c)) for c in members])
            conn.executemany("INSERT INTO ring_edges VALUES (?, ?, ?, ?, ?)",
                             [(rid, a, b, k, d) for a, b, k, d in edges[:MAX_EDGES_PER_RING]])
            conn.executemany("INSERT OR IGNORE INTO complaint_tags VALUES (?, ?, 'ring', ?)",
                             [(c, RING_TAG, now) for c in members])
            for c in members:
                ring_of[c] = rid
        for rid in existing:
            # A candidate no batch supports any more is dissolved (kept for the record);
            # a promoted ring stays: its subject is on the watchlist.
            if rid not in kept and status[rid] == "candidate":
                conn.execute("UPDATE rings SET status='dissolved', updated_at=? WHERE id=?", (now, rid))
                conn.execute("DELETE FROM complaint_tags WHERE source='ring' AND complaint_id IN "
                             "(SELECT complaint_id FROM ring_members WHERE ring_id=?) AND complaint_id NOT IN "
                             "(SELECT complaint_id FROM ring_members WHERE ring_id != ? AND ring_id IN "
                             "(SELECT id FROM rings WHERE status != 'dissolved'))", (rid, rid))
                changes["dissolved"] += 1
        if changes["new"] or changes["updated"] or changes["dissolved"]:
            ws.log_event("rings.discover", ids=sorted(kept), command=command, detail=changes)
    # Promoted rings not rediscovered this time still own their members.
    for rid, cid in conn.execute("SELECT m.ring_id, m.complaint_id FROM ring_members m JOIN rings r "
                                 "ON r.id = m.ring_id WHERE r.status = 'promoted'"):
        ring_of.setdefault(cid, rid)
    return ring_of


def list_rings(ws, status: str | None = None, include_dissolved: bool = False) -> list[dict]:
    store.ensure_tables(ws)
    sql = ("SELECT r.id, r.status, r.n_complaints, r.n_customers, r.subject_id, r.evidence, r.first_seen_at, "
           "r.updated_at FROM rings r")
    where, params = [], []
    if status:
        where.append("r.status = ?")
        params.append(status)
    elif not include_dissolved:
        where.append("r.status != 'dissolved'")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY r.n_customers DESC, r.id"
    out = []
    for r in store.query(ws, sql, params):
        ev = json.loads(r.pop("evidence") or "{}")
        arts = ev.get("artifacts") or []
        r["ring"] = ring_label(r["id"])
        r["top_evidence"] = "; ".join(
            [f"{a['kind']} {a['shown']} ×{a['customers']}" for a in arts[:2]]
            + [f"{t['template']} ×{t['complaints']}" for t in (ev.get("templates") or [])[:1]])
        out.append(r)
    return out


def show_ring(ws, ring_id) -> dict:
    rid = parse_ring_id(ring_id)
    store.ensure_tables(ws)
    rows = store.query(ws, "SELECT * FROM rings WHERE id = ?", (rid,))
    if not rows:
        raise NotFoundError(f"no ring {ring_label(rid)} (see the rings: xiaobao rings list)")
    ring = rows[0]
    ring["ring"] = ring_label(rid)
    ring["evidence"] = json.loads(ring["evidence"] or "{}")
    ring["members"] = store.query(
        ws, "SELECT m.complaint_id, m.customer_id, c.received_at, c.channel, c.risk_score, c.risk_tier, "
            "substr(c.text, 1, 60) AS text FROM ring_members m LEFT JOIN complaints c ON c.id = m.complaint_id "
            "WHERE m.ring_id = ? ORDER BY c.received_at, m.complaint_id", (rid,))
    ring["edges"] = store.query(ws, "SELECT a, b, kind, detail FROM ring_edges WHERE ring_id = ?", (rid,))
    return ring


def promote(ws, ring_id, name: str, note: str | None = None, command: str | None = None,
            text_embedder=None) -> dict:
    """Create an ``agent`` subject from a ring: text, voice and face samples plus its
    artifacts and templates on the watchlist. Returns what was enrolled per space."""

    ring = show_ring(ws, ring_id)
    rid = ring["id"]
    if ring["status"] == "promoted" and ring.get("subject_id"):
        raise UserError(f"ring {ring_label(rid)} is already promoted to subject {ring['subject_id']}")
    if ring["status"] == "dissolved":
        raise UserError(f"ring {ring_label(rid)} is dissolved; screen again or pick a current ring")
    if not name or not name.strip():
        raise UserError("--name must not be empty")
    members = [m["complaint_id"] for m in ring["members"]]
    conn = ws.db.conn
    marks = ",".join("?" * len(members))
    texts = conn.execute(f"SELECT id, text FROM complaints WHERE id IN ({marks}) AND text != ''", members).fetchall()
    sid = ws.add_subject(name.strip(), kind="agent",
                         note=note or f"promoted from ring {ring_label(rid)} ({len(members)} complaints, "
                                      f"{ring['n_customers']} customers)")
    enrolled: dict[str, int] = {}
    skipped: list[str] = []
    # Text: every distinct letter as a sample in the character n-gram space.
    emb = text_embedder or _text_embedder(skipped) if texts else None
    if emb is not None:
        seen = set()
        vecs, shas, uris = [], [], []
        uniq = []
        for cid, text in texts:
            sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if sha not in seen:
                seen.add(sha)
                uniq.append((cid, text, sha))
        matrix = emb.embed([t for _c, t, _s in uniq])
        ws.ensure_space(emb.space, matrix.shape[1])
        for (cid, _t, sha), v in zip(uniq, matrix):
            try:
                ws.enroll(sid, emb.space, v[None, :], sha256=sha, source_uri=f"complaint:{cid}",
                          meta={"ring": ring_label(rid), "complaint": cid}, command=command)
                enrolled[emb.space] = enrolled.get(emb.space, 0) + 1
            except (DuplicateSampleError, UserError) as exc:
                skipped.append(f"{emb.space} complaint {cid}: {exc}")
    # Voice and face: the attachment vectors screening computed.
    for cid, path, space, sha, blob in conn.execute(
            f"SELECT complaint_id, path, space, sha256, vector FROM attachment_vectors WHERE status='ok' "
            f"AND complaint_id IN ({marks})", members).fetchall():
        v = np.frombuffer(blob, dtype=np.float32)[None, :]
        try:
            ws.ensure_space(space, v.shape[1])
            ws.enroll(sid, space, v, sha256=sha, source_uri=path, meta={"ring": ring_label(rid), "complaint": cid},
                      command=command)
            enrolled[space] = enrolled.get(space, 0) + 1
        except UserError as exc:
            skipped.append(f"{space} {path}: {exc}")
    now = store.now_iso()
    arts = [(a["kind"], a["value"]) for a in ring["evidence"].get("artifacts", [])]
    tmpl = conn.execute(
        f"SELECT f.simhash, f.complaint_id FROM complaint_features f WHERE f.complaint_id IN ({marks}) "
        f"AND f.template_id IS NOT NULL AND f.simhash IS NOT NULL", members).fetchall()
    with store.transaction(ws):
        conn.executemany("INSERT OR IGNORE INTO watch_artifacts VALUES (?, ?, ?, ?, ?)",
                         [(sid, k, v, rid, now) for k, v in arts])
        conn.executemany("INSERT OR IGNORE INTO watch_templates VALUES (?, ?, ?, ?, ?)",
                         [(sid, h, c, rid, now) for h, c in tmpl])
        conn.execute("UPDATE rings SET status='promoted', subject_id=?, updated_at=? WHERE id=?", (sid, now, rid))
    enrolled["watch_artifacts"] = len(arts)
    enrolled["watch_templates"] = len(tmpl)
    ws.log_event("rings.promote", ids=[rid, sid], command=command,
                 detail={"name": name, "enrolled": enrolled, "skipped": len(skipped)})
    return {"ring": ring_label(rid), "subject_id": sid, "name": name.strip(), "enrolled": enrolled,
            "skipped": skipped}


def _text_embedder(skipped: list[str]):
    """The character n-gram style space; without it the ring is still promoted (artifacts,
    templates, voice, face) and the gap is reported."""
    try:
        from xiaobao.text_fingerprint import CharNgramEmbedder
    except ImportError as exc:
        skipped.append(f"text style space unavailable ({exc}); letters kept as templates only")
        return None
    return CharNgramEmbedder()
