"""Deadline clock (SLA): policies per channel, calendar or Chinese working days, pause/resume,
extensions with a recorded approver, and tick events (due soon, breached, escalated).

Counting rules (the same words are in ``data/sla.yaml``):

* Day 1 is the day after receipt (期间开始的当日不计入); a deadline is 23:59:59 of its last day.
* ``working_days`` counts only Chinese working days (statutory holidays off, make-up working
  days on), from :mod:`workcalendar`; ``calendar_days`` counts every day.
* A day on which the clock was stopped for the whole day does not count; a day with any
  running time counts. An open pause is taken to last until the time asked about.
* ``roll_over_holiday`` (calendar days only): a period whose last day is not a working day
  ends at the end of the next working day (民法典 第二百零三条).
* An extension adds its days to the target's count; it has to be made before the deadline it
  extends has passed, and one marked ``approval: true`` needs a named approver.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

from xiaobao.complaints_engine.handling_tables import ensure_handling_tables, iso, now_local, parse_time
from xiaobao.complaints_engine.workcalendar import CalendarGapError, WorkCalendar, load_calendar
from xiaobao.errors import InputError, NotFoundError, UserError
from xiaobao.yamlfile import read_yaml_mapping

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "data" / "sla.yaml"
BASES = ("calendar_days", "working_days")
END_OF_DAY = dt.time(23, 59, 59)
_DUR = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([dh])\s*$")


def parse_duration(value, what: str = "duration") -> dt.timedelta:
    """'2d', '36h', '0d' -> timedelta (d = 24 hours)."""
    if isinstance(value, (int, float)):
        return dt.timedelta(days=value)
    m = _DUR.match(str(value))
    if not m:
        raise UserError(f"{what} {value!r} is not a duration like 2d or 36h")
    n = float(m.group(1))
    return dt.timedelta(days=n) if m.group(2) == "d" else dt.timedelta(hours=n)


@dataclass(frozen=True)
class Extension:
    days: int
    approval: bool
    note: str = ""


@dataclass(frozen=True)
class Target:
    name: str
    days: int
    satisfied_by: tuple[str, ...]
    extensions: tuple[Extension, ...] = ()

    def total_days(self, level: int) -> int:
        return self.days + sum(e.days for e in self.extensions[:level])


@dataclass(frozen=True)
class Policy:
    name: str
    title: str
    channels: tuple[str, ...]
    basis: str
    roll_over_holiday: bool
    due_soon: dt.timedelta
    targets: dict
    required_actions: tuple[str, ...]
    escalation: tuple[tuple[dt.timedelta, str], ...]


@dataclass
class PolicySet:
    policies: dict[str, Policy]
    actions: dict[str, str]
    internal_steps: dict[str, str]
    follow_up: dict[str, str]
    closes_case: tuple[str, ...]
    calendar: WorkCalendar
    path: str

    def for_channel(self, channel: str | None) -> Policy:
        fallback = None
        for p in self.policies.values():
            if channel in p.channels:
                return p
            if "*" in p.channels:
                fallback = p
        if fallback is None:
            raise UserError(f"no SLA policy in {self.path} covers channel {channel!r} and none has channels: ['*']")
        return fallback

    def get(self, name: str) -> Policy:
        if name not in self.policies:
            raise UserError(f"case refers to SLA policy {name!r}, which {self.path} no longer defines")
        return self.policies[name]


def load_policies(path: str | Path | None = None, calendar: WorkCalendar | None = None) -> PolicySet:
    """Read and check an SLA policy file; a problem names the policy and the field."""
    path = Path(path) if path else DEFAULT_POLICY_FILE
    doc = read_yaml_mapping(path, "SLA policy file")
    if not isinstance(doc.get("policies"), dict) or not doc["policies"]:
        raise InputError(path, "expected a mapping with a non-empty 'policies' mapping")
    actions = {str(k): str(v) for k, v in (doc.get("actions") or {}).items()}
    if not actions:
        raise InputError(path, "needs an 'actions' vocabulary")

    def need_action(name, where):
        if name not in actions:
            raise InputError(path, f"{where}: action {name!r} is not in 'actions' ({', '.join(actions)})")
        return name

    try:
        default_soon = parse_duration(doc.get("due_soon", "2d"), "due_soon")
    except UserError as exc:
        raise InputError(path, str(exc)) from None
    policies = {}
    for name, spec in doc["policies"].items():
        where = f"policy {name!r}"
        if not isinstance(spec, dict):
            raise InputError(path, f"{where}: expected a mapping")
        basis = spec.get("basis", "calendar_days")
        if basis not in BASES:
            raise InputError(path, f"{where}: basis {basis!r} is not one of {', '.join(BASES)}")
        channels = spec.get("channels")
        if not isinstance(channels, list) or not channels:
            raise InputError(path, f"{where}: 'channels' must be a non-empty list (use ['*'] for the rest)")
        targets = {}
        for tname, t in (spec.get("targets") or {}).items():
            tw = f"{where} target {tname!r}"
            if not isinstance(t, dict) or not isinstance(t.get("days"), int) or t["days"] <= 0:
                raise InputError(path, f"{tw}: 'days' must be a positive whole number")
            sat = tuple(need_action(a, tw) for a in (t.get("satisfied_by") or []))
            if not sat:
                raise InputError(path, f"{tw}: 'satisfied_by' must name at least one action")
            exts = []
            for j, e in enumerate(t.get("extensions") or [], start=1):
                if not isinstance(e, dict) or not isinstance(e.get("days"), int) or e["days"] <= 0:
                    raise InputError(path, f"{tw} extension {j}: 'days' must be a positive whole number")
                exts.append(Extension(e["days"], bool(e.get("approval", False)), str(e.get("note", ""))))
            targets[str(tname)] = Target(str(tname), t["days"], sat, tuple(exts))
        if "decision" not in targets:
            raise InputError(path, f"{where}: needs a 'decision' target")
        try:
            soon = parse_duration(spec["due_soon"], f"{where} due_soon") if "due_soon" in spec else default_soon
            ladder = tuple((parse_duration(s.get("after", "0d"), f"{where} escalation"), str(s["to"]))
                           for s in (spec.get("escalation") or []))
        except (UserError, KeyError, AttributeError) as exc:
            raise InputError(path, f"{where}: escalation steps need 'after' and 'to' ({exc})") from None
        req = tuple(need_action(a, f"{where} required_actions") for a in (spec.get("required_actions") or []))
        policies[str(name)] = Policy(str(name), str(spec.get("title", name)), tuple(map(str, channels)), basis,
                                     bool(spec.get("roll_over_holiday", False)), soon, targets, req, ladder)
    steps = {need_action(k, "internal_steps"): need_action(v, "internal_steps")
             for k, v in (doc.get("internal_steps") or {}).items()}
    follow = {k: need_action(v, "follow_up") for k, v in (doc.get("follow_up") or {}).items()}
    closes = tuple(need_action(a, "closes_case") for a in (doc.get("closes_case") or []))
    if calendar is None:
        cal_file = doc.get("calendar")
        calendar = load_calendar(path.parent / cal_file if cal_file else None)
    return PolicySet(policies, actions, steps, follow, closes, calendar, str(path))


# -- deadline arithmetic --------------------------------------------------------------------
def _fully_paused(day: dt.date, pauses) -> bool:
    start, end = dt.datetime.combine(day, dt.time()), dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    return any(p <= start and r >= end for p, r in pauses)


def compute_deadline(received_at: dt.datetime, days: int, basis: str, calendar: WorkCalendar,
                     pauses=(), roll_over_holiday: bool = False) -> dt.datetime:
    """End of the ``days``-th counted day after ``received_at`` (see the module docstring).

    ``pauses`` is a list of (paused_at, resumed_at) datetimes; resumed_at may not be None here.
    """
    if basis not in BASES:
        raise UserError(f"basis {basis!r} is not one of {', '.join(BASES)}")
    day, counted = received_at.date(), 0
    while counted < days:
        day += dt.timedelta(days=1)
        if pauses and _fully_paused(day, pauses):
            continue
        if basis == "working_days" and not calendar.is_workday(day):
            continue
        counted += 1
    if basis == "calendar_days" and roll_over_holiday:
        while not calendar.is_workday(day):
            day += dt.timedelta(days=1)
    return dt.datetime.combine(day, END_OF_DAY)


def add_working_days(start: dt.date, n: int, calendar: WorkCalendar | None = None) -> dt.date:
    """The n-th Chinese working day after ``start``."""
    cal = calendar or load_calendar()
    return compute_deadline(dt.datetime.combine(start, dt.time()), n, "working_days", cal).date()


# -- the case clock -------------------------------------------------------------------------
def _case(ws, complaint_id: str) -> dict:
    ensure_handling_tables(ws)
    rows = list(ws.db.query("SELECT * FROM cases WHERE complaint_id = ?", [complaint_id]))
    if not rows:
        raise NotFoundError(f"no case for complaint {complaint_id!r} (route it first: xiaobao route)")
    return dict(rows[0])


def _pauses(case: dict, now: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    out = [(parse_time(p), parse_time(r)) for p, r in json.loads(case.get("pauses") or "[]")]
    if case.get("paused_since"):
        out.append((parse_time(case["paused_since"]), max(now, parse_time(case["paused_since"]))))
    return out


def _actions(ws, complaint_id: str) -> list[dict]:
    return [dict(r) for r in ws.db.query("SELECT * FROM case_actions WHERE complaint_id = ? ORDER BY at, id",
                                         [complaint_id])]


@dataclass
class TargetClock:
    target: str
    days: int
    due_at: dt.datetime
    met_at: dt.datetime | None
    extension_level: int

    def to_dict(self) -> dict:
        return {"target": self.target, "days": self.days, "due_at": iso(self.due_at),
                "met_at": iso(self.met_at), "extension_level": self.extension_level}


def case_clock(ws, case: dict, policies: PolicySet, now: dt.datetime, actions=None) -> list[TargetClock]:
    """Every target of a case with its current deadline and when (if) it was met."""
    policy = policies.get(case["policy"])
    received = parse_time(case["received_at"])
    pauses = _pauses(case, now)
    actions = _actions(ws, case["complaint_id"]) if actions is None else actions
    out = []
    for t in policy.targets.values():
        level = case["extension_level"] if t.extensions else 0
        days = t.total_days(level)
        due = compute_deadline(received, days, policy.basis, policies.calendar, pauses, policy.roll_over_holiday)
        met = next((parse_time(a["at"]) for a in actions if a["action"] in t.satisfied_by), None)
        out.append(TargetClock(t.name, days, due, met, level))
    return out


def _record(ws, complaint_id, kind, at, target=None, due_at=None, level=None, approver=None, detail=None,
            command=None, once: bool = False) -> bool:
    """Insert one SLA event; with ``once`` the same event for the same deadline is not repeated."""
    key = f"{complaint_id}|{kind}|{target}|{iso(due_at)}|{level}" if once else None
    cur = ws.conn.execute(
        "INSERT OR IGNORE INTO sla_events (complaint_id, kind, target, at, due_at, level, approver, detail,"
        " recorded_at, once_key) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (complaint_id, kind, target, iso(at), iso(due_at), level, approver,
         json.dumps(detail, ensure_ascii=False) if detail is not None else None, iso(now_local()), key))
    if cur.rowcount:
        ws.log_event(f"sla.{kind}", ids=[complaint_id], command=command,
                     detail={"target": target, "at": iso(at), "due_at": iso(due_at), "level": level,
                             "approver": approver, **(detail or {})})
        return True
    return False


def open_cases(ws, rows, policies: PolicySet | None = None, command: str | None = None,
               policy_names: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Open the SLA case of each complaint row that has none.

    The policy is the one its routing rule names (``policy_names``: complaint id -> policy, from
    a rule's ``sla:``), else the one whose ``channels`` cover the complaint's channel.
    A row without a usable ``received_at`` is reported and skipped; the others are opened.
    Returns (cases opened, problems).
    """
    ensure_handling_tables(ws)
    policies = policies or load_policies()
    opened, problems = 0, []
    with ws.transaction():
        for row in rows:
            if list(ws.db.query("SELECT 1 FROM cases WHERE complaint_id = ?", [row["id"]])):
                continue
            where = f"complaint {row['id']}" + (f" ({row['source_file']}:{row['source_line']})"
                                                 if row.get("source_file") else "")
            try:
                if not row.get("received_at"):
                    raise UserError("no received_at")
                received = parse_time(row["received_at"], "received_at")
                named = (policy_names or {}).get(row["id"])
                if named and named not in policies.policies:
                    raise UserError(f"its routing rule names SLA policy {named!r}, which {policies.path} "
                                    f"does not define (defined: {', '.join(policies.policies)})")
                policy = policies.policies[named] if named else policies.for_channel(row.get("channel"))
            except UserError as exc:
                problems.append(f"{where}: no SLA case opened: {exc}")
                continue
            at = now_local()
            ws.conn.execute("INSERT INTO cases (complaint_id, policy, basis, received_at, opened_at) VALUES (?,?,?,?,?)",
                            (row["id"], policy.name, policy.basis, iso(received), iso(at)))
            _record(ws, row["id"], "opened", received, detail={"policy": policy.name, "basis": policy.basis},
                    command=command, once=True)
            opened += 1
    return opened, problems


