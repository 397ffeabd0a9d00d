"""What the HTTP endpoints do with uploads: complaint records to the ingest, media to a temp file."""
from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path


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
