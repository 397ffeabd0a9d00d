"""The customer profile: the single view an agent sees before acting on a customer.

Tags, complaints (with their SLA decision deadline), rings and who else is in them, watchlist
and complaint matches of the customer's complaints, the complaint-risk model's tier, recent
interactions, the last checks, what they answered and what was done with them, and the facts
the touchpoint rules see.
Reading a profile logs nothing and changes nothing (besides creating missing tables).
"""
from __future__ import annotations

from xiaobao.complaints_engine import store
from xiaobao.errors import NotFoundError, UserError
from xiaobao.prevention.facts import customer_facts, insight_rows
from xiaobao.prevention.outcomes import ensure_tables, trace, with_outcomes

RECENT_CHECKS = 20
RECENT_INTERACTIONS = 5
OTHER_MEMBERS_SHOWN = 20


def _rows(ws, sql: str, params=()) -> list[dict]:
    return store.query(ws, sql, params)


def _deadlines(ws, complaint_ids: list[str]) -> dict[str, dict]:
    """The decision deadline of each complaint that has an SLA case: {id: {due_at, state, case_status}}."""
    from xiaobao.complaints_engine.handling_tables import iso, now_local
    from xiaobao.complaints_engine.sla import case_clock, load_policies
    from xiaobao.complaints_engine.workcalendar import CalendarGapError

    if not complaint_ids:
        return {}
    marks = ",".join("?" * len(complaint_ids))
    cases = insight_rows(ws, f"SELECT * FROM cases WHERE complaint_id IN ({marks})", complaint_ids, as_dicts=True)
    if not cases:
        return {}
    try:
        policies = load_policies()
    except UserError as exc:  # the SLA file is broken: say so on each case rather than fail the view
        return {c["complaint_id"]: {"due_at": None, "state": "unknown", "problem": str(exc)} for c in cases}
    now, out = now_local(), {}
    for case in cases:
        try:
            clock = next(c for c in case_clock(ws, case, policies, now) if c.target == "decision")
        except (CalendarGapError, UserError) as exc:
            out[case["complaint_id"]] = {"due_at": None, "state": "unknown", "problem": str(exc)}
            continue
        state = ("met" if clock.met_at else "closed" if case["status"] != "open"
                 else "overdue" if clock.due_at < now else "running")
        out[case["complaint_id"]] = {"due_at": iso(clock.due_at), "state": state}
    return out


def _complaints(ws, customer_id: str) -> list[dict]:
    rows = _rows(ws, "SELECT id, status, channel, category, received_at, risk_score, risk_tier, level, "
                     "representative, substr(text, 1, 80) AS excerpt FROM complaints WHERE customer_id = ? "
                     "ORDER BY received_at DESC, id", (customer_id,))
    ids = [r["id"] for r in rows]
    deadlines = _deadlines(ws, ids)
    tags: dict[str, list[str]] = {}
    if ids:
        marks = ",".join("?" * len(ids))
        for r in _rows(ws, f"SELECT DISTINCT complaint_id, tag FROM complaint_tags WHERE complaint_id IN ({marks}) "
                           "ORDER BY tag", ids):
            tags.setdefault(r["complaint_id"], []).append(r["tag"])
    for r in rows:
        d = deadlines.get(r["id"], {})
        r["deadline"] = d.get("due_at")
        r["deadline_state"] = d.get("state")
        if d.get("problem"):
            r["deadline_problem"] = d["problem"]
        r["tags"] = tags.get(r["id"], [])
        # was the customer warned in the 30 days before, and was the warning heeded
        r["warnings_before"] = trace(ws, customer_id, r["received_at"])["summary"]
    return rows


def _rings(ws, customer_id: str) -> list[dict]:
    from xiaobao.complaints_engine.rings import ring_label

    rings = _rows(ws, "SELECT r.id, r.status, r.n_complaints, r.n_customers, r.subject_id, r.updated_at "
                      "FROM rings r WHERE r.id IN (SELECT ring_id FROM ring_members WHERE customer_id = ?) "
                      "ORDER BY r.id", (customer_id,))
    for r in rings:
        r["ring"] = ring_label(r["id"])
        r["complaints"] = [m["complaint_id"] for m in _rows(
            ws, "SELECT complaint_id FROM ring_members WHERE ring_id = ? AND customer_id = ? ORDER BY complaint_id",
            (r["id"], customer_id))]
        others = [m["customer_id"] for m in _rows(
            ws, "SELECT DISTINCT customer_id FROM ring_members WHERE ring_id = ? AND customer_id IS NOT NULL "
                "AND customer_id != ? ORDER BY customer_id", (r["id"], customer_id))]
        r["other_customers"] = others[:OTHER_MEMBERS_SHOWN]
        r["other_customers_total"] = len(others)
    return rings


