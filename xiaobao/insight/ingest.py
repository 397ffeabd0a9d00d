"""Streaming ingest of interaction records (CSV/TSV or JSONL) into ``interactions``.

The file is read row by row and written in batches, so a file of millions of records never
sits in memory. A bad row is reported (file, line, reason) and skipped; the good rows load.
Re-ingesting a file adds nothing twice: rows are keyed by the hash of their normalised
content (``INSERT OR IGNORE`` on a unique column).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from xiaobao.errors import InputError
from xiaobao.insight import store
from xiaobao.insight.records import RowError, content_hash, map_columns, normalise

BATCH = 5000
#: Bad rows kept in the report; the rest are only counted (a broken export can have millions).
MAX_REPORTED = 1000
COLUMNS = ("content_hash", "source_id", "customer_id", "at", "channel", "direction", "agent_id",
           "team", "product", "text", "duration", "outcome", "overdue_days", "source_file", "source_line")
_INSERT = (f"INSERT OR IGNORE INTO interactions ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(COLUMNS))})")


@dataclass
class IngestReport:
    file: str
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    bad_count: int = 0
    bad: list[dict] = field(default_factory=list)

    def problem(self, line: int, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad) < MAX_REPORTED:
            self.bad.append({"line": line, "reason": reason})

    def to_dict(self) -> dict:
        return {"file": self.file, "rows": self.rows, "added": self.added,
                "duplicates": self.duplicates, "bad_count": self.bad_count, "bad": self.bad}


def _encoding(path: Path) -> str:
    """UTF-8 unless the start of the file does not decode as UTF-8; then GB18030 (a superset of
    GBK, what Chinese spreadsheet exports use)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "gb18030"
    return "utf-8-sig"


def _guarded(path: Path, rows: Iterator) -> Iterator:
    """A decoding error mid-file names the file and the last good line, instead of a traceback."""
    last = 0
    try:
        for line, row in rows:
            last = line
            yield line, row
    except UnicodeDecodeError:
        raise InputError(path, "text is neither UTF-8 nor GB18030 after this line; re-export as UTF-8",
                         line=last) from None


def _csv_rows(path: Path) -> Iterator[tuple[int, dict]]:
    with open(path, newline="", encoding=_encoding(path)) as fh:
        sample = fh.read(4096)
        fh.seek(0)
        delimiter = "\t" if path.suffix.lower() == ".tsv" or sample.count("\t") > sample.count(",") else ","
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            headers = next(reader)
        except StopIteration:
            raise InputError(path, "empty file (no header row)") from None
        mapping = map_columns(headers)
        missing = [f for f in ("customer_id", "time", "channel", "text") if f not in mapping.values()]
        if missing:
            raise InputError(path, f"header has no column for {', '.join(missing)} "
                                   f"(found: {', '.join(headers)})", line=1)
        index = [(i, mapping[h]) for i, h in enumerate(headers) if h in mapping]
        start = reader.line_num + 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a NUL byte or an unterminated quote
                line, start = start, reader.line_num + 1
                yield line, RowError(f"unreadable CSV row: {exc}")
                continue
            line, start = start, reader.line_num + 1
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            if len(values) != len(headers):
                yield line, RowError(f"{len(values)} fields where the header has {len(headers)}")
                continue
            yield line, {name: values[i] for i, name in index}


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    with open(path, encoding=_encoding(path)) as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield line_no, RowError(f"not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(obj, dict):
                yield line_no, RowError("a JSON line must be an object")
                continue
            mapping = map_columns(obj.keys())
            yield line_no, {name: obj[k] for k, name in mapping.items()}


def read_records(path: str | Path) -> Iterator[tuple[int, dict | RowError]]:
    """(line, raw record or RowError) for each row of a CSV/TSV/JSONL file, streamed."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _guarded(path, _jsonl_rows(path))
    if suffix in (".csv", ".tsv", ".txt"):
        return _guarded(path, _csv_rows(path))
    raise InputError(path, f"unknown format {suffix!r}: use .csv, .tsv or .jsonl")


def ingest_interactions(ws, path: str | Path, *, batch: int = BATCH,
                        progress: Callable[[int], None] | None = None) -> IngestReport:
    """Load interaction records from ``path`` into the workspace; returns counts and bad rows.

    >>> report = ingest_interactions(ws, "calls.csv")
    >>> report.added, report.duplicates, report.bad[:3]
    """
    store.ensure_tables(ws)
    path = Path(path)
    report = IngestReport(str(path))
    source = str(path.resolve())
    conn = ws.db.conn
    pending: list[tuple] = []

    def flush() -> None:
        before = conn.total_changes
        with ws.transaction():
            conn.executemany(_INSERT, pending)
        added = conn.total_changes - before
        report.added += added
        report.duplicates += len(pending) - added
        pending.clear()
        if progress:
            progress(report.rows)

    for line, raw in read_records(path):
        report.rows += 1
        if isinstance(raw, RowError):
            report.problem(line, str(raw))
            continue
        try:
            rec = normalise(raw)
        except RowError as exc:
            report.problem(line, str(exc))
            continue
        rec["source_file"], rec["source_line"] = source, line
        pending.append((content_hash(rec),) + tuple(rec[c] for c in COLUMNS[1:]))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    if report.rows and report.bad_count == report.rows:
        first = report.bad[0]
        raise InputError(path, f"no good rows; first problem: {first['reason']}", line=first["line"])
    ws.log_event("interactions.ingest", ids=[], detail={k: v for k, v in report.to_dict().items() if k != "bad"}
                 | {"bad": report.bad_count})
    return report
