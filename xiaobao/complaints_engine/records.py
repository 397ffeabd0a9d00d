"""Read access to the part-1 tables (complaints, tags, matches) for the handling modules.

The columns are the agreed complaint schema; writes to part-1 tables go through the store
(tags via ``store.add_tags``), except the open/closed ``status`` transition that handling owns.
"""
from __future__ import annotations

import json
from collections import defaultdict


def _has_table(ws, name: str) -> bool:
    return ws.db[name].exists()


def _decode(row: dict) -> dict:
    from xiaobao.complaints_engine.store import decode_complaint

    return decode_complaint(row)


def get_complaint(ws, complaint_id: str) -> dict:
    """One complaint with JSON columns decoded (the store's accessor; call outside a transaction)."""
    from xiaobao.complaints_engine import store

    return store.get_complaint(ws, complaint_id)


def complaints(ws, ids=None, where: str | None = None, params=()) -> list[dict]:
    if not _has_table(ws, "complaints"):
        return []
    sql, args = "SELECT * FROM complaints", list(params)
    clauses = [where] if where else []
    if ids is not None:
        ids = list(ids)
        if not ids:
            return []
        clauses.append(f"id IN ({','.join('?' * len(ids))})")
        args += ids
    if clauses:
        sql += " WHERE " + " AND ".join(f"({c})" for c in clauses)
    return [_decode(r) for r in ws.db.query(sql + " ORDER BY received_at, id", args)]


def unrouted(ws) -> list[dict]:
    """Complaints with no routing decision yet."""
    if not _has_table(ws, "routes"):
        return complaints(ws)
    return complaints(ws, where="id NOT IN (SELECT complaint_id FROM routes)")


def tags_by_complaint(ws, ids=None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    if not _has_table(ws, "complaint_tags"):
        return out
    for r in ws.db.query("SELECT complaint_id, tag FROM complaint_tags ORDER BY rowid"):
        if ids is None or r["complaint_id"] in ids:
            if r["tag"] not in out[r["complaint_id"]]:
                out[r["complaint_id"]].append(r["tag"])
    return out


def matches_by_complaint(ws, ids=None) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    if not _has_table(ws, "matches"):
        return out
    for r in ws.db.query("SELECT * FROM matches ORDER BY complaint_id, score DESC"):
        if ids is None or r["complaint_id"] in ids:
            r = dict(r)
            if isinstance(r.get("evidence"), str) and r["evidence"]:
                try:
                    r["evidence"] = json.loads(r["evidence"])
                except ValueError:
                    pass
            out[r["complaint_id"]].append(r)
    return out


def add_tags(ws, complaint_id: str, tags, source: str) -> int:
    """Add vocabulary tags through the store (part 1 owns the tag tables and vocabulary).

    Call it outside an open transaction: the store commits on its own connection use.
    """
    tags = [t for t in tags if t]
    if not tags:
        return 0
    from xiaobao.complaints_engine import store

    return store.add_tags(ws, tags, complaint_id=complaint_id, source=source)


def set_status(ws, complaint_id: str, status: str) -> None:
    """Handling owns the open/closed transition of a complaint."""
    if _has_table(ws, "complaints"):
        ws.conn.execute("UPDATE complaints SET status = ? WHERE id = ?", (status, complaint_id))
