"""The registry's core tables. SQLite is the source of truth; FAISS files are caches."""

CORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS subjects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('agent', 'staff', 'customer', 'unknown')),
    note TEXT,
    meta TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- AUTOINCREMENT: a sample id is never reused, so a stale FAISS entry can never alias a new row.
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id INTEGER NOT NULL REFERENCES subjects(id),
    space TEXT NOT NULL REFERENCES spaces(name),
    vector BLOB NOT NULL,
    source_uri TEXT,
    sha256 TEXT,
    quality REAL,
    meta TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_space_sha ON samples(space, sha256);
CREATE INDEX IF NOT EXISTS samples_subject ON samples(subject_id);
CREATE INDEX IF NOT EXISTS samples_space_created ON samples(space, created_at);
-- generation is bumped in the same transaction as every change to a space's samples.
CREATE TABLE IF NOT EXISTS spaces (
    name TEXT PRIMARY KEY,
    modality TEXT NOT NULL,
    dim INTEGER NOT NULL,
    metric TEXT NOT NULL DEFAULT 'cosine',
    generation INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    what TEXT NOT NULL,
    ids TEXT,
    command TEXT,
    detail TEXT,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS events_what ON events(what, at);
-- append-only: the audit log can be added to, never edited or deleted from.
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events is append-only'); END;
-- workspace-wide settings, e.g. which vector store it uses and its unique id.
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS calibrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    space TEXT NOT NULL,
    match_threshold REAL NOT NULL,
    possible_threshold REAL NOT NULL,
    meta TEXT,
    created_at TEXT NOT NULL
);
"""
