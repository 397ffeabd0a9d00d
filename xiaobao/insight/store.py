"""The insight tables in the workspace registry.

``interactions`` holds one row per call, chat or message (the content hash makes re-ingest a
no-op); ``quality_findings`` / ``quality_runs`` hold inspection results; ``interaction_voc``
holds demand / willingness / dissatisfaction per interaction; ``customer_risk`` holds the
latest complaint-risk score and tier per customer (read by prevention). All tables are
created with IF NOT EXISTS, so every entry point calls :func:`ensure_tables` first.
"""
from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS interactions (
    id INTEGER PRIMARY KEY,
    content_hash TEXT NOT NULL UNIQUE,
    source_id TEXT,
    customer_id TEXT NOT NULL,
    at TEXT NOT NULL,
    channel TEXT NOT NULL,
    direction TEXT,
    agent_id TEXT,
    team TEXT,
    product TEXT,
    text TEXT NOT NULL,
    duration REAL,
    outcome TEXT,
    overdue_days INTEGER,
    source_file TEXT,
    source_line INTEGER
);
CREATE INDEX IF NOT EXISTS interactions_customer ON interactions(customer_id, at);
CREATE INDEX IF NOT EXISTS interactions_at ON interactions(at);

CREATE TABLE IF NOT EXISTS quality_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    rules_file TEXT,
    rules_sha256 TEXT,
    date_from TEXT,
    date_to TEXT,
    interactions INTEGER,
    findings INTEGER,
    seconds REAL
);
CREATE TABLE IF NOT EXISTS quality_findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    interaction_id INTEGER NOT NULL,
    rule TEXT NOT NULL,
    category TEXT NOT NULL,
    severity TEXT NOT NULL,
    penalty REAL NOT NULL,
    method TEXT NOT NULL,
    score REAL,
    quote TEXT,
    offset_s REAL,
    at TEXT NOT NULL,
    agent_id TEXT,
    team TEXT,
    customer_id TEXT
);
CREATE INDEX IF NOT EXISTS quality_findings_interaction ON quality_findings(interaction_id);
CREATE INDEX IF NOT EXISTS quality_findings_at ON quality_findings(at);

CREATE TABLE IF NOT EXISTS interaction_voc (
    interaction_id INTEGER PRIMARY KEY,
    demand TEXT,
    willingness TEXT,
    reason TEXT,
    method TEXT
);

CREATE TABLE IF NOT EXISTS customer_risk (
    customer_id TEXT PRIMARY KEY,
    score REAL NOT NULL,
    tier TEXT NOT NULL,
    rank INTEGER,
    as_of TEXT NOT NULL,
    model TEXT NOT NULL,
    features TEXT,
    scored_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS customer_risk_tier ON customer_risk(tier);
"""


def ensure_tables(ws) -> None:
    """Create the insight tables if missing (safe to call any number of times)."""
    ws.db.conn.executescript(SCHEMA)


def table_exists(ws, name: str) -> bool:
    return ws.db.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None
