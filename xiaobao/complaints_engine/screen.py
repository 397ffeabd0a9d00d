"""Screen inbound complaints: every modality, fused into a proxy-risk score with reasons.

A batch runs in three steps, each safe to kill at any moment:

1. **features** — text SimHash, artifacts and phrases (and attachment embeddings) of every
   complaint not yet featurized, committed per chunk;
2. **links** — the link graph over all complaints (shared artifacts, templates, same voice /
   face), hubs set aside, candidate rings stored with stable ids;
3. **scoring** — each unscreened complaint: evidence against the watchlist and the other
   complaints, fused by the scorecard into score, tier, reasons, matches and tags, committed
   per chunk together with its ``screened_at`` mark.

A killed batch resumes where it stopped: finished chunks are neither redone nor lost.
Running it again with nothing new screens nothing (idempotent).
"""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from xiaobao.complaints_engine import links, rings, store
from xiaobao.complaints_engine.features import featurize_many, unsigned
from xiaobao.complaints_engine.neardup import near_duplicates
from xiaobao.complaints_engine.scorecard import Reason, Scorecard, fuse, load_scorecard, mask
from xiaobao.complaints_engine.tags import apply_rules
from xiaobao.errors import NotFoundError, UserError

Progress = Callable[[str, int, int], None]   # (phase, done, total)

ARTIFACT_LABEL = {"phone": "phone", "mobile": "phone", "landline": "phone", "wechat": "WeChat id", "qq": "QQ",
                  "email": "e-mail", "id_number": "ID number", "bank_card": "bank card", "url": "web address",
                  "org": "organisation", "representative": "representative"}


@dataclass
class ScreenReport:
    featurized: int = 0
    screened: int = 0
    already_screened: int = 0
    rescored: int = 0              # earlier complaints scored again because a ring now holds them
    attachments: int = 0
    tiers: dict = field(default_factory=dict)
    rings: int = 0
    ring_members: int = 0
    hubs: list = field(default_factory=list)
    seconds: float = 0.0
    complaints: list = field(default_factory=list)   # filled for --complaint

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def screen(ws, *, since: str | None = None, complaint_id: str | None = None, workers: int = 1,
           chunk_size: int = 500, scorecard: str | None = None, progress: Progress | None = None,
           command: str | None = None, ray: bool | str | None = None) -> ScreenReport:
    """Screen every unscreened complaint (received at or after ``since``), or re-screen one.

    Returns counts per tier, the rings found and the hub artifacts set aside. Resumable and
    idempotent; see the module notes. ``ray``: True (a local Ray) or a cluster address runs the
    per-complaint work (text features, attachment embeddings) on Ray workers; results are
    written here, in order, exactly as in-process.
    """
    t0 = time.perf_counter()
    store.ensure_tables(ws)
    card = load_scorecard(scorecard)
    if workers < 1:
        raise UserError("--workers must be at least 1")
    if chunk_size < 1:
        raise UserError("chunk size must be at least 1")
    if since is not None:
        from xiaobao.complaints_engine.ingest import RowError, parse_time

        try:
            since = parse_time(since)
        except RowError:
            raise UserError(f"--since {since!r} is not a date (use e.g. 2026-10-01 or 2026-10-01T08:00)") from None
    conn = ws.db.conn
    if complaint_id is not None and not conn.execute("SELECT 1 FROM complaints WHERE id = ?",
                                                     (complaint_id,)).fetchone():
        raise NotFoundError(f"no complaint with id {complaint_id!r} (see the ids: xiaobao complaints list)")
    report = ScreenReport()
    report.featurized = _featurize(ws, workers, chunk_size, progress, ray=ray)
    report.attachments = _embed_attachments(ws, progress, ray=ray)

    if complaint_id is not None:
        targets = [complaint_id]
    else:
        sql, params = "SELECT id FROM complaints WHERE screened_at IS NULL", []
        if since:
            sql += " AND received_at >= ?"
            params.append(since)
        targets = [r[0] for r in conn.execute(sql + " ORDER BY received_at, id", params)]
        report.already_screened = conn.execute("SELECT COUNT(*) FROM complaints WHERE screened_at IS NOT NULL"
                                               ).fetchone()[0]
    if not targets and not report.featurized and not report.attachments:
        # Nothing new since the last batch: the graph and rings are what they were.
        report.rings, report.ring_members = conn.execute(
            "SELECT COUNT(DISTINCT r.id), COUNT(m.complaint_id) FROM rings r JOIN ring_members m ON m.ring_id = r.id "
            "WHERE r.status != 'dissolved'").fetchone()
        report.seconds = round(time.perf_counter() - t0, 3)
        return report

    graph = links.build(ws, card, near_duplicates)
    ring_of = rings.persist(ws, graph, command=command)
    report.rings = len(graph.components)
    report.ring_members = sum(len(m) for m in graph.components)
    report.hubs = [{"kind": h.kind, "value": h.value, "customers": h.customers, "why": h.why}
                   for h in sorted(graph.hubs.values(), key=lambda h: -h.customers)][:20]

    if complaint_id is None:
        # Complaints screened on an earlier day that today's letters pulled into a ring are
        # scored again, so their score and tier say so (once: the new score names the ring).
        pulled_in = [r[0] for r in conn.execute(
            "SELECT DISTINCT m.complaint_id FROM ring_members m JOIN rings r ON r.id = m.ring_id "
            "JOIN complaints c ON c.id = m.complaint_id WHERE r.status != 'dissolved' AND "
            "c.screened_at IS NOT NULL AND (c.reasons IS NULL OR c.reasons NOT LIKE '%\"kind\": \"ring\"%') "
            "ORDER BY m.complaint_id")]
        report.rescored = len(pulled_in)
        targets += pulled_in
    ctx = _Context(ws, card, graph, ring_of)
    done = 0
    tiers: Counter = Counter()
    for i in range(0, len(targets), chunk_size):
        chunk = targets[i:i + chunk_size]
        results = ctx.score(chunk)
        _write(ws, results, ctx, command)
        tiers.update(r["tier"] for r in results)
        done += len(chunk)
        if progress:
            progress("scoring", done, len(targets))
        if complaint_id is not None:
            report.complaints = [store.get_complaint(ws, complaint_id)]
    report.screened = done
    report.tiers = dict(tiers)
    report.seconds = round(time.perf_counter() - t0, 3)
    ws.log_event("complaints.screen", ids=[complaint_id] if complaint_id else [], command=command,
                 detail={k: v for k, v in report.to_dict().items() if k not in ("complaints", "hubs")})
    return report


