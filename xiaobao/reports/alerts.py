"""Threshold alerts from a YAML file, evaluated against the registry, stored once each.

Kinds of rule (see ``alerts.example.yaml``):

* ``change``: complaints per group (``by``), optionally filtered (``where``), up at least
  ``min_change_pct`` over the ``window_days`` ending on the as-of day against the window before,
  with at least ``min_count`` complaints now. One alert per rule, group and window.
* ``deadlines``: more than ``more_than`` unmet deadlines falling due within ``within`` (e.g.
  ``1d``) of the as-of moment. One alert per rule and day.
* ``new_ring``: a ring with at least ``min_customers`` customers. One alert per rule and ring.

Each fired alert is a row of ``report_alerts`` (its key is unique, so a second run stores
nothing new) and an ``alert`` event in the audit log.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path


from xiaobao.errors import InputError
from xiaobao.yamlfile import read_yaml_mapping
from xiaobao.reports.facts import build_facts, drop_facts, has_handling, tables
from xiaobao.reports.metrics import grouped
from xiaobao.reports.periods import Period

EXAMPLE = Path(__file__).resolve().parent / "alerts.example.yaml"
KINDS = ("change", "deadlines", "new_ring")
FILTERABLE = ("channel", "merchant", "institution", "business_line", "level", "category", "risk_tier")
ALERTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS report_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,        -- rule + what it is about + window: the de-duplication key
    as_of TEXT NOT NULL,
    message TEXT NOT NULL,
    detail TEXT,
    fired_at TEXT NOT NULL
)"""


@dataclass
class Rule:
    name: str
    kind: str
    by: list[str] = field(default_factory=list)
    where: dict[str, list[str]] = field(default_factory=dict)
    window_days: int = 7
    min_change_pct: float = 50.0
    min_count: int = 5
    within: str = "1d"
    more_than: int = 0
    min_customers: int = 5


