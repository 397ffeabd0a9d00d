"""The numbers of one report: what needs action first, then totals, trend, breakdowns, rings and
the deadline board. A plain dict, so HTML, Markdown, JSON and e-mail show the same figures."""
from __future__ import annotations

import datetime as dt

from xiaobao.reports.facts import build_facts, drop_facts, has_handling, tables
from xiaobao.reports.metrics import HoursCache, grouped
from xiaobao.reports.periods import Period, parse_date, period_of

BREAKDOWNS = ("channel", "merchant", "level", "business_line", "category", "risk_tier")
SPIKE_DIMENSIONS = ("channel", "merchant", "category")
SPIKE_MIN_PCT = 50.0     # up at least this much against the period before ...
SPIKE_MIN_COUNT = 5      # ... and at least this many complaints, so 1 -> 2 is not a "spike"
DUE_WITHIN = "2d"        # deadlines at risk: unmet and due within this of the report's moment
TOP = 15
BOARD_MAX = 500         # rows of the deadline board kept in a report (the counts cover all)


def _now_local() -> dt.datetime:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=8)).replace(tzinfo=None, microsecond=0)


def latest_day(ws) -> dt.date:
    """Default report date: the day of the newest complaint (today when there are none)."""
    row = ws.conn.execute("SELECT MAX(received_at) FROM complaints").fetchone() if "complaints" in tables(ws) else None
    return parse_date(row[0]) if row and row[0] else _now_local().date()


def ring_rows(ws, period: Period) -> list[dict]:
    """Rings with a member complaint in the period; ``new`` when none of theirs came earlier."""
    if not {"rings", "ring_members", "complaints"} <= tables(ws):
        return []
    lo, hi = period.bounds()
    rows = ws.conn.execute("""
        SELECT r.id, r.status, r.subject_id, r.n_customers, r.n_complaints, r.first_seen_at,
               MIN(c.received_at) AS first_complaint, MAX(c.received_at) AS last_complaint,
               SUM(c.received_at >= :lo) AS in_period, COUNT(DISTINCT CASE WHEN c.received_at >= :lo
                   THEN c.customer_id END) AS customers_in_period
        FROM rings r JOIN ring_members rm ON rm.ring_id = r.id JOIN complaints c ON c.id = rm.complaint_id
        WHERE c.received_at < :hi
        GROUP BY r.id HAVING in_period > 0
        ORDER BY in_period DESC, r.id""", {"lo": lo, "hi": hi}).fetchall()
    out = []
    for r in rows:
        out.append({"ring": f"R-{r[0]}", "status": r[1], "known_agent": r[2], "customers": r[3], "complaints": r[4],
                    "first_seen_at": r[5], "first_complaint": r[6], "last_complaint": r[7],
                    "complaints_in_period": r[8], "customers_in_period": r[9], "new": r[6] >= lo})
    return out


def deadline_rows(ws, as_of: dt.datetime, within: str = DUE_WITHIN) -> list[dict]:
    """Open cases whose deadline is unmet and due within ``within`` (overdue first): the SLA clock's own list."""
    if not has_handling(ws):
        return []
    from xiaobao.complaints_engine.sla import list_due  # the deadline clock is part of complaint handling

    rows = list_due(ws, within=within, now=as_of)
    if rows:
        ids = {r["complaint_id"] for r in rows}
        info = {}
        for i in range(0, len(ids), 500):
            chunk = sorted(ids)[i:i + 500]
            for cid, ch, merchant in ws.conn.execute(
                    f"SELECT id, channel, merchant FROM complaints WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                info[cid] = (ch, merchant)
        for r in rows:
            r["channel"], r["merchant"] = info.get(r["complaint_id"], (None, None))
    rows.sort(key=lambda r: (r.get("hours_left") is None, r.get("hours_left") or 0))
    return rows


def spikes(by_dim: dict[str, list[dict]], previous_floor: int = 1) -> list[dict]:
    """Groups up at least SPIKE_MIN_PCT on the period before, with at least SPIKE_MIN_COUNT complaints."""
    out = []
    for dim in SPIKE_DIMENSIONS:
        for r in by_dim[dim]:
            if r["complaints"] >= SPIKE_MIN_COUNT and r["previous"] >= previous_floor and \
                    r["change_pct"] is not None and r["change_pct"] >= SPIKE_MIN_PCT:
                out.append({"dimension": dim, "value": r[dim], "complaints": r["complaints"],
                            "previous": r["previous"], "change_pct": r["change_pct"]})
    out.sort(key=lambda s: -s["change_pct"])
    return out


def build_report(ws, kind: str = "daily", date=None, as_of=None, period: Period | None = None) -> dict:
    """All numbers of a daily, weekly or monthly report (``date`` picks the period; default the
    newest complaint's day). ``as_of`` is the moment deadlines are judged at (default: the end
    of the period, or now if that is earlier)."""
    period = period or period_of(kind, date if date is not None else latest_day(ws))
    end_moment = dt.datetime.combine(period.end, dt.time()) - dt.timedelta(seconds=1)
    as_of = (dt.datetime.fromisoformat(str(as_of)) if as_of is not None else min(end_moment, _now_local()))
    prev = period.previous()
    build_facts(ws, period)
    try:
        cache = HoursCache(ws)
        total = grouped(ws, [], cache=cache)[0]
        trend = sorted((r for r in grouped(ws, ["day"], cache=cache) if r["complaints"]), key=lambda r: r["day"])
        by_dim = {dim: grouped(ws, [dim], cache=cache) for dim in set(BREAKDOWNS) | set(SPIKE_DIMENSIONS)}
        breakdowns = {dim: by_dim[dim][:TOP] for dim in BREAKDOWNS}
        compliance_by_channel = by_dim["channel"]
        spike_rows = spikes(by_dim)
    finally:
        drop_facts(ws)
    rings = ring_rows(ws, period)
    deadlines = deadline_rows(ws, as_of)
    overdue = [d for d in deadlines if d["state"] == "overdue"]
    gaps = []
    if not has_handling(ws):
        gaps.append("no SLA cases in this workspace: deadline compliance and handling time are not available "
                    "(run `xiaobao route` / `xiaobao sla tick` first)")
    return {
        "kind": kind, "period": {"start": period.start.isoformat(), "end": period.last_day.isoformat(),
                                 "label": period.label(), "days": period.days},
        "previous_period": {"start": prev.start.isoformat(), "end": prev.last_day.isoformat()},
        "as_of": as_of.isoformat(), "generated_at": _now_local().isoformat(),
        "actions": {"deadlines_overdue": len(overdue), "deadlines_due_soon": len(deadlines) - len(overdue),
                    "deadlines": deadlines[:50], "new_rings": [r for r in rings if r["new"]], "spikes": spike_rows},
        "totals": total, "trend": trend, "breakdowns": breakdowns, "compliance_by_channel": compliance_by_channel,
        "rings": rings, "deadline_board": deadlines[:BOARD_MAX], "deadline_board_total": len(deadlines), "gaps": gaps,
    }
