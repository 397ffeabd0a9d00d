"""Labelled recordings for calibration and evaluation: a CSV with a ``file`` column and a label column."""
from __future__ import annotations

import csv
from pathlib import Path

from xiaobao.errors import InputError


def read_labels(data: Path, labels: Path, label_column: str) -> dict[str, list[Path]]:
    """{label: files sorted by name}; rows naming missing files are errors naming the row."""
    data, labels = Path(data), Path(labels)
    if not labels.is_file():
        raise InputError(labels, "no such labels file")
    with open(labels, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        if "file" not in cols:
            raise InputError(labels, "needs a 'file' column", line=1)
        if label_column not in cols:
            raise InputError(labels, f"has no column {label_column!r} (columns: {', '.join(cols)})", line=1)
        groups: dict[str, list[Path]] = {}
        for line, row in enumerate(reader, start=2):
            f = data / row["file"]
            if not f.is_file():
                raise InputError(labels, f"file {row['file']!r} not found under {data}", line=line)
            groups.setdefault(row[label_column], []).append(f)
    return {k: sorted(v, key=lambda p: p.name) for k, v in groups.items()}