# ---------------------------------------------------------------- step 1: features
def _featurize(ws, workers: int, chunk_size: int, progress: Progress | None, ray=None) -> int:
    conn = ws.db.conn
    todo = conn.execute("SELECT c.id FROM complaints c LEFT JOIN complaint_features f ON f.complaint_id = c.id "
                        "WHERE f.complaint_id IS NULL ORDER BY c.id").fetchall()
    todo = [r[0] for r in todo]
    if not todo:
        return 0
    chunks = [todo[i:i + chunk_size] for i in range(0, len(todo), chunk_size)]

    def items(chunk):
        marks = ",".join("?" * len(chunk))
        return conn.execute(f"SELECT id, text, representative FROM complaints WHERE id IN ({marks})",
                            chunk).fetchall()

    done = 0
    if ray:
        from xiaobao.distributed import ItemError, map_items

        # Ray workers featurize chunks; this process stores them in input order, a chunk per commit.
        for _, feats in map_items([items(c) for c in chunks], _featurizer, ray=ray, batch_size=1,
                                  workers=workers if workers > 1 else None):
            if isinstance(feats, ItemError):
                raise UserError(f"screen --ray: a worker failed: {feats.message}")
            done += _store_features(ws, feats)
            if progress:
                progress("features", done, len(todo))
    elif workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            # Keep at most ``workers`` chunks in flight: bounded memory, commits in order.
            pending = []
            it = iter(chunks)
            for chunk in it:
                pending.append(pool.submit(featurize_many, items(chunk)))
                if len(pending) >= workers:
                    done += _store_features(ws, pending.pop(0).result())
                    if progress:
                        progress("features", done, len(todo))
            for fut in pending:
                done += _store_features(ws, fut.result())
                if progress:
                    progress("features", done, len(todo))
    else:
        for chunk in chunks:
            done += _store_features(ws, featurize_many(items(chunk)))
            if progress:
                progress("features", done, len(todo))
    return done


def _featurizer():
    """Worker factory for Ray: text features need no model, so the worker is the function."""
    return featurize_many


def _attachment_embedder():
    """Worker factory for Ray: models load on first use, once per worker process."""
    from xiaobao.complaints_engine.media import embed_attachment

    return lambda item: embed_attachment(item[1])


