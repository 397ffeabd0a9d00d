"""The complaint tables in the workspace registry, and small accessors over them.

Schema agreed for the whole complaints engine: ingest and screening write ``complaints``,
``matches``, tags and rings; routing, SLA and evidence read them (and add tags through
:func:`add_tags`). Every table is created with IF NOT EXISTS so any module may call
:func:`ensure_tables` first.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Iterable

from xiaobao.errors import NotFoundError

COMPLAINT_FIELDS = (
    "id", "received_at", "channel", "customer_id", "business_line", "institution", "merchant",
    "level", "category", "category_confidence", "text", "attachments", "representative",
    "has_authorisation", "state", "source_file", "source_line", "content_sha256",
    "ingested_at", "screened_at", "risk_score", "risk_tier", "reasons", "status", "extra",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS complaints (
    id TEXT PRIMARY KEY,
    received_at TEXT,
    channel TEXT,
    customer_id TEXT,
    business_line TEXT,
    institution TEXT,
    merchant TEXT,
    level TEXT,
    category TEXT,
    category_confidence REAL,
    text TEXT,
    attachments TEXT,
    representative TEXT,
    has_authorisation INTEGER,
    state TEXT,
    source_file TEXT,
    source_line INTEGER,
    content_sha256 TEXT,
    ingested_at TEXT,
    screened_at TEXT,
    risk_score REAL,
    risk_tier TEXT,
    reasons TEXT,
    status TEXT DEFAULT 'open',
    extra TEXT
);
CREATE INDEX IF NOT EXISTS complaints_screened ON complaints(screened_at);
CREATE INDEX IF NOT EXISTS complaints_customer ON complaints(customer_id);
-- covers the "repeat" test of reports (an earlier complaint of the same customer) without row reads
CREATE INDEX IF NOT EXISTS complaints_customer_received ON complaints(customer_id, received_at);
CREATE INDEX IF NOT EXISTS complaints_received ON complaints(received_at);
CREATE INDEX IF NOT EXISTS complaints_tier ON complaints(risk_tier);

CREATE TABLE IF NOT EXISTS complaint_tags (
    complaint_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (complaint_id, tag, source)
);
CREATE INDEX IF NOT EXISTS complaint_tags_tag ON complaint_tags(tag);
CREATE TABLE IF NOT EXISTS customer_tags (
    customer_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (customer_id, tag, source)
);
CREATE INDEX IF NOT EXISTS customer_tags_tag ON customer_tags(tag);

CREATE TABLE IF NOT EXISTS matches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    space TEXT,
    subject_id INTEGER,
    sample_id INTEGER,
    other_complaint_id TEXT,
    score REAL,
    decision TEXT,
    evidence TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS matches_complaint ON matches(complaint_id);
CREATE INDEX IF NOT EXISTS matches_subject ON matches(subject_id);

-- Screening features: written once per complaint (resumable first phase of a batch).
CREATE TABLE IF NOT EXISTS complaint_features (
    complaint_id TEXT PRIMARY KEY,
    simhash INTEGER,
    n_chars INTEGER,
    phrases TEXT,
    shingles BLOB,
    template_id INTEGER,
    featurized_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS complaint_features_template ON complaint_features(template_id);
CREATE TABLE IF NOT EXISTS complaint_artifacts (
    complaint_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    raw TEXT,
    UNIQUE (complaint_id, kind, value)
);
CREATE INDEX IF NOT EXISTS complaint_artifacts_value ON complaint_artifacts(kind, value);
CREATE TABLE IF NOT EXISTS attachment_vectors (
    complaint_id TEXT NOT NULL,
    path TEXT NOT NULL,
    space TEXT NOT NULL,
    sha256 TEXT,
    vector BLOB,
    status TEXT NOT NULL,
    UNIQUE (complaint_id, path, space)
);

CREATE TABLE IF NOT EXISTS rings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL DEFAULT 'candidate',
    n_complaints INTEGER,
    n_customers INTEGER,
    evidence TEXT,
    subject_id INTEGER,
    first_seen_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ring_members (
    ring_id INTEGER NOT NULL,
    complaint_id TEXT NOT NULL,
    customer_id TEXT,
    UNIQUE (ring_id, complaint_id)
);
CREATE INDEX IF NOT EXISTS ring_members_complaint ON ring_members(complaint_id);
CREATE TABLE IF NOT EXISTS ring_edges (
    ring_id INTEGER NOT NULL,
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS ring_edges_ring ON ring_edges(ring_id);

-- Watchlist entries that are not vectors: a promoted ring's artifacts and templates.
CREATE TABLE IF NOT EXISTS watch_artifacts (
    subject_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    ring_id INTEGER,
    created_at TEXT NOT NULL,
    UNIQUE (subject_id, kind, value)
);
CREATE INDEX IF NOT EXISTS watch_artifacts_value ON watch_artifacts(kind, value);
CREATE TABLE IF NOT EXISTS watch_templates (
    subject_id INTEGER NOT NULL,
    simhash INTEGER NOT NULL,
    complaint_id TEXT,
    ring_id INTEGER,
    created_at TEXT NOT NULL,
    UNIQUE (subject_id, simhash)
);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _db(ws_or_db):
    return getattr(ws_or_db, "db", ws_or_db)


def transaction(ws):
    """The workspace's write transaction (BEGIN IMMEDIATE ... COMMIT): the registry connection
    runs in autocommit mode, so a bare ``with conn:`` would not group statements."""
    if hasattr(ws, "transaction"):
        return ws.transaction()
    return _db(ws).conn


def ensure_tables(ws) -> None:
    """Create the complaint tables if they are missing (safe to call any number of times)."""
    db = _db(ws)
    db.conn.executescript(SCHEMA)


def _row_dict(cursor, row) -> dict:
    return {d[0]: v for d, v in zip(cursor.description, row)}


def query(ws, sql: str, params=()) -> list[dict]:
    cur = _db(ws).conn.execute(sql, params)
    return [_row_dict(cur, r) for r in cur.fetchall()]


def decode_complaint(row: dict) -> dict:
    """JSON columns decoded, so callers get lists and dicts."""
    out = dict(row)
    for key, empty in (("attachments", []), ("reasons", []), ("extra", {})):
        value = out.get(key)
        out[key] = json.loads(value) if value else empty
    return out


def get_complaint(ws, complaint_id: str) -> dict:
    ensure_tables(ws)
    rows = query(ws, "SELECT * FROM complaints WHERE id = ?", (complaint_id,))
    if not rows:
        raise NotFoundError(f"no complaint with id {complaint_id!r} (see the ids: xiaobao complaints list)")
    out = decode_complaint(rows[0])
    out["tags"] = [r["tag"] for r in query(
        ws, "SELECT DISTINCT tag FROM complaint_tags WHERE complaint_id = ? ORDER BY tag",
        (complaint_id,))]
    out["matches"] = [
        {**m, "evidence": json.loads(m["evidence"]) if m["evidence"] else {}}
        for m in query(ws, "SELECT * FROM matches WHERE complaint_id = ? ORDER BY id", (complaint_id,))
    ]
    out["rings"] = [r["ring_id"] for r in query(
        ws, "SELECT ring_id FROM ring_members WHERE complaint_id = ?", (complaint_id,))]
    return out


def list_complaints(ws, *, tag: str | None = None, tier: str | None = None,
                    channel: str | None = None, customer_id: str | None = None,
                    since: str | None = None, screened: bool | None = None,
                    limit: int | None = 100) -> list[dict]:
    """Complaints filtered by tag, tier, channel, customer, received time; newest first."""
    ensure_tables(ws)
    where, params = [], []
    if tag:
        where.append("id IN (SELECT complaint_id FROM complaint_tags WHERE tag = ?)")
        params.append(tag)
    if tier:
        where.append("risk_tier = ?")
        params.append(tier)
    if channel:
        where.append("channel = ?")
        params.append(channel)
    if customer_id:
        where.append("customer_id = ?")
        params.append(customer_id)
    if since:
        where.append("received_at >= ?")
        params.append(since)
    if screened is not None:
        where.append("screened_at IS NOT NULL" if screened else "screened_at IS NULL")
    sql = "SELECT * FROM complaints"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY risk_score IS NULL, risk_score DESC, received_at DESC, id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [decode_complaint(r) for r in query(ws, sql, params)]


def add_tags(ws, tags: Iterable[str], *, complaint_id: str | None = None,
             customer_id: str | None = None, source: str = "manual", log: bool = True) -> int:
    """Attach vocabulary tags to a complaint and/or a customer; returns how many were new.

    Unknown tags are refused (the vocabulary is declared in data/tags.yaml).
    """
    from xiaobao.complaints_engine.tags import check_tags

    tags = check_tags(tags)
    ensure_tables(ws)
    conn = _db(ws).conn
    at = now_iso()
    added = 0
    with transaction(ws):
        for tag in tags:
            if complaint_id is not None:
                added += conn.execute(
                    "INSERT OR IGNORE INTO complaint_tags VALUES (?, ?, ?, ?)",
                    (complaint_id, tag, source, at)).rowcount
            if customer_id:
                added += conn.execute(
                    "INSERT OR IGNORE INTO customer_tags VALUES (?, ?, ?, ?)",
                    (customer_id, tag, source, at)).rowcount
    if log and added and hasattr(ws, "log_event"):
        ws.log_event("tags.add", ids=[i for i in (complaint_id, customer_id) if i],
                     detail={"tags": list(tags), "source": source})
    return added


def remove_tags(ws, tags: Iterable[str], *, complaint_id: str | None = None,
                customer_id: str | None = None, source: str | None = None) -> int:
    """Detach tags (all sources, or one); returns how many rows were removed."""
    ensure_tables(ws)
    conn = _db(ws).conn
    removed = 0
    with transaction(ws):
        for tag in tags:
            for table, col, value in (("complaint_tags", "complaint_id", complaint_id),
                                      ("customer_tags", "customer_id", customer_id)):
                if value is None:
                    continue
                sql = f"DELETE FROM {table} WHERE {col} = ? AND tag = ?"
                args = [value, tag]
                if source:
                    sql += " AND source = ?"
                    args.append(source)
                removed += conn.execute(sql, args).rowcount
    if removed and hasattr(ws, "log_event"):
        ws.log_event("tags.remove", ids=[i for i in (complaint_id, customer_id) if i],
                     detail={"tags": list(tags), "source": source})
    return removed


def complaint_tags(ws, complaint_id: str) -> list[dict]:
    ensure_tables(ws)
    return query(ws, "SELECT tag, source, created_at FROM complaint_tags WHERE complaint_id = ? "
                     "ORDER BY tag, source", (complaint_id,))


def customer_tags(ws, customer_id: str) -> list[dict]:
    ensure_tables(ws)
    return query(ws, "SELECT tag, source, created_at FROM customer_tags WHERE customer_id = ? "
                     "ORDER BY tag, source", (customer_id,))


def tag_counts(ws) -> dict[str, dict[str, int]]:
    """Per tag: how many complaints and how many customers carry it."""
    ensure_tables(ws)
    out: dict[str, dict[str, int]] = {}
    for r in query(ws, "SELECT tag, COUNT(DISTINCT complaint_id) n FROM complaint_tags GROUP BY tag"):
        out.setdefault(r["tag"], {"complaints": 0, "customers": 0})["complaints"] = r["n"]
    for r in query(ws, "SELECT tag, COUNT(DISTINCT customer_id) n FROM customer_tags GROUP BY tag"):
        out.setdefault(r["tag"], {"complaints": 0, "customers": 0})["customers"] = r["n"]
    return out


def customers_with_tag(ws, tag: str) -> list[dict]:
    ensure_tables(ws)
    return query(ws, "SELECT customer_id, GROUP_CONCAT(DISTINCT source) AS sources, MIN(created_at) "
                     "AS since FROM customer_tags WHERE tag = ? GROUP BY customer_id "
                     "ORDER BY customer_id", (tag,))
