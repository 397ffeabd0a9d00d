"""Was the warning heeded? Outcomes of checks, and the trace from a complaint back to them.

The check log (``checks``) records that a warning was *given*. The caller records what was
done with it afterwards (:func:`record_outcome`): the actions were taken, the agent went ahead
anyway, or the contact was dropped. A check may get several outcomes over time (a contact
first dropped, later made): every one is kept in ``check_outcomes`` and the latest counts.

:func:`warnings_before` answers the question a complaint investigator asks: in the days before
this complaint arrived, was its customer checked, was a warning given, and was it followed?
"""
from __future__ import annotations

import datetime as dt
import json
import weakref

from xiaobao.complaints_engine import store
from xiaobao.errors import NotFoundError, UserError
from xiaobao.prevention.facts import ensure_tables as ensure_check_tables

#: The outcome vocabulary: name -> meaning.
OUTCOMES = {
    "followed": "the actions were taken (the contact went ahead as the check advised, or was paused)",
    "overridden": "the agent went ahead against the advice",
    "not_contacted": "the contact was dropped; the customer was not contacted",
}
#: Levels that count as a warning in a trace; ``notice`` is information, not a warning.
WARNING_LEVELS = ("warn", "intercept")
#: Trace summaries, worst first: the first that applies to any warning in the window wins.
SUMMARIES = {
    "warned_and_overridden": "a warning was given and the agent went ahead anyway",
    "warned_no_outcome": "a warning was given and nobody recorded what was done with it",
    "warned_and_followed": "a warning was given and its actions were taken",
    "warned_not_contacted": "a warning was given and the contact was dropped",
    "not_warned": "no warning was given in the window (no check, or checks below warn)",
    "no_customer": "the complaint names no customer, so no check can be traced",
    "no_received_time": "the complaint has no received time, so there is no window to look in",
}
DEFAULT_DAYS = 30
# Check times are UTC; complaint times are Asia/Shanghai wall clock (see handling_tables.parse_time).
_SHANGHAI = dt.timedelta(hours=8)

OUTCOMES_SCHEMA = """
CREATE TABLE IF NOT EXISTS check_outcomes (
  id INTEGER PRIMARY KEY, check_id INTEGER NOT NULL, outcome TEXT NOT NULL, "by" TEXT NOT NULL,
  at TEXT NOT NULL, note TEXT);
CREATE INDEX IF NOT EXISTS check_outcomes_check ON check_outcomes(check_id, id);
"""
_ready: "weakref.WeakSet" = weakref.WeakSet()


class UnknownOutcomeError(UserError):
    """An outcome outside :data:`OUTCOMES`; ``outcomes`` lists the allowed ones."""

    def __init__(self, outcome):
        self.outcomes = list(OUTCOMES)
        super().__init__(f"outcome {outcome!r} is not one of {', '.join(self.outcomes)}")


def ensure_tables(ws) -> None:
    """The check log and ``check_outcomes`` (once per workspace).

    A trace reads a customer's checks through the check log's (customer_id, touchpoint,
    asked_at) index; no index of its own, so the check's insert stays as cheap as it was."""
    if ws in _ready:
        return
    ensure_check_tables(ws)
    ws.db.conn.executescript(OUTCOMES_SCHEMA)
    _ready.add(ws)


def _check_id(check_id) -> int:
    if isinstance(check_id, bool):
        raise UserError(f"check id must be a whole number, got {check_id!r}")
    try:
        return int(str(check_id).strip()) if isinstance(check_id, str) else int(check_id)
    except (TypeError, ValueError):
        raise UserError(f"check id must be a whole number, got {check_id!r}") from None


def record_outcome(ws, check_id, outcome: str, *, by: str, note: str | None = None) -> dict:
    """Record what was done with check ``check_id``: one of :data:`OUTCOMES`, by whom, an optional note.

    Writes one ``check_outcomes`` row and one ``prevention.outcome`` audit event in one
    transaction. A later outcome for the same check is recorded too and becomes the one that
    counts; the earlier ones stay. Unknown check: NotFoundError. Outcome outside the vocabulary:
    :class:`UnknownOutcomeError` (a UserError listing the allowed ones).
    Returns ``{id, check_id, outcome, by, at, note, customer_id, level, previous}`` where
    ``previous`` is the outcome it replaces (or None).
    """
    cid = _check_id(check_id)
    if outcome not in OUTCOMES:
        raise UnknownOutcomeError(outcome)
    if not isinstance(by, str) or not by.strip():
        raise UserError("by (who records the outcome) must be a non-empty string")
    if note is not None and not isinstance(note, str):
        raise UserError("note must be text")
    note = (note.strip() or None) if note is not None else None
    ensure_tables(ws)
    with ws.transaction():
        row = ws.conn.execute("SELECT customer_id, level FROM checks WHERE id = ?", (cid,)).fetchone()
        if row is None:
            raise NotFoundError(f"check {cid} is unknown")
        prev = ws.conn.execute("SELECT outcome FROM check_outcomes WHERE check_id = ? ORDER BY id DESC LIMIT 1",
                               (cid,)).fetchone()
        at = store.now_iso()
        oid = ws.conn.execute('INSERT INTO check_outcomes (check_id, outcome, "by", at, note) VALUES (?, ?, ?, ?, ?)',
                              (cid, outcome, by.strip(), at, note)).lastrowid
        ws.log_event("prevention.outcome", ids=(cid,), command=by.strip(),
                     detail={"outcome": outcome, "note": note, "outcome_id": oid,
                             "previous": prev[0] if prev else None})
    return {"id": oid, "check_id": cid, "outcome": outcome, "by": by.strip(), "at": at, "note": note,
            "customer_id": row[0], "level": row[1], "previous": prev[0] if prev else None}