def _store_features(ws, feats) -> int:
    conn = ws.db.conn
    at = store.now_iso()
    with store.transaction(ws):
        conn.executemany("INSERT OR REPLACE INTO complaint_features (complaint_id, simhash, n_chars, phrases, "
                         "shingles, featurized_at) VALUES (?, ?, ?, ?, ?, ?)",
                         [(f.complaint_id, f.simhash, f.n_chars, json.dumps(f.phrases, ensure_ascii=False),
                           f.shingles, at)
                          for f in feats])
        conn.executemany("INSERT OR IGNORE INTO complaint_artifacts VALUES (?, ?, ?, ?)",
                         [(f.complaint_id, k, v, raw) for f in feats for k, v, raw in f.artifacts])
    return len(feats)


def _embed_attachments(ws, progress: Progress | None, ray=None) -> int:
    from xiaobao.complaints_engine.media import embed_attachment

    conn = ws.db.conn
    rows = conn.execute("SELECT id, attachments FROM complaints WHERE attachments IS NOT NULL AND attachments "
                        "NOT IN ('', '[]')").fetchall()
    # A modality that was unavailable last time (package or weights missing) is tried again.
    done_paths = {(c, p) for c, p in conn.execute("SELECT DISTINCT complaint_id, path FROM attachment_vectors "
                                                  "WHERE status NOT LIKE 'unavailable%'")}
    todo = [(cid, p) for cid, raw in rows for p in json.loads(raw) if (cid, p) not in done_paths]
    if ray and todo:
        from xiaobao.distributed import ItemError, map_items

        embedded = ((i, r) for i, r in map_items(todo, _attachment_embedder, ray=ray, batch_size=1))
    else:
        ItemError = ()  # noqa: N806 - nothing to skip in-process
        embedded = ((i, embed_attachment(path)) for i, (_, path) in enumerate(todo))
    for i, results in embedded:
        n, (cid, path) = i + 1, todo[i]
        if ItemError and isinstance(results, ItemError):
            continue  # a worker crashed on this file: not stored, so the next run tries it again
        with store.transaction(ws):  # one attachment per commit: the slow part, so never redone
            conn.execute("DELETE FROM attachment_vectors WHERE complaint_id = ? AND path = ?", (cid, path))
            conn.executemany("INSERT OR REPLACE INTO attachment_vectors VALUES (?, ?, ?, ?, ?, ?)",
                             [(cid, path, space, sha, vec, status) for space, sha, vec, status in results])
        if progress:
            progress("attachments", n, len(todo))
    return len(todo)