def pause(ws, complaint_id: str, at=None, reason: str | None = None, command: str | None = None) -> dict:
    """Stop the clock (e.g. waiting on the customer's documents)."""
    at = parse_time(at) if at else now_local()
    case = _case(ws, complaint_id)
    if case["status"] != "open":
        raise UserError(f"case {complaint_id} is closed; its clock cannot be paused")
    if case["paused_since"]:
        raise UserError(f"case {complaint_id} is already paused since {case['paused_since']}")
    if at < parse_time(case["received_at"]):
        raise UserError(f"case {complaint_id}: pause time {iso(at)} is before receipt {case['received_at']}")
    with ws.transaction() as conn:
        conn.execute("UPDATE cases SET paused_since = ? WHERE complaint_id = ?", (iso(at), complaint_id))
        _record(ws, complaint_id, "paused", at, detail={"reason": reason}, command=command)
    return _case(ws, complaint_id)


def resume(ws, complaint_id: str, at=None, command: str | None = None) -> dict:
    at = parse_time(at) if at else now_local()
    case = _case(ws, complaint_id)
    if not case["paused_since"]:
        raise UserError(f"case {complaint_id} is not paused")
    since = parse_time(case["paused_since"])
    if at < since:
        raise UserError(f"case {complaint_id}: resume time {iso(at)} is before the pause at {iso(since)}")
    pauses = json.loads(case["pauses"] or "[]") + [[iso(since), iso(at)]]
    with ws.transaction() as conn:
        conn.execute("UPDATE cases SET paused_since = NULL, pauses = ? WHERE complaint_id = ?",
                     (json.dumps(pauses), complaint_id))
        _record(ws, complaint_id, "resumed", at, detail={"paused_since": iso(since)}, command=command)
    return _case(ws, complaint_id)


