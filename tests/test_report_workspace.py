"""A real workspace for the report tests: the synthetic batch of the screening issue, ingested,
screened, routed (SLA cases opened), then handled the way a team would: some cases closed on
time, some extended, some left alone until their deadlines pass and the clock ticks."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from xiaobao import Workspace

TICK_AT = "2026-11-02T09:00:00"   # after the synthetic batch (2026-09-01 .. 2026-10-31)


def build_handled_workspace(root: Path, n: int = 300, rings: int = 4, seed: int = 5) -> Workspace:
    from xiaobao.complaints_engine import api, routing, sla, synth
    from xiaobao.complaints_engine.cases import record_action

    root.mkdir(parents=True, exist_ok=True)
    batch = root / "batch.jsonl"
    synth.synth_complaints(batch, n=n, rings=rings, seed=seed)
    ws = Workspace(root / "ws")
    api.ingest(ws, [batch])
    api.screen(ws)
    routing.route_pending(ws)
    rows = ws.conn.execute("SELECT id, received_at FROM complaints ORDER BY id").fetchall()
    for i, (cid, received) in enumerate(rows):
        t0 = dt.datetime.fromisoformat(received)
        kind = i % 5
        if kind in (0, 1):            # handled and closed within days
            record_action(ws, cid, "contacted_customer", at=t0 + dt.timedelta(hours=3 + i % 7))
            record_action(ws, cid, "decision", at=t0 + dt.timedelta(days=2, hours=i % 11))
            record_action(ws, cid, "reply_sent", at=t0 + dt.timedelta(days=2, hours=2 + i % 11))
        elif kind == 2:               # extended, then closed late in the extension
            record_action(ws, cid, "contacted_customer", at=t0 + dt.timedelta(hours=2))
            try:
                sla.extend(ws, cid, approver="王总", reason="情况复杂", at=t0 + dt.timedelta(days=1))
            except Exception:
                pass                  # a policy without extensions: the case stays as it is
        elif kind == 3:               # contacted, still open
            record_action(ws, cid, "contacted_customer", at=t0 + dt.timedelta(hours=1))
        # kind 4: untouched, so its deadlines breach when the clock ticks
    sla.tick(ws, now=TICK_AT)
    return ws


def test_handled_workspace_has_every_outcome(tmp_path):
    ws = build_handled_workspace(tmp_path, n=120, rings=2)
    one = lambda sql: ws.conn.execute(sql).fetchone()[0]  # noqa: E731
    assert one("SELECT COUNT(*) FROM complaints") == 120
    assert one("SELECT COUNT(*) FROM cases WHERE status = 'closed'") > 0
    assert one("SELECT COUNT(*) FROM cases WHERE extension_level > 0") > 0
    assert one("SELECT COUNT(DISTINCT complaint_id) FROM sla_events WHERE kind = 'breached'") > 0
    assert one("SELECT COUNT(*) FROM rings") >= 1