# ---------------------------------------------------------------- step 3: scoring
class _Context:
    """What scoring needs, loaded once per batch."""

    def __init__(self, ws, card: Scorecard, graph: links.LinkGraph, ring_of: dict[str, int]):
        self.ws, self.card, self.graph, self.ring_of = ws, card, graph, ring_of
        conn = ws.db.conn
        self.subjects = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, name, kind FROM subjects")} \
            if ws.db["subjects"].exists() else {}
        self.watch_artifacts: dict[tuple[str, str], list[tuple[int, int | None]]] = defaultdict(list)
        for sid, kind, value, rid in conn.execute("SELECT subject_id, kind, value, ring_id FROM watch_artifacts"):
            self.watch_artifacts[(kind, value)].append((sid, rid))
        wt = conn.execute("SELECT subject_id, simhash, ring_id FROM watch_templates").fetchall()
        self.watch_tpl_subjects = [(r[0], r[2]) for r in wt]
        self.watch_tpl_hashes = np.array([unsigned(r[1]) for r in wt], dtype=np.uint64)
        self.ring_info = {r[0]: (r[1], r[2], r[3], r[4]) for r in conn.execute(
            "SELECT id, status, n_complaints, n_customers, subject_id FROM rings")}
        self.customer_counts = Counter(c for (c,) in conn.execute(
            "SELECT customer_id FROM complaints WHERE customer_id IS NOT NULL AND customer_id != ''"))
        self.customer_high = Counter(c for (c,) in conn.execute(
            "SELECT customer_id FROM complaints WHERE risk_tier = 'high' AND customer_id IS NOT NULL"))
        from xiaobao.complaints_engine.features import phrase_categories
        self.phrase_category = phrase_categories()
        self.coaching = set(card.evidence("phrase").get("categories") or [])
        self.text_space, self.text_agents = _agent_space(ws, "text/")

    def score(self, chunk: list[str]) -> list[dict]:
        conn = self.ws.db.conn
        marks = ",".join("?" * len(chunk))
        rows = {r["id"]: r for r in store.query(self.ws, f"SELECT * FROM complaints WHERE id IN ({marks})", chunk)}
        feats = {r[0]: r[1:] for r in conn.execute(
            f"SELECT complaint_id, simhash, phrases FROM complaint_features WHERE complaint_id IN ({marks})", chunk)}
        all_arts: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for cid, kind, value in conn.execute(
                f"SELECT complaint_id, kind, value FROM complaint_artifacts WHERE complaint_id IN ({marks})", chunk):
            all_arts[cid].append((kind, value))
        style = self._style(rows) if self.text_agents else {}
        media = self._media(chunk)
        out = []
        for cid in chunk:
            row = rows[cid]
            simhash, phrases = feats.get(cid, (None, "[]"))
            reasons, match_rows = self._reasons(cid, row, simhash, json.loads(phrases or "[]"),
                                                all_arts.get(cid, []), style.get(cid, []), media.get(cid, []))
            score, tier, reasons = fuse(reasons, self.card)
            out.append({"id": cid, "row": row, "score": score, "tier": tier, "reasons": reasons,
                        "matches": match_rows})
        return out

    def _reasons(self, cid, row, simhash, phrases, arts, style, media):
        g, card = self.graph, self.card
        me = g.customer_of.get(cid, links.customer_key(cid, row.get("customer_id")))
        reasons: list[Reason] = []
        matches: list[dict] = []
        # Shared artifacts with other customers' complaints.
        full = float(card.evidence("shared_artifact").get("full_at_customers", 3))
        for key in g.artifacts_of.get(cid, ()):
            members = g.postings[key]
            custs = g.customers(members)
            others = len(custs - {me})
            if others < 1:
                continue
            kind, value = key
            label = ARTIFACT_LABEL.get(kind, kind)
            ev = {"artifact": kind, "value": value, "complaints": len(members), "customers": len(custs),
                  "examples": sorted(c for c in members if c != cid)[:10]}
            reasons.append(Reason("shared_artifact", f"{label} {mask(kind, value)} appears in {len(members)} "
                                  f"complaints from {len(custs)} different customers", min(1.0, others / full), ev))
            matches.append({"kind": "artifact", "other_complaint_id": ev["examples"][0] if ev["examples"] else None,
                            "score": len(custs), "decision": None, "evidence": ev})
        # Shared template.
        tid = g.template_of.get(cid)
        if tid is not None:
            members = g.template_members[tid]
            custs = g.customers(members)
            others = len(custs - {me})
            if others >= 1:
                near = g.nearest.get(cid)
                ev = {"template": f"T-{tid}", "complaints": len(members), "customers": len(custs),
                      "nearest": near[0] if near else None, "hamming": near[1] if near else None,
                      "overlap": round(near[2], 3) if near else None}
                full = float(card.evidence("shared_template").get("full_at_customers", 3))
                detail = f" (nearest {near[0]}: {near[2]:.0%} of its wording)" if near else ""
                reasons.append(Reason("shared_template", f"letter shares template T-{tid} with {len(members) - 1} "
                                      f"other complaints from {others} other customers{detail}",
                                      min(1.0, others / full), ev))
                matches.append({"kind": "template", "other_complaint_id": ev["nearest"],
                                "score": ev["overlap"], "decision": None, "evidence": ev})
        # Ring membership.
        rid = self.ring_of.get(cid)
        if rid is not None and rid in self.ring_info:
            status, n_c, n_cu, sid = self.ring_info[rid]
            full = float(card.evidence("ring").get("full_at_customers", 6))
            known = f", promoted to agent S-{sid}" if status == "promoted" and sid else ""
            reasons.append(Reason("ring", f"member of {'known' if known else 'candidate'} ring R-{rid}: {n_c} "
                                  f"complaints from {n_cu} customers{known}", min(1.0, (n_cu or 0) / full),
                                  {"ring": f"R-{rid}", "complaints": n_c, "customers": n_cu, "subject_id": sid}))
        # Watchlist: artifacts and templates of promoted rings / agents.
        hit_subjects = set()
        for kind, value in arts:
            for sid, wring in self.watch_artifacts.get((kind, value), ()):
                if sid in hit_subjects:
                    continue
                hit_subjects.add(sid)
                name = self.subjects.get(sid, ("?", ""))[0]
                ev = {"artifact": kind, "value": value, "subject_id": sid, "ring": f"R-{wring}" if wring else None}
                reasons.append(Reason("watchlist_artifact", f"{ARTIFACT_LABEL.get(kind, kind)} {mask(kind, value)} "
                                      f"is on the watchlist of agent S-{sid} ({name})", 1.0, ev))
                matches.append({"kind": "artifact", "subject_id": sid, "score": 1.0, "decision": "match",
                                "evidence": ev})
        if simhash is not None and len(self.watch_tpl_hashes):
            max_h = int(card.section("templates").get("max_hamming", 10))
            dist = _hamming(np.uint64(unsigned(simhash)), self.watch_tpl_hashes)
            j = int(np.argmin(dist))
            if dist[j] <= max_h:
                sid, wring = self.watch_tpl_subjects[j]
                name = self.subjects.get(sid, ("?", ""))[0]
                ev = {"subject_id": sid, "hamming": int(dist[j]), "ring": f"R-{wring}" if wring else None}
                reasons.append(Reason("watchlist_template", f"letter matches a template of agent S-{sid} ({name}), "
                                      f"SimHash distance {int(dist[j])}", 1.0, ev))
                matches.append({"kind": "template", "subject_id": sid, "score": 1.0 - dist[j] / 64,
                                "decision": "match", "evidence": ev})
        # Style, voice and face searches against agents.
        for m in list(style) + list(media):
            kind = m["kind"]
            if m.get("other_complaint_id"):
                reasons.append(Reason(f"same_{kind}", f"attachment {kind} matches complaint {m['other_complaint_id']} "
                                      f"of another customer (score {m['score']:.2f})", 1.0,
                                      {"other_complaint_id": m["other_complaint_id"], "score": m["score"]}))
            else:
                what = {"style": "writing style is near", "voice": "caller's voice matches",
                        "face": "face in the attachment matches"}[kind]
                reasons.append(Reason(kind, f"{what} agent S-{m['subject_id']} ({m['subject_name']}) "
                                      f"(score {m['score']:.2f}, {m['decision']})", 1.0,
                                      {"subject_id": m["subject_id"], "sample_id": m.get("sample_id"),
                                       "space": m["space"], "score": m["score"], "decision": m["decision"]}))
            matches.append(m)
        # Coaching phrases.
        coaching = [p for p in phrases if not self.coaching or self.phrase_category.get(p) in self.coaching]
        if coaching:
            full = float(card.evidence("phrase").get("full_at", 3))
            reasons.append(Reason("phrase", "phrases " + ", ".join(coaching), min(1.0, len(coaching) / full),
                                  {"phrases": coaching}))
            matches.append({"kind": "phrase", "score": len(coaching), "decision": None,
                            "evidence": {"phrases": coaching}})
        rep = (row.get("representative") or "").strip()
        if rep and row.get("has_authorisation") != 1:
            reasons.append(Reason("unauthorised_representative", f"representative {rep} named without a "
                                  "授权委托书 (authorisation)", 1.0, {"representative": rep}))
        return reasons, matches

    def _style(self, rows: dict) -> dict[str, list[dict]]:
        from xiaobao.text_fingerprint import embedder_for

        ids = [cid for cid, r in rows.items() if (r.get("text") or "").strip()]
        if not ids:
            return {}
        emb = self._text_embedder = getattr(self, "_text_embedder", None) or embedder_for(self.text_space)
        vecs = emb.embed([rows[c]["text"] for c in ids])
        out: dict[str, list[dict]] = {}
        for cid, hits in zip(ids, self.ws.search(emb.space, vecs, k=1, kinds=["agent"])):
            for m in hits:
                if m.decision in ("match", "possible"):
                    out.setdefault(cid, []).append(_match_row("style", m))
        return out

    def _media(self, chunk: list[str]) -> dict[str, list[dict]]:
        conn = self.ws.db.conn
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT complaint_id, space, vector FROM attachment_vectors WHERE status = 'ok' AND "
                            f"vector IS NOT NULL AND complaint_id IN ({marks})", chunk).fetchall()
        out: dict[str, list[dict]] = defaultdict(list)
        by_space = defaultdict(list)
        for cid, space, blob in rows:
            by_space[space].append((cid, np.frombuffer(blob, dtype=np.float32)))
        for space, items in by_space.items():
            if not _agent_space(self.ws, space)[1]:
                continue
            hits = self.ws.search(space, np.stack([v for _c, v in items]), k=1, kinds=["agent"])
            for (cid, _v), ms in zip(items, hits):
                for m in ms:
                    if m.decision in ("match", "possible"):
                        out[cid].append(_match_row(space.split("/", 1)[0], m))
        chunk_set = set(chunk)
        for a, b, modality, score in self.graph.media_pairs:
            for x, y in ((a, b), (b, a)):
                if x in chunk_set and self.graph.customer_of.get(x) != self.graph.customer_of.get(y):
                    out[x].append({"kind": modality, "space": None, "other_complaint_id": y, "score": score,
                                   "decision": "match", "evidence": {"other_complaint_id": y}})
        return out


