"""The shared streaming reader both ingests use: formats, encodings, broken rows and files."""
import json

import openpyxl
import pytest

from xiaobao.errors import InputError
from xiaobao.tabular import RowError, read_table


def test_csv_gb18030_semicolons_and_broken_rows(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("编号;内容\nA1;催收电话太多\n\nA2;多;一列\nA3;\"未闭合\n".encode("gb18030"))
    headers, rows = read_table(path)
    assert headers == ["编号", "内容"]
    rows = list(rows)
    assert rows[0] == (2, ["A1", "催收电话太多"])
    assert isinstance(rows[1][1], RowError) and rows[1][0] == 4 and "3 fields" in str(rows[1][1])
    assert all(line > 0 for line, _ in rows)


def test_jsonl_objects_and_bad_lines(tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_text(json.dumps({"id": "A1"}, ensure_ascii=False) + "\n[1, 2]\n{oops\n", encoding="utf-8")
    headers, rows = read_table(path)
    assert headers is None
    rows = list(rows)
    assert rows[0] == (1, {"id": "A1"})
    assert "must be an object" in str(rows[1][1]) and "not valid JSON" in str(rows[2][1])


def test_xlsx_header_is_first_non_empty_row(tmp_path):
    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([None, None])
    ws.append(["id", "text"])
    ws.append(["A1", "停息挂账"])
    ws.append([None, None])
    ws.append(["A2", "征信修复"])
    wb.save(path)
    headers, rows = read_table(path)
    assert headers == ["id", "text"]
    assert [(n, r[:2]) for n, r in rows] == [(3, ["A1", "停息挂账"]), (5, ["A2", "征信修复"])]


@pytest.mark.parametrize("name, content, message", [
    ("empty.csv", b"", "no header row"),
    ("missing.csv", None, "no such file"),
    ("notes.docx", b"x", "unknown format"),
    ("broken.xlsx", b"not a zip", "cannot open workbook"),
])
def test_bad_files_name_the_problem(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_table(path)
