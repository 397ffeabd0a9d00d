"""Streaming ingest of interaction records (CSV/TSV, JSONL or XLSX) into ``interactions``.

The file is read row by row and written in batches, so a file of millions of records never
sits in memory. A bad row is reported (file, line, reason) and skipped; the good rows load.
Re-ingesting a file adds nothing twice: rows are keyed by the hash of their normalised
content (``INSERT OR IGNORE`` on a unique column).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from xiaobao.errors import InputError
from xiaobao.insight import store
from xiaobao.insight.records import content_hash, map_columns, normalise
from xiaobao.tabular import RowError, read_table, table_format

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


def read_records(path: str | Path) -> Iterator[tuple[int, dict | RowError]]:
    """(line, raw record or RowError) for each row of a CSV/TSV/JSONL/XLSX file, streamed."""
    path = Path(path)
    if path.is_file() and table_format(path) is None:
        raise InputError(path, f"unknown format {path.suffix!r}: use .csv, .tsv, .jsonl or .xlsx")
    headers, rows = read_table(path)
    if headers is None:  # JSON Lines: each object names its own fields
        for line, obj in rows:
            if isinstance(obj, RowError):
                yield line, obj
                continue
            yield line, {name: obj[k] for k, name in map_columns(obj.keys()).items()}
        return
    mapping = map_columns(headers)
    missing = [f for f in ("customer_id", "time", "channel", "text") if f not in mapping.values()]
    if missing:
        raise InputError(path, f"header has no column for {', '.join(missing)} "
                               f"(found: {', '.join(map(str, headers))})", line=1)
    index = [(i, mapping[h]) for i, h in enumerate(headers) if h in mapping]
    for line, values in rows:
        if isinstance(values, RowError):
            yield line, values
            continue
        yield line, {name: values[i] for i, name in index if i < len(values)}


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