def load_rules(path) -> list[Rule]:
    """Parse and check an alerts file; every mistake names the file and the rule."""
    path = Path(path)
    doc = read_yaml_mapping(path, "alerts file")
    if not isinstance(doc.get("alerts"), list):
        raise InputError(path, "expected a mapping with a list under 'alerts:'")
    rules, names = [], set()
    allowed = set(Rule.__dataclass_fields__)
    for i, item in enumerate(doc["alerts"], start=1):
        where = f"alert {i}" + (f" ({item.get('name')})" if isinstance(item, dict) and item.get("name") else "")
        if not isinstance(item, dict):
            raise InputError(path, f"{where}: expected a mapping")
        unknown = set(item) - allowed
        if unknown:
            raise InputError(path, f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        if not item.get("name") or item["name"] in names:
            raise InputError(path, f"{where}: needs a unique 'name'")
        if item.get("kind") not in KINDS:
            raise InputError(path, f"{where}: kind must be one of {', '.join(KINDS)}")
        by = item.get("by") or []
        by = [by] if isinstance(by, str) else list(by)
        bad = [b for b in by if b not in FILTERABLE]
        filt = item.get("where") or {}
        if not isinstance(filt, dict):
            raise InputError(path, f"{where}: 'where' must map a field to a value or list of values")
        bad += [k for k in filt if k not in FILTERABLE]
        if bad:
            raise InputError(path, f"{where}: {', '.join(bad)} is not one of {', '.join(FILTERABLE)}")
        try:
            rule = Rule(name=str(item["name"]), kind=item["kind"], by=by,
                        where={k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in filt.items()},
                        **{k: type(getattr(Rule, k))(item[k]) for k in
                           ("window_days", "min_change_pct", "min_count", "more_than", "min_customers", "within")
                           if k in item})
        except (TypeError, ValueError) as exc:
            raise InputError(path, f"{where}: {exc}") from None
        if rule.window_days < 1:
            raise InputError(path, f"{where}: window_days must be at least 1")
        names.add(rule.name)
        rules.append(rule)
    return rules


def _change(ws, rule: Rule, day: dt.date) -> list[dict]:
    period = Period(day - dt.timedelta(days=rule.window_days - 1), day + dt.timedelta(days=1))
    build_facts(ws, period)
    try:
        cond = " AND ".join(f"f.{k} IN ({','.join('?' * len(v))})" for k, v in rule.where.items())
        params = [x for v in rule.where.values() for x in v]
        rows = grouped(ws, rule.by, cond, params)
    finally:
        drop_facts(ws)
    out = []
    for r in rows:
        if r["complaints"] >= rule.min_count and r["previous"] and r["change_pct"] >= rule.min_change_pct:
            group = {b: r[b] for b in rule.by}
            label = ", ".join(f"{k}={v}" for k, v in group.items()) or "all"
            filt = "; ".join(f"{k} in {'/'.join(v)}" for k, v in rule.where.items())
            out.append({"key": f"{rule.name}|{json.dumps(group, ensure_ascii=False, sort_keys=True)}|{period.start}",
                        "message": f"{label}{' (' + filt + ')' if filt else ''}: {r['previous']} -> {r['complaints']} "
                                   f"complaints (+{r['change_pct']}%) in the {rule.window_days} days to {day}",
                        "detail": {**group, "complaints": r["complaints"], "previous": r["previous"],
                                   "change_pct": r["change_pct"], "window_start": period.start.isoformat()}})
    return out


def _deadlines(ws, rule: Rule, as_of: dt.datetime) -> list[dict]:
    if not has_handling(ws):
        return []
    from xiaobao.complaints_engine.sla import list_due

    due = [d for d in list_due(ws, within=rule.within, now=as_of) if d["state"] == "due_soon"]
    if len(due) <= rule.more_than:
        return []
    ids = sorted({d["complaint_id"] for d in due})
    return [{"key": f"{rule.name}|{as_of.date()}", "ids": ids,
             "message": f"{len(due)} deadlines fall due within {rule.within} of {as_of} (threshold {rule.more_than})",
             "detail": {"due": len(due), "complaints": ids[:100]}}]


def _new_rings(ws, rule: Rule) -> list[dict]:
    if not {"rings", "ring_members"} <= tables(ws):
        return []
    rows = ws.conn.execute("""
        SELECT r.id, r.status, COUNT(DISTINCT rm.customer_id), COUNT(*) FROM rings r
        JOIN ring_members rm ON rm.ring_id = r.id GROUP BY r.id HAVING COUNT(DISTINCT rm.customer_id) >= ?
        ORDER BY r.id""", (rule.min_customers,)).fetchall()
    return [{"key": f"{rule.name}|R-{rid}", "ids": [f"R-{rid}"],
             "message": f"ring R-{rid} ({status}) has {customers} customers and {n} complaints",
             "detail": {"ring": f"R-{rid}", "status": status, "customers": customers, "complaints": n}}
            for rid, status, customers, n in rows]


def run_alerts(ws, rules_path=None, as_of=None, command: str | None = None) -> list[dict]:
    """Evaluate every rule at ``as_of`` (default now, local time); store and return the new alerts
    only. Running again with nothing changed returns an empty list."""
    rules = load_rules(rules_path or EXAMPLE)
    now = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=8)).replace(tzinfo=None, microsecond=0)
    as_of = dt.datetime.fromisoformat(str(as_of)) if as_of is not None else now
    with ws.transaction() as conn:
        conn.execute(ALERTS_SCHEMA)
    fired = []
    for rule in rules:
        if rule.kind == "change":
            found = _change(ws, rule, as_of.date())
        elif rule.kind == "deadlines":
            found = _deadlines(ws, rule, as_of)
        else:
            found = _new_rings(ws, rule)
        with ws.transaction() as conn:
            for f in found:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO report_alerts (rule, key, as_of, message, detail, fired_at) VALUES (?,?,?,?,?,?)",
                    (rule.name, f["key"], as_of.isoformat(), f["message"],
                     json.dumps(f["detail"], ensure_ascii=False, default=str), now.isoformat()))
                if cur.rowcount:
                    ws.log_event("alert", ids=f.get("ids", [rule.name]), command=command,
                                 detail={"rule": rule.name, "kind": rule.kind, "message": f["message"], **f["detail"]})
                    fired.append({"rule": rule.name, "kind": rule.kind, "message": f["message"], "key": f["key"]})
    return fired


def list_alerts(ws, limit: int = 100) -> list[dict]:
    if "report_alerts" not in tables(ws):
        return []
    cur = ws.conn.execute("SELECT id, rule, as_of, message, fired_at FROM report_alerts ORDER BY id DESC LIMIT ?", (limit,))
    return [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]
