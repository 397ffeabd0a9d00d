"""What xiaobao knows about a customer, as the flat facts the touchpoint rules test.

Read from the complaints engine (tags, complaints, rings), the insight tables (interactions,
the complaint-risk model's tier) and the check log. The insight tables exist only once
interactions were ingested or customers scored; until then their facts are 0 / null.

Every query here is one indexed lookup by customer id (:func:`ensure_tables` creates the
indexes the engine's own schema does not have), so a check stays well under a millisecond on
a workspace of 100,000 customers.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
import weakref

from xiaobao.complaints_engine import store
from xiaobao.complaints_engine.handling_tables import now_local
from xiaobao.errors import InputError

CHECKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS checks (
  id INTEGER PRIMARY KEY, customer_id TEXT, touchpoint TEXT, asked_by TEXT, asked_at TEXT,
  level TEXT, result TEXT);
CREATE INDEX IF NOT EXISTS checks_customer ON checks(customer_id, touchpoint, asked_at);
CREATE INDEX IF NOT EXISTS ring_members_customer ON ring_members(customer_id);
"""

#: Name -> meaning, as documented in the shipped policies.yaml.
FACTS = {
    "tags": "the customer's consumer-protection tags (list; any source)",
    "complaints": "complaints on record",
    "open_complaints": "complaints with status open",
    "risk_tier": "highest screening risk tier among the customer's complaints (high|medium|low|null)",
    "in_ring": "member of a proxy-complaint ring that is not dissolved",
    "rings": "how many such rings",
    "predicted_risk_tier": "complaint-risk model tier from `xiaobao risk score` (high|medium|low|null)",
    "predicted_risk_score": "the model's score (null when not scored)",
    "contacts_7d": "interactions (calls, chats, messages) with the customer in the last 7 days",
    "contacts_30d": "interactions with the customer in the last 30 days",
    "checks_24h": "earlier checks of this customer at this touchpoint in the last 24 hours",
}
#: What a fact is when nothing is known: rules compare counts without first testing for null.
FACT_DEFAULTS = {"tags": [], "complaints": 0, "open_complaints": 0, "risk_tier": None, "in_ring": False, "rings": 0,
                 "predicted_risk_tier": None, "predicted_risk_score": None, "contacts_7d": 0, "contacts_30d": 0,
                 "checks_24h": 0}
#: Counts a caller may know better (its own calls not yet ingested): the larger value is used.
CALLER_COUNTS = ("contacts_7d", "contacts_30d")
_TIERS = ("high", "medium", "low")
_ready: "weakref.WeakSet" = weakref.WeakSet()


def ensure_tables(ws) -> None:
    """The complaint tables, the ``checks`` log and the customer-id indexes (once per workspace)."""
    if ws in _ready:
        return
    store.ensure_tables(ws)
    ws.db.conn.executescript(CHECKS_SCHEMA)
    _ready.add(ws)


def insight_rows(ws, sql: str, params, *, as_dicts: bool = False) -> list:
    """Rows of a query on a table another part creates (insight, SLA cases), or [] while it does
    not exist yet: reading never creates another part's tables."""
    try:
        cur = ws.db.conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    rows = cur.fetchall()
    if as_dicts:
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in rows]
    return rows


def contact_counts(ws, customer_id: str, now: dt.datetime | None = None) -> dict:
    """Interactions with the customer in the last 7 and 30 days (by the time recorded on them)."""
    now = now or now_local()  # interactions keep Asia/Shanghai wall-clock times
    d7 = (now - dt.timedelta(days=7)).isoformat()
    d30 = (now - dt.timedelta(days=30)).isoformat()
    rows = insight_rows(ws, "SELECT COUNT(*), COALESCE(SUM(at >= ?), 0) FROM interactions "
                         "WHERE customer_id = ? AND at >= ? AND at <= ?",
                     (d7, customer_id, d30, now.isoformat()))
    n30, n7 = rows[0] if rows else (0, 0)
    return {"contacts_7d": int(n7), "contacts_30d": int(n30)}


def predicted_risk(ws, customer_id: str) -> dict:
    rows = insight_rows(ws, "SELECT tier, score FROM customer_risk WHERE customer_id = ?", (customer_id,))
    tier, score = rows[0] if rows else (None, None)
    return {"predicted_risk_tier": tier, "predicted_risk_score": score}


def customer_facts(ws, customer_id: str, touchpoint: str | None = None, *, now: dt.datetime | None = None) -> dict:
    """The facts of :data:`FACTS` for one customer (``checks_24h`` over all touchpoints when none is named)."""
    ensure_tables(ws)
    conn = ws.db.conn
    tags = [r[0] for r in conn.execute(
        "SELECT DISTINCT tag FROM customer_tags WHERE customer_id = ? ORDER BY tag", (customer_id,))]
    rows = conn.execute("SELECT status, risk_tier FROM complaints WHERE customer_id = ?", (customer_id,)).fetchall()
    rings = conn.execute("SELECT COUNT(DISTINCT m.ring_id) FROM ring_members m JOIN rings r ON r.id = m.ring_id "
                         "WHERE m.customer_id = ? AND r.status != 'dissolved'", (customer_id,)).fetchone()[0]
    tiers = {r[1] for r in rows}
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=24)).replace(microsecond=0).isoformat()
    if touchpoint is None:
        checks = conn.execute("SELECT COUNT(*) FROM checks WHERE customer_id = ? AND asked_at >= ?",
                              (customer_id, since)).fetchone()[0]
    else:
        checks = conn.execute("SELECT COUNT(*) FROM checks WHERE customer_id = ? AND touchpoint = ? AND asked_at >= ?",
                              (customer_id, touchpoint, since)).fetchone()[0]
    return {"tags": tags, "complaints": len(rows), "open_complaints": sum(r[0] == "open" for r in rows),
            "risk_tier": next((t for t in _TIERS if t in tiers), None), "in_ring": rings > 0, "rings": rings,
            **predicted_risk(ws, customer_id), **contact_counts(ws, customer_id, now), "checks_24h": checks}


def merge_context(stored: dict, context: dict | None) -> dict:
    """Facts for the rules: the caller's context, overridden by what is stored, except that for
    contact counts the caller's number is used when it is larger."""
    context = dict(context or {})
    facts = {**context, **stored}
    for name in CALLER_COUNTS:
        given = context.get(name)
        if given is not None and (not isinstance(given, (int, float)) or isinstance(given, bool) or given < 0):
            # silently keeping the stored count would under-warn exactly when the caller knows better
            raise InputError("context", f"{name} must be a count of contacts (a number >= 0), got {given!r}")
        if given is not None and given > facts.get(name, 0):
            facts[name] = given
    return facts
