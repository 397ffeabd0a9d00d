"""One row of facts per complaint in a window, as a temporary table, so every metric, chart and
breakdown of a report is a GROUP BY over the same numbers (and agrees with the others).

Definitions (the same words are in the report footers):

* proxy-suspected: risk tier ``high`` or member of a ring (the screening's two verdicts);
* repeat: the same customer filed an earlier complaint (any time before this one);
* escalated (越级): arrived through a regulator channel, i.e. over the company's head;
* deadline compliance, from the SLA case: ``breached`` when any deadline of the case was
  breached; else ``extended`` when the decision deadline was extended; else ``on_time`` when the
  case is closed; else ``pending`` (open, nothing breached yet); ``no_case`` without an SLA case;
* handling time: hours from receipt to the case's closing, closed cases only.
"""
from __future__ import annotations

from xiaobao.errors import UserError
from xiaobao.reports.periods import Period

REGULATOR_CHANNELS = ("监管转办", "12378", "人民银行", "银保监", "银保监转办", "金融监管总局", "CFPB", "cfpb")
FACTS = "temp.report_facts"


def tables(ws) -> set[str]:
    return {r[0] for r in ws.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def has_handling(ws) -> bool:
    """Whether complaint handling (SLA cases) has run in this workspace."""
    return {"cases", "sla_events"} <= tables(ws)


def _text(col: str) -> str:
    return f"COALESCE(NULLIF(TRIM(c.{col}), ''), '(none)')"


def build_facts(ws, period: Period, with_previous: bool = True) -> str:
    """(Re)create the facts table for ``period`` (and the period before, flagged ``cur = 0``)."""
    have = tables(ws)
    if "complaints" not in have:
        raise UserError(f"workspace {ws.home} has no complaints yet; load some with `xiaobao complaints ingest FILE`")
    start = period.previous().start if with_previous else period.start
    lo, hi = start.isoformat(), period.end.isoformat()
    cur_from = period.start.isoformat()
    ring = ("(SELECT MIN(rm.ring_id) FROM ring_members rm WHERE rm.complaint_id = c.id)"
            if "ring_members" in have else "NULL")
    regulators = ", ".join("'" + ch + "'" for ch in REGULATOR_CHANNELS)
    if {"cases", "sla_events"} <= have:
        # One indexed lookup per complaint for a breach; the case row is a primary-key join.
        breached = ("EXISTS (SELECT 1 FROM sla_events e WHERE e.complaint_id = c.id AND e.kind = 'breached')")
        case_join = "LEFT JOIN cases k ON k.complaint_id = c.id"
        compliance = (f"CASE WHEN k.complaint_id IS NULL THEN 'no_case' WHEN {breached} THEN 'breached' "
                      "WHEN k.extension_level > 0 THEN 'extended' WHEN k.status = 'closed' THEN 'on_time' "
                      "ELSE 'pending' END")
        handling = ("CASE WHEN k.status = 'closed' AND k.closed_at IS NOT NULL THEN "
                    "(julianday(k.closed_at) - julianday(k.received_at)) * 24.0 END")
        escalation = "COALESCE(k.escalation_level, 0)"
    else:
        case_join, compliance, handling, escalation = "", "'no_case'", "NULL", "0"
    ws.conn.execute(f"DROP TABLE IF EXISTS {FACTS}")
    ws.conn.execute(f"""
        CREATE TABLE {FACTS} AS
        SELECT c.id AS complaint_id,
               c.received_at >= :cur_from AS cur,
               substr(c.received_at, 1, 10) AS day,
               {_text('channel')} AS channel, {_text('merchant')} AS merchant,
               {_text('institution')} AS institution, {_text('business_line')} AS business_line,
               {_text('level')} AS level, {_text('category')} AS category,
               {_text('risk_tier')} AS risk_tier,
               c.customer_id AS customer_id,
               {ring} AS ring_id,
               EXISTS (SELECT 1 FROM complaints p WHERE p.customer_id = c.customer_id
                       AND p.received_at < c.received_at) AS is_repeat,
               c.channel IN ({regulators}) AS escalated,
               {escalation} AS escalation_level,
               {compliance} AS compliance,
               {handling} AS handling_hours
        FROM complaints c {case_join}
        WHERE c.received_at >= :lo AND c.received_at < :hi
    """, {"lo": lo, "hi": hi, "cur_from": cur_from})
    return FACTS


def drop_facts(ws) -> None:
    ws.conn.execute(f"DROP TABLE IF EXISTS {FACTS}")