def extend(ws, complaint_id: str, approver: str | None = None, reason: str | None = None, at=None,
           policies: PolicySet | None = None, command: str | None = None) -> dict:
    """Move the decision deadline to the next extension level of the case's policy."""
    policies = policies or load_policies()
    at = parse_time(at) if at else now_local()
    case = _case(ws, complaint_id)
    if case["status"] != "open":
        raise UserError(f"case {complaint_id} is closed; it cannot be extended")
    policy = policies.get(case["policy"])
    target = policy.targets["decision"]
    level = case["extension_level"]
    if level >= len(target.extensions):
        raise UserError(f"case {complaint_id}: policy {policy.name} allows {len(target.extensions)} extension(s) "
                        f"and {level} already made")
    step = target.extensions[level]
    if step.approval and not (approver or "").strip():
        raise UserError(f"case {complaint_id}: extension {level + 1} of policy {policy.name} needs an approver "
                        f"(--approver NAME): {step.note}")
    if not (reason or "").strip():
        raise UserError(f"case {complaint_id}: an extension needs a reason (--reason TEXT)")
    clock = {c.target: c for c in case_clock(ws, case, policies, at)}["decision"]
    if at > clock.due_at:
        raise UserError(f"case {complaint_id}: the decision deadline {iso(clock.due_at)} has passed; "
                        "an extension has to be made before it")
    with ws.transaction() as conn:
        conn.execute("UPDATE cases SET extension_level = ? WHERE complaint_id = ?", (level + 1, complaint_id))
        new_case = _case(ws, complaint_id)
        new_due = {c.target: c for c in case_clock(ws, new_case, policies, at)}["decision"].due_at
        _record(ws, complaint_id, "extended", at, target="decision", due_at=new_due, level=level + 1,
                approver=approver, detail={"reason": reason, "previous_due_at": iso(clock.due_at),
                                           "days_added": step.days, "rule": step.note}, command=command)
    return {"complaint_id": complaint_id, "extension_level": level + 1, "previous_due_at": iso(clock.due_at),
            "due_at": iso(new_due), "approver": approver}


