"""The touchpoint check: gather a customer's facts, apply the policies, log who asked."""
from __future__ import annotations

import json

from xiaobao.complaints_engine import store
from xiaobao.prevention.policies import evaluate, load_policies

CHECKS = """CREATE TABLE IF NOT EXISTS checks (
  id INTEGER PRIMARY KEY, customer_id TEXT, touchpoint TEXT, asked_by TEXT, asked_at TEXT,
  level TEXT, result TEXT)"""


def customer_facts(ws, customer_id: str) -> dict:
    store.ensure_tables(ws)
    tags = [t["tag"] for t in store.customer_tags(ws, customer_id)]
    rows = store.query(ws, "SELECT status, risk_tier FROM complaints WHERE customer_id = ?", (customer_id,))
    rings = store.query(ws, "SELECT COUNT(DISTINCT ring_id) n FROM ring_members WHERE customer_id = ?",
                        (customer_id,))[0]["n"]
    tiers = [r["risk_tier"] for r in rows if r["risk_tier"]]
    tier = next((t for t in ("high", "medium", "low") if t in tiers), None)
    return {"tags": tags, "open_complaints": sum(r["status"] == "open" for r in rows),
            "complaints": len(rows), "in_ring": rings > 0, "rings": rings, "risk_tier": tier}


def check(ws, customer_id: str, touchpoint: str, context: dict | None = None, *,
          policies_file, asked_by: str = "library") -> dict:
    """Level, actions and reasons for this customer at this touchpoint; logged in `checks`."""
    facts = {**(context or {}), **customer_facts(ws, customer_id)}
    result = evaluate(load_policies(policies_file), touchpoint, facts)
    result["customer_id"] = customer_id
    ws.db.execute(CHECKS)
    with ws.db.conn:
        cid = ws.db.execute(
            "INSERT INTO checks (customer_id, touchpoint, asked_by, asked_at, level, result) "
            "VALUES (?, ?, ?, ?, ?, ?)", (customer_id, touchpoint, asked_by, store.now_iso(),
                                          result["level"], json.dumps(result, ensure_ascii=False))).lastrowid
    ws.log_event("prevention.check", ids=(cid,), command=asked_by, detail=result)
    return result
