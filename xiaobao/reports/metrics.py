"""Metrics over any period and any grouping: counts, proxy share, rings, deadline compliance,
median handling time, repeat and escalated complaints, and change against the period before."""
from __future__ import annotations

from statistics import median
from typing import Sequence

from xiaobao.errors import UserError
from xiaobao.reports.facts import FACTS, build_facts
from xiaobao.reports.periods import Period, between

# Grouping dimensions a user may ask for; `tag` fans a complaint out to each of its tags.
DIMENSIONS = ("channel", "merchant", "institution", "business_line", "level", "category", "tag", "risk_tier", "day")

METRIC_COLUMNS = ("complaints", "proxy_suspected", "proxy_share", "rings_active", "on_time", "extended",
                  "breached", "pending", "no_case", "compliance_rate", "median_handling_hours", "repeat",
                  "escalated", "previous", "change", "change_pct")


def parse_by(by) -> list[str]:
    if by is None or by == "":
        return []
    items = [b.strip() for b in (by.split(",") if isinstance(by, str) else by) if b.strip()]
    for b in items:
        if b not in DIMENSIONS:
            raise UserError(f"--by {b!r} is not a dimension; choose from {', '.join(DIMENSIONS)}")
    if len(set(items)) != len(items):
        raise UserError(f"--by names a dimension twice: {','.join(items)}")
    return items


def _source(by: list[str]) -> tuple[str, list[str]]:
    """FROM clause and column expressions; tags come from complaint_tags (one row per tag)."""
    if "tag" in by:
        src = (f"{FACTS} f LEFT JOIN (SELECT DISTINCT complaint_id, tag FROM complaint_tags) t "
               "ON t.complaint_id = f.complaint_id")
        cols = ["COALESCE(t.tag, '(none)')" if b == "tag" else f"f.{b}" for b in by]
    else:
        src, cols = f"{FACTS} f", [f"f.{b}" for b in by]
    return src, cols


def grouped(ws, by: list[str], where: str = "", params: Sequence = ()) -> list[dict]:
    """The metric rows of the facts table already built, grouped by ``by`` (no change columns)."""
    src, cols = _source(by)
    keys = ", ".join(f"{c} AS {b}" for c, b in zip(cols, by))
    group = f"GROUP BY {', '.join(cols)}" if by else ""
    cond = f"WHERE f.cur = 1{' AND ' + where if where else ''}"
    sql = f"""
        SELECT {keys + ',' if keys else ''}
               COUNT(*) AS complaints,
               SUM(f.risk_tier = 'high' OR f.ring_id IS NOT NULL) AS proxy_suspected,
               COUNT(DISTINCT f.ring_id) AS rings_active,
               SUM(f.compliance = 'on_time') AS on_time, SUM(f.compliance = 'extended') AS extended,
               SUM(f.compliance = 'breached') AS breached, SUM(f.compliance = 'pending') AS pending,
               SUM(f.compliance = 'no_case') AS no_case,
               SUM(f.is_repeat) AS repeat, SUM(f.escalated) AS escalated
        FROM {src} {cond} {group}"""
    rows = [dict(zip([d[0] for d in cur.description], r)) for cur in [ws.conn.execute(sql, list(params))]
            for r in cur.fetchall()]
    if not by and rows and rows[0]["complaints"] == 0:
        rows[0].update({k: 0 for k in rows[0]})
    # Medians: SQLite has no median aggregate; read the closed cases' hours group by group.
    hours: dict[tuple, list[float]] = {}
    for r in ws.conn.execute(f"SELECT {', '.join(cols) + ',' if cols else ''} f.handling_hours FROM {src} "
                             f"{cond} AND f.handling_hours IS NOT NULL", list(params)):
        hours.setdefault(tuple(r[:-1]), []).append(r[-1])
    prev = {tuple(r[:-1]): r[-1] for r in ws.conn.execute(
        f"SELECT {', '.join(cols) + ',' if cols else ''} COUNT(*) FROM {src} "
        f"WHERE f.cur = 0{' AND ' + where if where else ''} {group}", list(params))}
    out = []
    for r in rows:
        key = tuple(r[b] for b in by)
        n = r["complaints"] or 0
        decided = (r["on_time"] or 0) + (r["extended"] or 0) + (r["breached"] or 0)
        h = hours.get(key)
        before = prev.get(key, 0)
        r.update(
            proxy_share=round((r["proxy_suspected"] or 0) / n, 4) if n else 0.0,
            compliance_rate=round(((r["on_time"] or 0) + (r["extended"] or 0)) / decided, 4) if decided else None,
            median_handling_hours=round(median(h), 2) if h else None,
            previous=before, change=n - before,
            change_pct=round(100.0 * (n - before) / before, 1) if before else None,
        )
        out.append({**{b: r[b] for b in by}, **{m: r[m] for m in METRIC_COLUMNS}})
    # Groups that vanished this period still show, with a count of zero and the fall.
    seen = {tuple(r[b] for b in by) for r in out}
    for key, before in prev.items():
        if by and key not in seen:
            row = {**dict(zip(by, key)), **{m: 0 for m in METRIC_COLUMNS}}
            row.update(compliance_rate=None, median_handling_hours=None, previous=before, change=-before,
                       change_pct=-100.0)
            out.append(row)
    out.sort(key=lambda r: (-r["complaints"], [str(r[b]) for b in by]))
    return out


def metrics(ws, by=None, start=None, end=None, period: Period | None = None) -> list[dict]:
    """Metric rows for the complaints received from ``start`` to ``end`` (inclusive dates), grouped
    by any of :data:`DIMENSIONS`, each with the count of the equally long period before.

    Example: ``metrics(ws, by="channel,merchant", start="2026-10-01", end="2026-10-31")``.
    """
    dims = parse_by(by)
    if period is None:
        if start is None or end is None:
            raise UserError("metrics need a period: --from D --to D")
        period = between(start, end)
    build_facts(ws, period)
    return grouped(ws, dims)