@dataclass
class TickEvent:
    complaint_id: str
    kind: str
    target: str
    due_at: str
    level: int | None = None
    to: str | None = None
    problem: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def tick(ws, now=None, policies: PolicySet | None = None, command: str | None = None) -> list[TickEvent]:
    """Emit due-soon, breached and escalation events for open cases at ``now``.

    Events are stored once per case, target and deadline, so running tick again (or every
    few minutes from cron) does not repeat them; the returned list holds only new ones.
    Paused cases are skipped: their clock is stopped.
    """
    policies = policies or load_policies()
    now = parse_time(now) if now else now_local()
    ensure_handling_tables(ws)
    out: list[TickEvent] = []
    cases = [dict(r) for r in ws.db.query("SELECT * FROM cases WHERE status = 'open' ORDER BY complaint_id")]
    with ws.transaction() as conn:
        for case in cases:
            if case["paused_since"]:
                continue
            policy = policies.get(case["policy"])
            try:
                clocks = case_clock(ws, case, policies, now)
            except CalendarGapError as exc:  # reported, not stored; the other cases go on
                out.append(TickEvent(case["complaint_id"], "clock_error", "*", None, problem=str(exc)))
                continue
            for clock in clocks:
                if clock.met_at is not None:
                    continue
                cid, due = case["complaint_id"], clock.due_at
                if due - policy.due_soon <= now <= due:
                    if _record(ws, cid, "due_soon", now, clock.target, due, command=command, once=True):
                        out.append(TickEvent(cid, "due_soon", clock.target, iso(due)))
                elif now > due:
                    if _record(ws, cid, "breached", now, clock.target, due, command=command, once=True):
                        out.append(TickEvent(cid, "breached", clock.target, iso(due)))
                    if clock.target != "decision":
                        continue
                    for lvl, (after, to) in enumerate(policy.escalation, start=1):
                        if now >= due + after and case["escalation_level"] < lvl:
                            if _record(ws, cid, "escalated", now, clock.target, due, level=lvl,
                                       detail={"to": to}, command=command, once=True):
                                out.append(TickEvent(cid, "escalated", clock.target, iso(due), lvl, to))
                            conn.execute("UPDATE cases SET escalation_level = ? WHERE complaint_id = ?", (lvl, cid))
                            case["escalation_level"] = lvl
    return out


