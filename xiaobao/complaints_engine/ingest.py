"""Ingest complaint files (CSV/TSV, JSONL, XLSX) into the ``complaints`` table.

One bad row is reported (file, line, reason) and skipped; the good rows load. Re-ingesting
the same file adds nothing twice: a row whose id and content are already stored is counted
``unchanged``; a known id with new content is ``updated`` and queued for screening again.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Iterable, Iterator

from xiaobao.complaints_engine import store
from xiaobao.complaints_engine.columns import (
    ATTACHMENT_FIELDS, map_headers, normalise_channel, parse_bool,
)
from xiaobao.errors import InputError, UserError
from xiaobao.tabular import RowError, read_table

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".xlsx": "xlsx", ".xlsm": "xlsx"}
CONTENT_FIELDS = ("received_at", "channel", "customer_id", "business_line", "institution",
                  "merchant", "level", "category", "text", "attachments", "representative",
                  "has_authorisation", "state", "extra")


@dataclass
class RowProblem:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class IngestReport:
    files: list[str] = field(default_factory=list)
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"files": self.files, "rows": self.rows, "added": self.added,
                "updated": self.updated, "unchanged": self.unchanged,
                "bad": [p.__dict__ for p in self.bad],
                "warnings": [p.__dict__ for p in self.warnings]}


# --- reading -------------------------------------------------------------------------------

def read_rows(path: Path) -> Iterator[tuple[int, dict | RowError]]:
    """(line, {canonical field: value}) per row, or (line, RowError) for a broken row."""
    if path.suffix.lower() not in FORMATS:
        raise InputError(path, f"unknown file type {path.suffix!r} (use .csv, .tsv, .jsonl or .xlsx)")
    headers, rows = read_table(path)
    if headers is None:  # JSON Lines: each object names its own fields
        for line, obj in rows:
            if isinstance(obj, RowError):
                yield line, obj
                continue
            keys = list(obj)
            mapping = map_headers(keys)
            mapped = {mapping[i]: obj[k] for i, k in enumerate(keys) if i in mapping}
            mapped["extra"] = {k: obj[k] for i, k in enumerate(keys) if i not in mapping}
            yield line, mapped
        return
    mapping = map_headers(headers)
    if "text" not in mapping.values() and "id" not in mapping.values():
        raise InputError(path, "no complaint id or text column found in the header "
                               f"({', '.join(map(str, headers))}); name them e.g. 投诉编号 / id and "
                               "投诉内容 / text (every accepted name: docs/complaints.md)", line=1)
    for line, row in rows:
        if isinstance(row, RowError):
            yield line, row
            continue
        mapped = {mapping[i]: v for i, v in enumerate(row) if i in mapping}
        mapped["extra"] = {headers[i]: v for i, v in enumerate(row)
                           if i not in mapping and i < len(headers) and headers[i] and v not in (None, "")}
        yield line, mapped


# --- normalising ---------------------------------------------------------------------------

_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
                 "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%m/%d/%Y", "%m/%d/%Y %H:%M",
                 "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日", "%Y%m%d",
                 "%Y.%m.%d")


def parse_time(value) -> str | None:
    """ISO 'YYYY-MM-DDTHH:MM:SS' (local time as given) from the usual spellings."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0).isoformat()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).isoformat()
    v = str(value).strip()
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        return dt.replace(tzinfo=None, microsecond=0).isoformat()
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(v, fmt).isoformat()
        except ValueError:
            continue
    raise RowError(f"received time {v!r} is not a date (use e.g. 2024-05-01 or 2024-05-01 09:30)")


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spreadsheet ids come back as floats
    v = str(value).strip()
    return v or None


def _paths(value, base: Path) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else str(value).replace("；", ";").replace("|", ";").split(";")
    out = []
    for item in items:
        item = str(item).strip()
        if item:
            p = Path(item).expanduser()
            out.append(str(p if p.is_absolute() else (base / p).resolve()))
    return out


