"""Ingest: formats, header mapping (Chinese, English, CFPB), bad rows, re-ingestion."""
import json
import subprocess
import sys

import openpyxl
import pytest

from xiaobao import Workspace
from xiaobao.complaints_engine import store
from xiaobao.complaints_engine.ingest import ingest
from xiaobao.errors import InputError

CFPB_HEADER = ("Date received,Product,Sub-product,Issue,Sub-issue,Consumer complaint narrative,"
               "Company public response,Company,State,ZIP code,Tags,Consumer consent provided?,Submitted via,"
               "Date sent to company,Company response to consumer,Timely response?,Consumer disputed?,Complaint ID")


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path / "ws")
    yield w
    w.close()


def test_cfpb_columns_map_and_reingest_adds_nothing(ws, tmp_path):
    f = tmp_path / "cfpb.csv"
    f.write_text(CFPB_HEADER + "\n"
                 '2019-09-24,Debt collection,I do not know,Attempts to collect debt not owed,Debt is not yours,'
                 '"They call me\nevery day about a debt that is not mine.",,TRANSWORLD SYSTEMS INC,FL,335XX,,'
                 'Consent provided,Web,2019-09-24,Closed with explanation,Yes,N/A,3384392\n'
                 '2019-09-19,Mortgage,,Trouble during payment process,,,,Acme Bank,PA,15206,,,Phone,2019-09-20,'
                 'In progress,Yes,N/A,3379500\n', encoding="utf-8")
    r = ingest(ws, [f])
    assert (r.rows, r.added, r.bad) == (2, 2, [])
    c = store.get_complaint(ws, "3384392")
    assert c["channel"] == "web" and c["institution"] == "TRANSWORLD SYSTEMS INC"
    assert c["business_line"] == "Debt collection" and c["category"] == "Attempts to collect debt not owed"
    assert c["received_at"] == "2019-09-24T00:00:00" and c["state"] == "FL"
    assert "every day" in c["text"] and c["source_line"] == 2
    assert c["extra"]["Sub-issue"] == "Debt is not yours"
    assert store.get_complaint(ws, "3379500")["channel"] == "hotline"
    again = ingest(ws, [f])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert ws.db.conn.execute("SELECT COUNT(*) FROM complaints").fetchone()[0] == 2


def test_bad_rows_reported_with_line_and_good_rows_kept(ws, tmp_path):
    f = tmp_path / "day.csv"
    f.write_text("投诉编号,受理时间,投诉渠道,客户号,投诉内容,代理人,是否提供授权委托书\n"
                 "A1,2026-10-01 09:30,监管转办,CU1,催收电话太多,,\n"
                 "A2,明天,12378,CU2,利息太高,,\n"                      # bad time, line 3
                 "A3,2026/10/02,银保监,CU3,乱收会员费,张三,也许\n"       # bad flag, line 4
                 ",,,,,,\n"                                              # blank: skipped silently
                 "A4,2026年10月3日,app,CU4\n"                              # too few fields, line 6
                 "A1,2026-10-04,app,CU9,另一条,,\n"                      # repeated id, line 7
                 "A5,2026-10-05,电话,CU5,征信有误,李四,是\n", encoding="utf-8")
    r = ingest(ws, [f])
    assert r.added == 2
    bad = {p.line: p.reason for p in r.bad}
    assert set(bad) == {3, 4, 6, 7}
    assert "明天" in bad[3] and "也许" in bad[4] and "fields" in bad[6] and "repeats line 2" in bad[7]
    assert all(p.file == str(f) for p in r.bad)
    a5 = store.get_complaint(ws, "A5")
    assert a5["channel"] == "hotline" and a5["representative"] == "李四" and a5["has_authorisation"] == 1
    assert store.get_complaint(ws, "A1")["channel"] == "监管转办"


def test_jsonl_and_xlsx_and_changed_content(ws, tmp_path):
    j = tmp_path / "a.jsonl"
    j.write_text(json.dumps({"complaint_id": "J1", "text": "退还担保费", "channel": "黑猫", "customer": "C1",
                             "attachments": ["call.wav"]}, ensure_ascii=False) + "\n"
                 "{not json\n"
                 + json.dumps({"内容": "没有编号的投诉", "客户号": "C2"}, ensure_ascii=False) + "\n"
                 + json.dumps({"complaint_id": "J4", "customer": "C4"}) + "\n", encoding="utf-8")
    r = ingest(ws, [j])
    assert r.added == 3 and [p.line for p in r.bad] == [2]
    assert any("call.wav" in w.reason for w in r.warnings)  # missing attachment: warned, row kept
    assert [(w.line, w.reason[:35]) for w in r.warnings if w.line == 4] == [(4, "no complaint text and no attachment")]
    j1 = store.get_complaint(ws, "J1")
    assert j1["channel"] == "黑猫投诉" and j1["attachments"] == [str(tmp_path / "call.wav")]
    no_id = ws.db.conn.execute("SELECT id FROM complaints WHERE customer_id = 'C2'").fetchone()[0]
    assert no_id.startswith("C-")
    assert ingest(ws, [j]).unchanged == 3  # the derived id is stable

    x = tmp_path / "b.xlsx"
    wb = openpyxl.Workbook()
    sh = wb.active
    sh.append(["工单号", "登记时间", "来源渠道", "客户编号", "问题描述"])
    sh.append(["X1", "2026-10-01", "信函", "C3", "我要投诉"])
    sh.append(["X2", "坏日期", "信函", "C4", "我要投诉"])
    wb.save(x)
    r = ingest(ws, [x])
    assert r.added == 1 and [p.line for p in r.bad] == [3]
    assert store.get_complaint(ws, "X1")["channel"] == "letter"

    j.write_text(json.dumps({"complaint_id": "J1", "text": "退还担保费和会员费", "customer": "C1"},
                            ensure_ascii=False) + "\n", encoding="utf-8")
    r = ingest(ws, [j])
    assert r.updated == 1 and store.get_complaint(ws, "J1")["screened_at"] is None


def test_unreadable_inputs_are_one_clear_error(ws, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        ingest(ws, [tmp_path / "missing.csv"])
    odd = tmp_path / "a.pdf"
    odd.write_text("x")
    with pytest.raises(InputError, match="unknown file type"):
        ingest(ws, [odd])
    headless = tmp_path / "h.csv"
    headless.write_text("foo,bar\n1,2\n")
    with pytest.raises(InputError, match="no complaint id or text column"):
        ingest(ws, [headless])


def test_cli_ingest_bad_file_exits_2_without_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "xiaobao.cli", "--home", str(tmp_path / "ws"), "complaints", "ingest",
                        str(tmp_path / "nope.csv")], capture_output=True, text=True)
    assert p.returncode == 2 and "nope.csv" in p.stderr and "Traceback" not in p.stderr