def _match_row(kind: str, m) -> dict:
    return {"kind": kind, "space": m.space, "subject_id": m.subject_id, "sample_id": m.sample_id,
            "subject_name": m.subject_name, "score": float(m.score), "decision": m.decision,
            "evidence": {"subject_name": m.subject_name, "subject_kind": m.subject_kind}}


def _agent_space(ws, prefix: str) -> tuple[str | None, bool]:
    """(space, whether any agent holds samples in it) for a space name or modality prefix."""
    if not ws.db["samples"].exists():
        return None, False
    row = ws.db.conn.execute(
        "SELECT s.space FROM samples s JOIN subjects j ON j.id = s.subject_id WHERE j.kind = 'agent' AND "
        "(s.space = ? OR s.space LIKE ?) LIMIT 1", (prefix, prefix + "%")).fetchone()
    return (row[0], True) if row else (None, False)


_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _hamming(h: np.uint64, hashes: np.ndarray) -> np.ndarray:
    x = np.bitwise_xor(hashes, h).view(np.uint8).reshape(-1, 8)
    return _POP8[x].sum(axis=1)


def _write(ws, results: list[dict], ctx: _Context, command: str | None) -> None:
    """One transaction: scores, reasons, matches, tags and the screened_at marks of a chunk."""
    conn = ws.db.conn
    at = store.now_iso()
    ids = [r["id"] for r in results]
    marks = ",".join("?" * len(ids))
    tag_rows, customer_rows = [], []
    for r in results:
        row = r["row"]
        kinds = {x.kind for x in r["reasons"]}
        cust = row.get("customer_id")
        facts = {k: row.get(k) for k in ("channel", "level", "category", "business_line", "institution", "merchant",
                                         "customer_id", "representative", "has_authorisation")}
        facts.update(risk_score=r["score"], risk_tier=r["tier"], n_reasons=len(r["reasons"]),
                     in_ring=r["id"] in ctx.ring_of,
                     watchlist_hit=bool(kinds & {"watchlist_artifact", "watchlist_template", "style", "voice", "face"}),
                     customer_complaints=ctx.customer_counts.get(cust, 1) if cust else 1,
                     customer_high_risk=ctx.customer_high.get(cust, 0) if cust else 0,
                     n_phrases=len(next((x.evidence["phrases"] for x in r["reasons"] if x.kind == "phrase"), [])))
        for tag, target, rule in apply_rules(facts):
            if target == "customer":
                if cust:
                    customer_rows.append((cust, tag, f"rule:{rule}", at))
            else:
                tag_rows.append((r["id"], tag, f"rule:{rule}", at))
    with store.transaction(ws):
        conn.execute(f"DELETE FROM matches WHERE complaint_id IN ({marks})", ids)
        conn.execute(f"DELETE FROM complaint_tags WHERE complaint_id IN ({marks}) AND source LIKE 'rule:%'", ids)
        conn.executemany(
            "INSERT INTO matches (complaint_id, kind, space, subject_id, sample_id, other_complaint_id, score, "
            "decision, evidence, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r["id"], m["kind"], m.get("space"), m.get("subject_id"), m.get("sample_id"),
              m.get("other_complaint_id"), m.get("score"), m.get("decision"),
              json.dumps(m.get("evidence") or {}, ensure_ascii=False, default=str), at)
             for r in results for m in r["matches"]])
        conn.executemany("INSERT OR IGNORE INTO complaint_tags VALUES (?, ?, ?, ?)", tag_rows)
        conn.executemany("INSERT OR IGNORE INTO customer_tags VALUES (?, ?, ?, ?)", customer_rows)
        conn.executemany(
            "UPDATE complaints SET risk_score = ?, risk_tier = ?, reasons = ?, screened_at = ? WHERE id = ?",
            [(r["score"], r["tier"], json.dumps([x.to_dict() for x in r["reasons"]], ensure_ascii=False, default=str),
              at, r["id"]) for r in results])
        ws.log_event("complaints.screened", ids=ids, command=command,
                     detail={"tiers": dict(Counter(r["tier"] for r in results))})