def list_due(ws, within="2d", now=None, policies: PolicySet | None = None) -> list[dict]:
    """Open cases with an unmet deadline inside ``within`` of ``now`` (overdue ones included)."""
    policies = policies or load_policies()
    now = parse_time(now) if now else now_local()
    window = parse_duration(within, "--due-within")
    ensure_handling_tables(ws)
    rows = []
    for case in ws.db.query("SELECT * FROM cases WHERE status = 'open' ORDER BY complaint_id"):
        case = dict(case)
        try:
            clocks = case_clock(ws, case, policies, now)
        except CalendarGapError as exc:  # listed so it is seen, never silently dropped
            rows.append({"complaint_id": case["complaint_id"], "policy": case["policy"], "target": "*",
                         "due_at": "", "time_left": None, "hours_left": None, "state": "unknown",
                         "paused": bool(case["paused_since"]), "extension_level": case["extension_level"],
                         "problem": str(exc)})
            continue
        for clock in clocks:
            if clock.met_at is None and clock.due_at <= now + window:
                left = clock.due_at - now
                rows.append({"complaint_id": case["complaint_id"], "policy": case["policy"],
                             "target": clock.target, "due_at": iso(clock.due_at),
                             "time_left": format_left(left), "hours_left": round(left.total_seconds() / 3600, 1),
                             "state": "overdue" if left.total_seconds() < 0 else "due_soon",
                             "paused": bool(case["paused_since"]), "extension_level": case["extension_level"]})
    rows.sort(key=lambda r: r["due_at"])
    return rows


def format_left(delta: dt.timedelta) -> str:
    secs = int(delta.total_seconds())
    sign = "-" if secs < 0 else ""
    secs = abs(secs)
    d, rem = divmod(secs, 86400)
    return f"{sign}{d}d{rem // 3600:02d}h"


def sla_events(ws, complaint_id: str) -> list[dict]:
    ensure_handling_tables(ws)
    out = []
    for r in ws.db.query("SELECT * FROM sla_events WHERE complaint_id = ? ORDER BY at, id", [complaint_id]):
        r = dict(r)
        r["detail"] = json.loads(r["detail"]) if r.get("detail") else None
        out.append(r)
    return out
