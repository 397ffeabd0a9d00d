"""Tables owned by complaint handling (routing, SLA clock, supervision, validity).

Part 1 (``store.py``) owns ``complaints``, ``complaint_tags``, ``matches`` and friends; this
module creates only the handling tables, with IF NOT EXISTS so any command can call it.
"""
from __future__ import annotations

import datetime as dt

HANDLING_SCHEMA = """
CREATE TABLE IF NOT EXISTS routes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id TEXT NOT NULL,
    rule TEXT NOT NULL,              -- the rule that made the decision ('default' when none matched)
    rule_index INTEGER,              -- its position in the file (1-based), NULL for default
    rule_expr TEXT,                  -- the expression as it was when it decided
    queue TEXT NOT NULL,
    team TEXT,
    priority TEXT,
    tags_added TEXT,                 -- JSON list
    category TEXT,
    category_confidence REAL,
    category_source TEXT,            -- 'given' | 'classifier'
    category_terms TEXT,             -- JSON list of lexicon terms that decided it
    rules_file TEXT,
    rules_sha256 TEXT,
    routed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS routes_complaint ON routes(complaint_id);
CREATE TABLE IF NOT EXISTS cases (
    complaint_id TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    basis TEXT NOT NULL,             -- calendar_days | working_days
    received_at TEXT NOT NULL,
    extension_level INTEGER NOT NULL DEFAULT 0,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    paused_since TEXT,               -- set while the clock is stopped
    pauses TEXT NOT NULL DEFAULT '[]',   -- JSON list of [paused_at, resumed_at]
    status TEXT NOT NULL DEFAULT 'open', -- open | closed
    opened_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE TABLE IF NOT EXISTS case_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id TEXT NOT NULL,
    action TEXT NOT NULL,
    at TEXT NOT NULL,                -- when it happened
    actor TEXT,
    note TEXT,
    due_at TEXT,                     -- for follow-ups: when the customer is to be contacted
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS case_actions_complaint ON case_actions(complaint_id, at);
CREATE TABLE IF NOT EXISTS sla_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id TEXT NOT NULL,
    kind TEXT NOT NULL,              -- opened|due_soon|breached|escalated|paused|resumed|extended|closed
    target TEXT,                     -- decision | first_response
    at TEXT NOT NULL,                -- the clock time the event is about
    due_at TEXT,
    level INTEGER,
    approver TEXT,
    detail TEXT,
    recorded_at TEXT NOT NULL,
    once_key TEXT UNIQUE             -- set for tick events, so each is emitted once per deadline
);
CREATE INDEX IF NOT EXISTS sla_events_complaint ON sla_events(complaint_id, at);
CREATE TABLE IF NOT EXISTS validity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    responsibility TEXT,
    reasons TEXT NOT NULL,           -- JSON list of {check, result, grounds, detail}
    checked_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS validity_complaint ON validity(complaint_id);
"""


def ensure_handling_tables(ws) -> None:
    with ws.transaction() as conn:
        for statement in HANDLING_SCHEMA.split(";\n"):
            if statement.strip():
                conn.execute(statement)


def now_local() -> dt.datetime:
    """Clock time in Asia/Shanghai without tzinfo: complaint times are stored that way."""
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=8)).replace(tzinfo=None, microsecond=0)


def iso(t: dt.datetime | None) -> str | None:
    return t.replace(microsecond=0).isoformat() if t else None


def parse_time(value, what: str = "time") -> dt.datetime:
    """ISO date or date-time; a date alone means its start."""
    from xiaobao.errors import UserError

    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    try:
        t = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{what} {value!r} is not an ISO date or date-time (YYYY-MM-DD[THH:MM[:SS]])") from None
    if t.tzinfo is not None:  # convert to Shanghai local, the convention of the complaints table
        t = (t.astimezone(dt.timezone.utc) + dt.timedelta(hours=8)).replace(tzinfo=None)
    return t
