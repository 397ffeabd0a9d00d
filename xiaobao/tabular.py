"""Rows of a spreadsheet-like file, streamed: CSV/TSV, JSON Lines and Excel workbooks.

Complaint exports and call/chat records arrive the same way, so both ingests read through
here. A file of millions of rows never sits in memory; a broken row comes back as a
:class:`RowError` with its line number so the caller reports it and keeps the rest; a problem
with the file itself (empty, undecodable, not a workbook) is an :class:`InputError` naming it.

>>> headers, rows = read_table("complaints.csv")   # headers: None for JSON Lines
>>> for line, row in rows: ...                      # row: list (CSV/XLSX), dict (JSONL) or RowError
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator

from xiaobao.errors import InputError

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
XLSX_SUFFIXES = (".xlsx", ".xlsm")

Row = list | dict
Rows = Iterator[tuple[int, "Row | RowError"]]


class RowError(ValueError):
    """A row that cannot be loaded; the message is the reason shown to the user."""


def table_format(path: Path) -> str | None:
    """``csv``, ``jsonl``, ``xlsx`` or None, from the file's suffix."""
    suffix = path.suffix.lower()
    for name, suffixes in (("csv", CSV_SUFFIXES), ("jsonl", JSONL_SUFFIXES), ("xlsx", XLSX_SUFFIXES)):
        if suffix in suffixes:
            return name
    return None


def text_encoding(path: Path) -> str:
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


def read_table(path: str | Path) -> tuple[list[str] | None, Rows]:
    """The header (None for JSON Lines) and an iterator of ``(line, row)``, streamed.

    Blank rows are skipped. A CSV row with the wrong number of fields, an unreadable CSV row and
    a JSON line that is not an object come back as :class:`RowError`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    fmt = table_format(path)
    if fmt == "jsonl":
        return None, _guarded(path, _jsonl_rows(path))
    if fmt == "xlsx":
        return _xlsx_table(path)
    if fmt == "csv":
        return _csv_table(path)
    raise InputError(path, f"unknown format {path.suffix!r}: use .csv, .tsv, .jsonl or .xlsx")


def _guarded(path: Path, rows: Rows) -> Rows:
    """A decoding error mid-file names the file and the last good line, instead of a traceback."""
    last = 0
    try:
        for line, row in rows:
            last = line
            yield line, row
    except UnicodeDecodeError:
        raise InputError(path, "text is neither UTF-8 nor GB18030 after this line; re-export as UTF-8",
                         line=last) from None


def _delimiter(path: Path, first_line: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    try:
        return csv.Sniffer().sniff(first_line, delimiters=",\t;|").delimiter
    except csv.Error:
        return "\t" if first_line.count("\t") > first_line.count(",") else ","


def _csv_table(path: Path) -> tuple[list[str], Rows]:
    fh = open(path, newline="", encoding=text_encoding(path))
    try:
        first = fh.readline()
        fh.seek(0)
        reader = csv.reader(fh, delimiter=_delimiter(path, first))
        headers = next(reader)
    except StopIteration:
        fh.close()
        raise InputError(path, "empty file (no header row)") from None
    except UnicodeDecodeError:
        fh.close()
        raise InputError(path, "header is neither UTF-8 nor GB18030 text; re-export as UTF-8", line=1) from None
    return headers, _guarded(path, _csv_rows(fh, reader, len(headers)))


def _csv_rows(fh, reader, width: int) -> Rows:
    with fh:
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
            if not any(v.strip() for v in values):
                continue
            if len(values) != width:
                yield line, RowError(f"row has {len(values)} fields, the header has {width}")
                continue
            yield line, values


def _jsonl_rows(path: Path) -> Rows:
    with open(path, encoding=text_encoding(path)) as fh:
        for line, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield line, RowError(f"not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(obj, dict):
                yield line, RowError("a JSON line must be an object")
                continue
            yield line, obj


def _xlsx_table(path: Path) -> tuple[list[str], Rows]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a broken file
        raise InputError(path, f"cannot open workbook: {exc}") from None
    rows = enumerate(wb.worksheets[0].iter_rows(values_only=True), start=1)
    for _n, row in rows:  # the header is the first row with anything in it
        if any(c not in (None, "") for c in row):
            return ["" if c is None else str(c) for c in row], _xlsx_rows(wb, rows)
    wb.close()
    raise InputError(path, "empty workbook (no header row)")


def _xlsx_rows(wb, rows) -> Rows:
    try:
        for n, row in rows:
            if any(c not in (None, "") for c in row):
                yield n, list(row)
    finally:
        wb.close()
