"""Supervision (督办): handling actions per case and the view of what each open case still needs.

For each open case the view shows the time left to each deadline, the required actions of its
policy not yet recorded, internal steps started but not completed (e.g. evidence requested and
not received) and customer follow-ups that are due. Recording a closing action (``reply_sent``
by default) after a decision closes the case and the complaint.
"""
from __future__ import annotations

import datetime as dt

from xiaobao.errors import UserError
from xiaobao.complaints_engine import records
from xiaobao.complaints_engine.handling_tables import ensure_handling_tables, iso, now_local, parse_time
from xiaobao.complaints_engine.workcalendar import CalendarGapError
from xiaobao.complaints_engine.sla import (PolicySet, _actions, _case, _record, case_clock, format_left,
                                           load_policies, sla_events)


def record_action(ws, complaint_id: str, action: str, at=None, actor: str | None = None, note: str | None = None,
                  due_at=None, policies: PolicySet | None = None, command: str | None = None) -> dict:
    """Record one handling action on a case (and close it when the action closes cases)."""
    policies = policies or load_policies()
    if action not in policies.actions:
        raise UserError(f"unknown action {action!r}; known: {', '.join(policies.actions)}")
    case = _case(ws, complaint_id)
    if case["status"] != "open":
        raise UserError(f"case {complaint_id} is closed (at {case['closed_at']}); no more actions can be recorded")
    at = parse_time(at, "--at") if at else now_local()
    if at < parse_time(case["received_at"]):
        raise UserError(f"case {complaint_id}: action time {iso(at)} is before receipt {case['received_at']}")
    due = parse_time(due_at, "--due") if due_at else None
    if action == policies.follow_up.get("scheduled") and due is None:
        raise UserError(f"action {action} needs --due (when the customer is to be contacted)")
    done = {a["action"] for a in _actions(ws, complaint_id)} | {action}
    closing = action in policies.closes_case
    if closing and "decision" in policies.actions and "decision" not in done:
        raise UserError(f"case {complaint_id}: record the decision before {action}")
    with ws.transaction() as conn:
        cur = conn.execute("INSERT INTO case_actions (complaint_id, action, at, actor, note, due_at, recorded_at)"
                           " VALUES (?,?,?,?,?,?,?)", (complaint_id, action, iso(at), actor, note, iso(due),
                                                       iso(now_local())))
        ws.log_event("case.action", ids=[complaint_id], command=command,
                     detail={"action": action, "at": iso(at), "actor": actor, "note": note, "due_at": iso(due)})
        if closing:
            if case["paused_since"]:
                from xiaobao.complaints_engine.sla import resume

                resume(ws, complaint_id, at=at, command=command)
            conn.execute("UPDATE cases SET status = 'closed', closed_at = ? WHERE complaint_id = ?",
                         (iso(at), complaint_id))
            records.set_status(ws, complaint_id, "closed")
            _record(ws, complaint_id, "closed", at, detail={"by_action": action}, command=command)
    return {"id": cur.lastrowid, "complaint_id": complaint_id, "action": action, "at": iso(at),
            "closed": closing}


def supervision(ws, complaint_id: str, now=None, policies: PolicySet | None = None) -> dict:
    """The supervision view of one case."""
    policies = policies or load_policies()
    now = parse_time(now, "--now") if now else now_local()
    case = _case(ws, complaint_id)
    policy = policies.get(case["policy"])
    actions = _actions(ws, complaint_id)
    done = [a["action"] for a in actions]
    clocks = case_clock(ws, case, policies, now, actions)
    deadlines = []
    for c in clocks:
        end = c.met_at or (parse_time(case["closed_at"]) if case["closed_at"] else now)
        deadlines.append({**c.to_dict(), "time_left": None if c.met_at else format_left(c.due_at - now),
                          "state": ("met" if c.met_at and c.met_at <= c.due_at else
                                    "met late" if c.met_at else
                                    "overdue" if end > c.due_at else
                                    "due soon" if c.due_at - now <= policy.due_soon else "running")})
    pending = []
    for start, finish in policies.internal_steps.items():
        opened = [a for a in actions if a["action"] == start]
        closed = [a for a in actions if a["action"] == finish]
        if len(opened) > len(closed):
            pending.append({"step": start, "since": opened[-1]["at"], "waiting_for": finish,
                            "label": policies.actions.get(finish, finish)})
    follow_ups = []
    sched, fin = policies.follow_up.get("scheduled"), policies.follow_up.get("done")
    done_times = [parse_time(a["at"]) for a in actions if a["action"] == fin]
    for a in actions:
        if a["action"] == sched and a.get("due_at"):
            due = parse_time(a["due_at"])
            if not any(t >= parse_time(a["at"]) for t in done_times):
                follow_ups.append({"scheduled_at": a["at"], "due_at": a["due_at"], "note": a.get("note"),
                                   "state": "due" if due <= now + policy.due_soon else "later",
                                   "overdue": due < now})
    missing = [a for a in policy.required_actions if a not in done]
    overdue = case["status"] == "open" and any(d["state"] == "overdue" for d in deadlines)
    return {"complaint_id": complaint_id, "policy": policy.name, "policy_title": policy.title,
            "status": case["status"], "received_at": case["received_at"], "closed_at": case["closed_at"],
            "paused": bool(case["paused_since"]), "paused_since": case["paused_since"],
            "extension_level": case["extension_level"], "escalation_level": case["escalation_level"],
            "deadlines": deadlines, "overdue": overdue,
            "missing_required_actions": [{"action": a, "label": policies.actions.get(a, a)} for a in missing],
            "internal_steps_pending": pending, "follow_ups_due": [f for f in follow_ups if f["state"] == "due"],
            "actions": actions, "sla_events": sla_events(ws, complaint_id), "now": iso(now)}


def list_cases(ws, now=None, overdue: bool = False, status: str | None = "open",
               policies: PolicySet | None = None) -> list[dict]:
    """One summary row per case (``overdue=True``: only open cases past a deadline not met)."""
    policies = policies or load_policies()
    now = parse_time(now, "--now") if now else now_local()
    ensure_handling_tables(ws)
    sql, args = "SELECT complaint_id FROM cases", []
    if status:
        sql += " WHERE status = ?"
        args.append(status)
    rows = []
    for r in list(ws.db.query(sql + " ORDER BY received_at, complaint_id", args)):
        try:
            view = supervision(ws, r["complaint_id"], now, policies)
        except CalendarGapError as exc:  # listed with the reason, the other cases go on
            rows.append({"complaint_id": r["complaint_id"], "state": "unknown", "overdue": None, "problem": str(exc)})
            continue
        if overdue and not view["overdue"]:
            continue
        decision = next(d for d in view["deadlines"] if d["target"] == "decision")
        rows.append({"complaint_id": view["complaint_id"], "policy": view["policy"], "status": view["status"],
                     "decision_due": decision["due_at"], "time_left": decision["time_left"],
                     "state": decision["state"], "overdue": view["overdue"], "paused": view["paused"],
                     "missing": ",".join(m["action"] for m in view["missing_required_actions"]),
                     "pending_steps": len(view["internal_steps_pending"]),
                     "follow_ups_due": len(view["follow_ups_due"])})
    return rows
