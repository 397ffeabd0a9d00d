"""Interaction ingest: CSV/JSONL, Chinese headers, bad rows with line and reason, idempotent re-ingest,
streaming memory, turn parsing, and the CLI's one-line errors."""
import csv
import json
import os
import subprocess
import sys
import tracemalloc

import pytest

from xiaobao import Workspace
from xiaobao.errors import InputError
from xiaobao.insight.ingest import ingest_interactions
from xiaobao.insight.records import parse_turns


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path / "ws")
    yield w
    w.close()


def _write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_csv_bad_rows_reported_good_rows_kept_and_reingest_adds_nothing(ws, tmp_path):
    f = tmp_path / "calls.csv"
    _write_csv(f, ["id", "customer_id", "time", "channel", "direction", "agent_id", "text", "duration",
                   "outcome", "overdue_days"], [
        ["r1", "C1", "2026-03-01 09:30:00", "call", "outbound", "A1", "[00:01] 坐席：您好\n[00:05] 客户：好的", "30",
         "承诺还款", "12"],
        ["r2", "C1", "yesterday", "call", "outbound", "A1", "hello", "", "", ""],          # line 4 (r1 spans 2)
        ["r3", "", "2026-03-01 10:00:00", "chat", "inbound", "", "我要投诉", "", "", ""],   # line 5
        ["r4", "C2", "2026-03-02T11:00:00", "chat", "sideways", "", "x", "", "", ""],     # line 6
        ["r5", "C2", "2026-03-02T11:00:00", "chat", "呼入", "", "能不能减免利息", "-3", "", ""],  # line 7
        ["r6", "C2", "2026/03/02 12:00:00", "chat", "呼入", "", "能不能减免利息", "", "", "5"],   # line 8 ok
    ])
    rep = ingest_interactions(ws, f)
    assert (rep.rows, rep.added, rep.duplicates, rep.bad_count) == (6, 2, 0, 4)
    bad = {b["line"]: b["reason"] for b in rep.bad}
    assert set(bad) == {4, 5, 6, 7}
    assert "time 'yesterday'" in bad[4] and "missing customer_id" in bad[5]
    assert "direction 'sideways'" in bad[6] and "duration" in bad[7]
    rows = ws.db.conn.execute("SELECT source_id, at, direction, overdue_days, source_line FROM interactions "
                              "ORDER BY source_id").fetchall()
    assert rows == [("r1", "2026-03-01T09:30:00", "outbound", 12, 2), ("r6", "2026-03-02T12:00:00", "inbound", 5, 8)]
    again = ingest_interactions(ws, f)
    assert (again.added, again.duplicates) == (0, 2)
    assert ws.db.conn.execute("SELECT COUNT(*) FROM interactions").fetchone()[0] == 2


def test_jsonl_with_chinese_keys_and_broken_lines(ws, tmp_path):
    f = tmp_path / "chats.jsonl"
    lines = [
        json.dumps({"客户号": "C9", "时间": "2026-01-05 20:00:00", "渠道": "APP", "方向": "呼入", "内容": "别再打了"},
                   ensure_ascii=False),
        "{not json",
        json.dumps(["a", "list"]),
        "",
        json.dumps({"customer_id": "C9", "time": "2026-01-06 08:00:00", "channel": "app", "text": "我已经还了"}),
    ]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rep = ingest_interactions(ws, f)
    assert rep.added == 2 and [b["line"] for b in rep.bad] == [2, 3]
    assert "not valid JSON" in rep.bad[0]["reason"]
    assert {r[0] for r in ws.db.conn.execute("SELECT channel FROM interactions")} == {"app"}


def test_header_without_required_columns_is_one_clear_error(ws, tmp_path):
    f = tmp_path / "x.csv"
    _write_csv(f, ["who", "when"], [["C1", "2026-01-01"]])
    with pytest.raises(InputError, match=r"x.csv:1: header has no column for customer_id, time, channel, text"):
        ingest_interactions(ws, f)
    with pytest.raises(InputError, match="unknown format"):
        ingest_interactions(ws, f.rename(tmp_path / "x.parquet"))


def test_ingest_streams_memory_stays_far_below_file_size(ws, tmp_path):
    f = tmp_path / "big.csv"
    text = "[00:01] 坐席：您好，我是某某消费金融的工作人员，本次通话将被录音。\n[00:09] 客户：好的，我这周五发工资就还。" * 3
    with open(f, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["customer_id", "time", "channel", "text"])
        for i in range(20000):
            w.writerow([f"C{i % 997}", f"2026-02-{1 + i % 28:02d} 10:{i % 60:02d}:{i % 59:02d}", "call", f"{i} {text}"])
    size = f.stat().st_size
    tracemalloc.start()
    rep = ingest_interactions(ws, f, batch=500)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rep.added == 20000
    assert peak < size / 5, (peak, size)


def test_turn_parsing_offsets_and_speakers():
    turns = parse_turns("[01:02] 坐席：请问您什么时候还款？\n[1:00:05] 客户: 下周\n注意：这是旁白\n\n客服：好的")
    assert [(t.offset_s, t.speaker) for t in turns] == [(62, "agent"), (3605, "customer"), (None, None), (None, "agent")]
    assert turns[2].text == "注意：这是旁白"


def test_cli_ingest_reports_bad_rows_and_exit_codes(tmp_path):
    env = {**os.environ, "XIAOBAO_HOME": str(tmp_path / "ws"), "COLUMNS": "200"}
    f = tmp_path / "calls.csv"
    _write_csv(f, ["customer_id", "time", "channel", "text"],
               [["C1", "2026-03-01 09:00:00", "call", "您好"], ["C1", "nope", "call", "x"]])
    run = lambda *a: subprocess.run([sys.executable, "-m", "xiaobao.cli", *a], capture_output=True, text=True, env=env)
    p = run("interactions", "ingest", str(f))
    assert p.returncode == 0 and "1 added" in p.stdout and f"{f}:3: time 'nope'" in p.stderr
    p = run("interactions", "ingest", str(tmp_path / "missing.csv"))
    assert p.returncode == 2 and "Traceback" not in p.stderr and "no such file" in p.stderr


def test_gbk_export_and_bad_dates(ws, tmp_path):
    f = tmp_path / "gbk.csv"
    f.write_bytes("客户号,时间,渠道,内容\nC1,2026-03-01 09:00:00,call,我要投诉你们\n".encode("gbk")
                  + "C2,2026-03-02 09:00:00,call,好的\n".encode("gbk"))
    rep = ingest_interactions(ws, f)
    assert rep.added == 2 and not rep.bad
    assert ws.db.conn.execute("SELECT text FROM interactions WHERE customer_id = 'C1'").fetchone()[0] == "我要投诉你们"
    from xiaobao.errors import UserError
    from xiaobao.insight.quality import run_quality
    with pytest.raises(UserError, match="--from 'March' is not a date"):
        run_quality(ws, date_from="March")
