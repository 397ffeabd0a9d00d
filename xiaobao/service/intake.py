"""What the HTTP endpoints do with uploads: complaint records to the ingest, media to a temp file,
and a customer view from the stored tables when the prevention profile is not installed."""
from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from xiaobao.complaints_engine import store


def ingest_records(ws, records: list[dict], *, asked_by: str) -> dict:
    """Load complaint records (dicts, the same fields as a JSONL intake file) with the normal ingest.

    The batch is written to ``<home>/intake/http/<time>-<key>-<id>.jsonl`` first and kept there:
    each stored complaint's ``source_file``/``source_line`` then points at the exact bytes that
    came in. Bad records are listed by their index in the request; the good ones load.
    """
    from xiaobao.complaints_engine.api import ingest

    folder = Path(ws.home) / "intake" / "http"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    who = re.sub(r"[^A-Za-z0-9_.-]+", "_", asked_by)[:40] or "key"
    path = folder / f"{stamp}-{who}-{uuid.uuid4().hex[:8]}.jsonl"
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
    report = ingest(ws, [path], command=f"http:{asked_by}")
    return {"received": len(records), "added": report.added, "updated": report.updated,
            "unchanged": report.unchanged, "ids": report.ids,
            "bad": [{"index": p.line - 1, "reason": p.reason} for p in report.bad],
            "warnings": [{"index": p.line - 1, "reason": p.reason} for p in report.warnings]}


_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")


@contextmanager
def saved_upload(upload):
    """The uploaded file as a private temp file (keeping its suffix, which decoders look at)."""
    suffix = Path(upload.filename or "").suffix.lower()
    suffix = suffix if _SUFFIX.fullmatch(suffix) else ""
    with tempfile.TemporaryDirectory(prefix="xiaobao-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        with open(path, "wb") as fh:
            upload.file.seek(0)
            while chunk := upload.file.read(1 << 20):
                fh.write(chunk)
        yield path


def tables_profile(ws, customer_id: str) -> dict:
    """A customer's tags, complaints, rings, matches and recent checks, read from the stored tables."""
    store.ensure_tables(ws)
    complaints = store.query(ws, "SELECT id, received_at, channel, category, status, risk_score, risk_tier "
                                 "FROM complaints WHERE customer_id = ? ORDER BY received_at DESC", (customer_id,))
    rings = store.query(ws, "SELECT DISTINCT r.id, r.status FROM ring_members m JOIN rings r ON r.id = m.ring_id "
                            "WHERE m.customer_id = ? ORDER BY r.id", (customer_id,))
    has_checks = store.query(ws, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'checks'")
    checks = store.query(ws, "SELECT id, touchpoint, asked_by, asked_at, level FROM checks WHERE customer_id = ? "
                             "ORDER BY id DESC LIMIT 20", (customer_id,)) if has_checks else []
    matches = store.query(ws, "SELECT m.complaint_id, m.kind, m.space, m.subject_id, m.score, m.decision "
                              "FROM matches m JOIN complaints c ON c.id = m.complaint_id WHERE c.customer_id = ? "
                              "ORDER BY m.id", (customer_id,))
    return {"customer_id": customer_id, "tags": store.customer_tags(ws, customer_id),
            "complaints": complaints, "rings": rings, "matches": matches, "checks": checks}