def normalise(mapped: dict, base: Path) -> tuple[dict, list[str]]:
    """The stored record and a list of warnings; raises RowError for a row that cannot load."""
    rec: dict = {}
    warnings: list[str] = []
    for key in ("id", "customer_id", "business_line", "institution", "merchant", "level",
                "category", "representative", "state"):
        rec[key] = _text(mapped.get(key))
    text = mapped.get("text")
    rec["text"] = str(text).strip() if text not in (None, "") else ""
    rec["received_at"] = parse_time(mapped.get("received_at"))
    rec["channel"] = normalise_channel(_text(mapped.get("channel")))
    try:
        rec["has_authorisation"] = parse_bool(mapped.get("has_authorisation"))
    except ValueError as exc:
        raise RowError(str(exc)) from None
    attachments = []
    for key in ATTACHMENT_FIELDS:
        attachments += _paths(mapped.get(key), base)
    for p in attachments:
        if not Path(p).exists():
            warnings.append(f"attachment {p} does not exist (kept; screening will skip it)")
    rec["attachments"] = attachments
    extra = mapped.get("extra") or {}
    rec["extra"] = {str(k): (v.isoformat() if isinstance(v, (date, datetime)) else v)
                    for k, v in extra.items()}
    if not rec["id"] and not rec["text"]:
        raise RowError("row has neither a complaint id nor complaint text")
    if not rec["text"] and not attachments:
        # Kept (CFPB exports leave the narrative empty when the consumer did not consent to
        # publish it), but said: screening can then only link it by customer and channel.
        warnings.append("no complaint text and no attachments (kept; screening has only its other fields)")
    canonical = json.dumps({k: rec[k] for k in CONTENT_FIELDS}, ensure_ascii=False, sort_keys=True,
                           default=str)
    rec["content_sha256"] = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    if not rec["id"]:
        rec["id"] = "C-" + rec["content_sha256"][:16]  # stable, so a re-ingest finds it again
    return rec, warnings


# --- storing -------------------------------------------------------------------------------

def ingest(ws, paths: Iterable[str | Path], *, command: str | None = None,
           batch_size: int = 2000) -> IngestReport:
    """Load complaint files into the workspace; returns counts and every bad row.

    A missing or unreadable file raises :class:`InputError`; a bad row is reported in
    ``IngestReport.bad`` and skipped.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise UserError("no complaint files given")
    for p in paths:
        if not p.is_file():
            raise InputError(p, "no such file")
    store.ensure_tables(ws)
    report = IngestReport()
    for path in paths:
        report.files.append(str(path))
        seen: dict[str, int] = {}
        batch: list[dict] = []
        for line, row in read_rows(path):
            report.rows += 1
            if isinstance(row, RowError):
                report.bad.append(RowProblem(str(path), line, str(row)))
                continue
            try:
                rec, warnings = normalise(row, path.parent)
            except RowError as exc:
                report.bad.append(RowProblem(str(path), line, str(exc)))
                continue
            if rec["id"] in seen:
                report.bad.append(RowProblem(
                    str(path), line, f"complaint id {rec['id']} repeats line {seen[rec['id']]}"))
                continue
            seen[rec["id"]] = line
            report.warnings += [RowProblem(str(path), line, w) for w in warnings]
            rec["source_file"], rec["source_line"] = str(path.resolve()), line
            batch.append(rec)
            if len(batch) >= batch_size:
                _store(ws, batch, report)
                batch = []
        if batch:
            _store(ws, batch, report)
    ws.log_event("complaints.ingest", ids=report.files, command=command,
                 detail={k: v for k, v in report.to_dict().items() if k not in ("bad", "warnings")}
                 | {"bad": len(report.bad)})
    return report


def _store(ws, batch: list[dict], report: IngestReport) -> None:
    conn = ws.db.conn
    ids = [r["id"] for r in batch]
    known: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        q = f"SELECT id, content_sha256 FROM complaints WHERE id IN ({','.join('?' * len(chunk))})"
        known.update(dict(conn.execute(q, chunk).fetchall()))
    at = store.now_iso()
    with store.transaction(ws):  # one transaction per batch: a crash never leaves half a batch
        for rec in batch:
            row = dict(rec)
            row["attachments"] = json.dumps(rec["attachments"], ensure_ascii=False)
            row["extra"] = json.dumps(rec["extra"], ensure_ascii=False, default=str)
            old = known.get(rec["id"])
            if old == rec["content_sha256"]:
                report.unchanged += 1
                continue
            if old is None:
                row.update(ingested_at=at, status="open")
                cols = list(row)
                conn.execute(f"INSERT INTO complaints ({','.join(cols)}) VALUES "
                             f"({','.join('?' * len(cols))})", [row[c] for c in cols])
                report.added += 1
            else:
                # New content for a known id: keep its case state, screen it again.
                row.update(screened_at=None, risk_score=None, risk_tier=None, reasons=None)
                cols = [c for c in row if c != "id"]
                conn.execute(f"UPDATE complaints SET {','.join(c + '=?' for c in cols)} WHERE id=?",
                             [row[c] for c in cols] + [rec["id"]])
                conn.execute("DELETE FROM complaint_features WHERE complaint_id = ?", (rec["id"],))
                conn.execute("DELETE FROM complaint_artifacts WHERE complaint_id = ?", (rec["id"],))
                conn.execute("DELETE FROM attachment_vectors WHERE complaint_id = ?", (rec["id"],))
                report.updated += 1
            report.ids.append(rec["id"])