def _matches(ws, customer_id: str) -> list[dict]:
    return _rows(ws, "SELECT m.complaint_id, m.kind, m.space, m.subject_id, s.name AS subject_name, "
                     "s.kind AS subject_kind, m.other_complaint_id, m.score, m.decision, m.created_at "
                     "FROM matches m JOIN complaints c ON c.id = m.complaint_id "
                     "LEFT JOIN subjects s ON s.id = m.subject_id WHERE c.customer_id = ? "
                     "ORDER BY m.decision = 'match' DESC, m.score DESC, m.id", (customer_id,))


def _checks(ws, customer_id: str) -> list[dict]:
    rows = _rows(ws, "SELECT id, touchpoint, asked_by, asked_at, level, result FROM checks WHERE customer_id = ? "
                     "ORDER BY id DESC LIMIT ?", (customer_id, RECENT_CHECKS))
    return with_outcomes(ws, rows)


def _interactions(ws, customer_id: str, facts: dict) -> dict:
    summary = insight_rows(ws, "SELECT COUNT(*), MIN(at), MAX(at) FROM interactions WHERE customer_id = ?",
                        (customer_id,))
    total, first, last = summary[0] if summary else (0, None, None)
    by_channel = {ch: n for ch, n in insight_rows(
        ws, "SELECT channel, COUNT(*) FROM interactions WHERE customer_id = ? GROUP BY channel ORDER BY 2 DESC",
        (customer_id,))}
    recent = [{"at": at, "channel": ch, "direction": d, "agent_id": a, "outcome": o, "excerpt": t}
              for at, ch, d, a, o, t in insight_rows(
                  ws, "SELECT at, channel, direction, agent_id, outcome, substr(text, 1, 60) FROM interactions "
                      "WHERE customer_id = ? ORDER BY at DESC, id DESC LIMIT ?", (customer_id, RECENT_INTERACTIONS))]
    return {"total": total, "last_7d": facts["contacts_7d"], "last_30d": facts["contacts_30d"],
            "first_at": first, "last_at": last, "by_channel": by_channel, "recent": recent}


def _risk(ws, customer_id: str) -> dict | None:
    rows = insight_rows(ws, "SELECT score, tier, rank, as_of, model, scored_at FROM customer_risk WHERE customer_id = ?",
                     (customer_id,))
    if not rows:
        return None
    return dict(zip(("score", "tier", "rank", "as_of", "model", "scored_at"), rows[0]))


def customer_profile(ws, customer_id: str) -> dict:
    """Everything xiaobao holds on ``customer_id``; NotFoundError if it appears nowhere.

    Keys: customer_id, facts (as the touchpoint rules see them), tags, complaints (each with
    ``warnings_before``: the trace summary of the 30 days before it, see
    :func:`xiaobao.prevention.outcomes.warnings_before`), rings, matches, risk (the
    complaint-risk model's row or null), interactions (counts and the latest few) and checks
    (the last 20, newest first, with the actions and reasons given and the latest ``outcome``).
    """
    if not isinstance(customer_id, str) or not customer_id.strip():
        raise UserError("customer id must be a non-empty string")
    ensure_tables(ws)
    facts = customer_facts(ws, customer_id)
    profile = {
        "customer_id": customer_id,
        "facts": facts,
        "tags": store.customer_tags(ws, customer_id),
        "complaints": _complaints(ws, customer_id),
        "rings": _rings(ws, customer_id),
        "matches": _matches(ws, customer_id),
        "risk": _risk(ws, customer_id),
        "interactions": _interactions(ws, customer_id, facts),
        "checks": _checks(ws, customer_id),
    }
    known = (profile["tags"] or profile["complaints"] or profile["rings"] or profile["risk"]
             or profile["interactions"]["total"] or profile["checks"])
    if not known:
        raise NotFoundError(f"customer {customer_id!r} is unknown: no tags, complaints, rings, risk score, "
                            "interactions or checks")
    return profile