def check_outcomes(ws, check_id) -> list[dict]:
    """Every outcome recorded for a check, oldest first (the last one counts)."""
    ensure_tables(ws)
    return store.query(ws, 'SELECT id, check_id, outcome, "by", at, note FROM check_outcomes WHERE check_id = ? '
                           "ORDER BY id", (_check_id(check_id),))


def latest_outcomes(ws, check_ids: list[int]) -> dict[int, dict]:
    """{check_id: its latest outcome as {outcome, by, at, note}} for the checks that have one."""
    if not check_ids:
        return {}
    ensure_tables(ws)
    out: dict[int, dict] = {}
    for start in range(0, len(check_ids), 500):  # stay under SQLite's bound-parameter limit
        part = list(check_ids[start:start + 500])
        marks = ",".join("?" * len(part))
        for r in store.query(ws, 'SELECT o.check_id, o.outcome, o."by", o.at, o.note FROM check_outcomes o '
                                 "WHERE o.id IN (SELECT MAX(id) FROM check_outcomes "
                                 f"WHERE check_id IN ({marks}) GROUP BY check_id)", part):
            out[r.pop("check_id")] = r
    return out


def with_outcomes(ws, rows: list[dict]) -> list[dict]:
    """``checks`` rows (with their ``result`` JSON) as shown to people: the result's actions and
    reasons, and the check's latest outcome (None when nothing was recorded)."""
    outcomes = latest_outcomes(ws, [r["id"] for r in rows])
    out = []
    for r in rows:
        result = json.loads(r.pop("result") or "{}")
        out.append({**r, "actions": result.get("actions", []), "reasons": result.get("reasons", []),
                    "outcome": outcomes.get(r["id"])})
    return out


def _utc(local_text: str) -> dt.datetime:
    """A complaint time (Shanghai wall clock, or with an offset) as an aware UTC time."""
    from xiaobao.complaints_engine.handling_tables import parse_time

    return (parse_time(local_text, "received_at") - _SHANGHAI).replace(tzinfo=dt.timezone.utc)


def summarise(checks: list[dict]) -> str:
    """The trace summary of checks carrying ``level`` and ``outcome`` (see :data:`SUMMARIES`)."""
    latest = {(c["outcome"] or {}).get("outcome") for c in checks if c["level"] in WARNING_LEVELS}
    if not latest:
        return "not_warned"
    for summary, outcome in (("warned_and_overridden", "overridden"), ("warned_no_outcome", None),
                             ("warned_and_followed", "followed"), ("warned_not_contacted", "not_contacted")):
        if outcome in latest:
            return summary
    raise AssertionError(f"unexpected outcomes {latest}")  # the vocabulary and this list must agree


def _window_checks(ws, customer_id: str, received_utc: dt.datetime, days: float) -> tuple[str, list[dict]]:
    since = (received_utc - dt.timedelta(days=days)).replace(microsecond=0).isoformat()
    until = received_utc.replace(microsecond=0).isoformat()
    rows = store.query(ws, "SELECT id, touchpoint, level, asked_by, asked_at, result FROM checks "
                           "WHERE customer_id = ? AND asked_at >= ? AND asked_at <= ? ORDER BY asked_at DESC, id DESC",
                       (customer_id, since, until))
    return since, with_outcomes(ws, rows)


def _days(days) -> float:
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not days > 0:
        raise UserError(f"days must be a positive number, got {days!r}")
    return days


def warnings_before(ws, complaint_id: str, days: float = DEFAULT_DAYS) -> dict:
    """The checks of the complaint's customer in the ``days`` before it was received, and what came of them.

    Returns ``{complaint_id, customer_id, received_at, days, since, until, summary, warnings,
    checks}``: ``checks`` newest first, each with id, touchpoint, level, actions, reasons,
    asked_by, asked_at (UTC) and its latest ``outcome`` ({outcome, by, at, note} or null);
    ``warnings`` counts the checks at warn or intercept; ``summary`` is one of
    :data:`SUMMARIES` (the worst that applies). ``since``/``until`` are the window in UTC.
    Unknown complaint: NotFoundError. Reading logs nothing.
    """
    days = _days(days)
    ensure_tables(ws)
    row = store.query(ws, "SELECT id, customer_id, received_at FROM complaints WHERE id = ?", (complaint_id,))
    if not row:
        raise NotFoundError(f"complaint {complaint_id!r} is unknown (see the ids: xiaobao complaints list)")
    c = row[0]
    return {"complaint_id": c["id"], "customer_id": c["customer_id"], "received_at": c["received_at"],
            "days": days, **trace(ws, c["customer_id"], c["received_at"], days)}


def trace(ws, customer_id: str | None, received_at: str | None, days: float = DEFAULT_DAYS) -> dict:
    """``{since, until, summary, warnings, checks}`` of :func:`warnings_before` for a customer and a
    complaint time (Shanghai wall clock) rather than a complaint id; the profile uses it per complaint."""
    days = _days(days)
    ensure_tables(ws)
    if not customer_id or not received_at:
        return {"since": None, "until": None, "summary": "no_customer" if not customer_id else "no_received_time",
                "warnings": 0, "checks": []}
    received = _utc(received_at)
    since, checks = _window_checks(ws, customer_id, received, days)
    return {"since": since, "until": received.replace(microsecond=0).isoformat(), "summary": summarise(checks),
            "warnings": sum(ch["level"] in WARNING_LEVELS for ch in checks), "checks": checks}
