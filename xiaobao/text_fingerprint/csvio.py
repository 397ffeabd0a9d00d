"""Reading letters from CSV files: one column of text, optional id and label columns."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

from xiaobao.errors import InputError

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # letters can be long


def read_text_csv(path: str | Path, text_column: str, *other_columns: str | None) -> tuple[list[dict], list[str]]:
    """Rows as ``{"line", text_column, other...}`` and one problem line per skipped row (empty text).

    A missing file or column, or a file that is not UTF-8 CSV, is an :class:`InputError`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    wanted = [c for c in (text_column, *other_columns) if c]
    rows, problems = [], []
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            for col in wanted:
                if col not in header:
                    raise InputError(path, f"no column {col!r} (columns: {', '.join(header) or 'none'})", line=1)
            for row in reader:
                line = reader.line_num
                values = {c: (row.get(c) or "").strip() for c in wanted}
                missing = [c for c in wanted if not values[c]]
                if missing:
                    problems.append(f"{path}:{line}: empty {missing[0]!r}, row skipped")
                    continue
                rows.append({"line": line, **values})
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise InputError(path, f"not a readable CSV ({exc})") from exc
    return rows, problems
