"""Metrics over any period and any grouping: counts, proxy share, rings, deadline compliance,
median handling time, repeat and escalated complaints, and change against the period before."""
from __future__ import annotations

from statistics import median
from typing import Sequence

from xiaobao.errors import UserError
from xiaobao.reports.facts import FACTS, build_facts, drop_facts
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


class HoursCache:
    """Handling hours of the current period's closed cases with every plain dimension, read once,
    so a report's many breakdowns do not each read them again (SQLite has no median)."""

    COLS = tuple(d for d in DIMENSIONS if d != "tag")

    def __init__(self, ws):
        self.rows = ws.conn.execute(f"SELECT {', '.join(self.COLS)}, handling_hours FROM {FACTS} "
                                    "WHERE cur = 1 AND handling_hours IS NOT NULL").fetchall()

    def by(self, dims: list[str]) -> dict[tuple, list[float]]:
        idx = [self.COLS.index(d) for d in dims]
        out: dict[tuple, list[float]] = {}
        for r in self.rows:
            out.setdefault(tuple(r[i] for i in idx), []).append(r[-1])
        return out


def _hours(ws, src: str, cols: list[str], where: str, params: Sequence) -> dict[tuple, list[float]]:
    hours: dict[tuple, list[float]] = {}
    for r in ws.conn.execute(f"SELECT {', '.join(cols) + ',' if cols else ''} f.handling_hours FROM {src} "
                             f"WHERE f.cur = 1 AND f.handling_hours IS NOT NULL{' AND ' + where if where else ''}",
                             list(params)):
        hours.setdefault(tuple(r[:-1]), []).append(r[-1])
    return hours


def grouped(ws, by: list[str], where: str = "", params: Sequence = (), cache: HoursCache | None = None) -> list[dict]:
    """The metric rows of the facts table already built, grouped by ``by``: one scan over both
    periods (current-period sums and the previous period's count side by side)."""
    src, cols = _source(by)
    keys = ", ".join(f"{c} AS {b}" for c, b in zip(cols, by))
    group = f"GROUP BY {', '.join(cols)}" if by else ""
    cond = f"WHERE {where}" if where else ""
    sql = f"""
        SELECT {keys + ',' if keys else ''}
               TOTAL(f.cur) AS complaints,
               TOTAL(f.cur AND (f.risk_tier = 'high' OR f.ring_id IS NOT NULL)) AS proxy_suspected,
               COUNT(DISTINCT CASE WHEN f.cur THEN f.ring_id END) AS rings_active,
               TOTAL(f.cur AND f.compliance = 'on_time') AS on_time,
               TOTAL(f.cur AND f.compliance = 'extended') AS extended,
               TOTAL(f.cur AND f.compliance = 'breached') AS breached,
               TOTAL(f.cur AND f.compliance = 'pending') AS pending,
               TOTAL(f.cur AND f.compliance = 'no_case') AS no_case,
               TOTAL(f.cur AND f.is_repeat) AS repeat, TOTAL(f.cur AND f.escalated) AS escalated,
               TOTAL(NOT f.cur) AS previous
        FROM {src} {cond} {group}"""
    cur = ws.conn.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    if cache is not None and not where and "tag" not in by:
        hours = cache.by(by)
    else:
        hours = _hours(ws, src, cols, where, params)
    out = []
    for r in rows:
        for k in names[len(by):]:
            r[k] = int(r[k] or 0)
        n, before = r["complaints"], r["previous"]
        decided = r["on_time"] + r["extended"] + r["breached"]
        h = hours.get(tuple(r[b] for b in by))
        r.update(
            proxy_share=round(r["proxy_suspected"] / n, 4) if n else 0.0,
            compliance_rate=round((r["on_time"] + r["extended"]) / decided, 4) if decided else None,
            median_handling_hours=round(median(h), 2) if h else None,
            change=n - before, change_pct=round(100.0 * (n - before) / before, 1) if before else None,
        )
        out.append({**{b: r[b] for b in by}, **{m: r[m] for m in METRIC_COLUMNS}})
    if not by and not out:
        out = [{m: 0 for m in METRIC_COLUMNS} | {"compliance_rate": None, "median_handling_hours": None,
                                                  "change_pct": None}]
    # A time series reads in date order (then the largest groups first within a day); other
    # groupings largest first.
    if "day" in by:
        out.sort(key=lambda r: (str(r["day"]), -r["complaints"], [str(r[b]) for b in by]))
    else:
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
    try:
        rows = grouped(ws, dims)
    finally:
        drop_facts(ws)
    # A day of the previous period is not a group of this one.
    return [r for r in rows if r["complaints"]] if "day" in dims else rows
