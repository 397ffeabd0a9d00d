"""Shared set-up for the complaint-handling tests: a workspace with complaint rows inserted
directly in the agreed schema's columns (as ingest would write them)."""
from __future__ import annotations

import json

from xiaobao import Workspace
from xiaobao.complaints_engine import store

COLUMNS = ("id", "received_at", "channel", "customer_id", "business_line", "institution", "merchant", "level",
           "category", "category_confidence", "text", "attachments", "representative", "has_authorisation",
           "state", "source_file", "source_line", "risk_score", "risk_tier", "reasons", "status")


def workspace(path) -> Workspace:
    ws = Workspace(path)
    store.ensure_tables(ws)
    return ws


def add_complaint(ws, id, received_at="2025-03-03T10:00:00", channel="hotline", **fields) -> str:
    row = {"id": id, "received_at": received_at, "channel": channel, "status": "open", **fields}
    for key in ("attachments", "reasons"):
        if key in row and not isinstance(row[key], str):
            row[key] = json.dumps(row[key], ensure_ascii=False)
    bad = set(row) - set(COLUMNS)
    assert not bad, bad
    cols = list(row)
    ws.conn.execute(f"INSERT INTO complaints ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    [row[c] for c in cols])
    return id


def add_match(ws, complaint_id, kind, score, decision, subject_id=None, sample_id=None, space=None,
              other_complaint_id=None, evidence=None) -> int:
    cur = ws.conn.execute(
        "INSERT INTO matches (complaint_id, kind, space, subject_id, sample_id, other_complaint_id, score, decision,"
        " evidence, created_at) VALUES (?,?,?,?,?,?,?,?,?, '2025-03-03T10:05:00')",
        (complaint_id, kind, space, subject_id, sample_id, other_complaint_id, score, decision,
         json.dumps(evidence or {}, ensure_ascii=False)))
    return cur.lastrowid
