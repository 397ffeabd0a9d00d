"""Metrics and periodic reports over a real screened and handled workspace: every number is
checked against a direct SQL count written independently of the report code."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from statistics import median

import pytest
from typer.testing import CliRunner

from test_report_workspace import build_handled_workspace
from xiaobao.cli import app
from xiaobao.reports import build_report, metrics, write_report

OCT = ("2026-10-01", "2026-11-01")
SEP = ("2026-09-01", "2026-10-01")
REGULATORS = ("监管转办", "12378", "人民银行")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return build_handled_workspace(tmp_path_factory.mktemp("reports"), n=300, rings=4)


def one(ws, sql, params=()):
    return ws.conn.execute(sql, params).fetchone()[0]


def sql_truth(ws, channel, window=OCT):
    """The metrics of one channel, counted straight from the handling and screening tables."""
    where = "c.channel = ? AND c.received_at >= ? AND c.received_at < ?"
    p = (channel, *window)
    breached = "SELECT DISTINCT e.complaint_id FROM sla_events e WHERE e.kind = 'breached'"
    hours = [r[0] for r in ws.conn.execute(
        f"SELECT (julianday(k.closed_at) - julianday(k.received_at)) * 24 FROM complaints c JOIN cases k "
        f"ON k.complaint_id = c.id WHERE {where} AND k.status = 'closed'", p)]
    return {
        "complaints": one(ws, f"SELECT COUNT(*) FROM complaints c WHERE {where}", p),
        "breached": one(ws, f"SELECT COUNT(*) FROM complaints c WHERE {where} AND c.id IN ({breached})", p),
        "extended": one(ws, f"SELECT COUNT(*) FROM complaints c JOIN cases k ON k.complaint_id = c.id WHERE {where} "
                            f"AND k.extension_level > 0 AND c.id NOT IN ({breached})", p),
        "on_time": one(ws, f"SELECT COUNT(*) FROM complaints c JOIN cases k ON k.complaint_id = c.id WHERE {where} "
                           f"AND k.status = 'closed' AND k.extension_level = 0 AND c.id NOT IN ({breached})", p),
        "proxy_suspected": one(ws, f"SELECT COUNT(*) FROM complaints c WHERE {where} AND (c.risk_tier = 'high' OR "
                                   "c.id IN (SELECT complaint_id FROM ring_members))", p),
        "rings_active": one(ws, f"SELECT COUNT(DISTINCT rm.ring_id) FROM complaints c JOIN ring_members rm "
                                f"ON rm.complaint_id = c.id WHERE {where}", p),
        "repeat": one(ws, f"SELECT COUNT(*) FROM complaints c WHERE {where} AND (SELECT COUNT(*) FROM complaints q "
                          "WHERE q.customer_id = c.customer_id AND q.received_at < c.received_at) > 0", p),
        "escalated": one(ws, f"SELECT COUNT(*) FROM complaints c WHERE {where}", p) if channel in REGULATORS else 0,
        "median_handling_hours": round(median(hours), 2) if hours else None,
    }


def test_metrics_by_channel_agree_with_sql(ws):
    rows = metrics(ws, by="channel", start="2026-10-01", end="2026-10-31")
    assert rows and sum(r["complaints"] for r in rows) == one(
        ws, "SELECT COUNT(*) FROM complaints WHERE received_at >= ? AND received_at < ?", OCT)
    for r in rows:
        truth = sql_truth(ws, r["channel"])
        assert {k: r[k] for k in truth} == truth, r["channel"]
        assert r["previous"] == sql_truth(ws, r["channel"], SEP)["complaints"]
        assert r["change"] == r["complaints"] - r["previous"]
    # The fixture exercises every outcome, so none of these checks is vacuous.
    assert all(sum(r[k] for r in rows) > 0 for k in ("breached", "extended", "on_time", "proxy_suspected", "repeat"))


def test_metrics_two_dimensions_and_tags(ws):
    rows = metrics(ws, by=["channel", "merchant"], start="2026-10-01", end="2026-10-31")
    for r in rows[:5]:
        merchant = None if r["merchant"] == "(none)" else r["merchant"]
        n = one(ws, "SELECT COUNT(*) FROM complaints WHERE channel = ? AND COALESCE(NULLIF(merchant, ''), '') = ? "
                    "AND received_at >= ? AND received_at < ?", (r["channel"], merchant or "", *OCT))
        assert r["complaints"] == n
    tags = {r["tag"]: r["complaints"] for r in metrics(ws, by="tag", start="2026-10-01", end="2026-10-31")}
    for tag, n in ws.conn.execute(
            "SELECT t.tag, COUNT(DISTINCT t.complaint_id) FROM complaint_tags t JOIN complaints c ON c.id = t.complaint_id "
            "WHERE c.received_at >= ? AND c.received_at < ? GROUP BY t.tag", OCT):
        assert tags[tag] == n
    assert "疑似代理投诉" in tags
    days = metrics(ws, by="day", start="2026-10-01", end="2026-10-31")      # a time series reads in date order
    assert [r["day"] for r in days] == sorted(r["day"] for r in days) and len(days) > 1
    assert sum(r["complaints"] for r in days) == one(
        ws, "SELECT COUNT(*) FROM complaints WHERE received_at >= ? AND received_at < ?", OCT)


def test_monthly_report_files_agree_and_lead_with_actions(ws, tmp_path):
    report = build_report(ws, "monthly", date="2026-10-15")
    paths = write_report(report, tmp_path / "out")
    assert report["period"] == {"start": "2026-10-01", "end": "2026-10-31", "label": "2026-10-01 – 2026-10-31", "days": 31}
    saved = json.loads(paths["json"].read_text(encoding="utf-8"))
    total = one(ws, "SELECT COUNT(*) FROM complaints WHERE received_at >= ? AND received_at < ?", OCT)
    assert saved["totals"]["complaints"] == total
    assert saved["totals"]["previous"] == one(ws, "SELECT COUNT(*) FROM complaints WHERE received_at >= ? "
                                                  "AND received_at < ?", SEP)
    assert sum(d["complaints"] for d in saved["trend"]) == total
    html = paths["html"].read_text(encoding="utf-8")
    assert html.index("Needs action") < html.index("Totals") < html.index("Breakdowns")
    assert "Plotly.newPlot" in html and not re.search(r"<script[^>]+src=", html)   # nothing fetched
    md = paths["md"].read_text(encoding="utf-8")
    assert f"| {total} |" in md and md.index("Needs action") < md.index("## Totals")
    assert saved["actions"]["deadlines_overdue"] > 0 and "overdue by " in md and not re.search(r"-\d+d\d+h left", md)
    # Rings active in October that had no member before: the "new rings" action, from SQL.
    new = {f"R-{r[0]}" for r in ws.conn.execute(
        "SELECT rm.ring_id FROM ring_members rm JOIN complaints c ON c.id = rm.complaint_id GROUP BY rm.ring_id "
        "HAVING MIN(c.received_at) >= '2026-10-01' AND MIN(c.received_at) < '2026-11-01'")}
    assert {g["ring"] for g in saved["actions"]["new_rings"]} == new
    # Deadlines at risk, judged at the end of the period: the SLA clock's own open cases.
    from xiaobao.complaints_engine.sla import list_due

    due = list_due(ws, within="2d", now=saved["as_of"])
    assert saved["as_of"] == "2026-10-31T23:59:59" and due
    assert saved["actions"]["deadlines_overdue"] == sum(d["state"] == "overdue" for d in due)
    assert saved["actions"]["deadlines_due_soon"] == sum(d["state"] == "due_soon" for d in due)
    assert saved["deadline_board_total"] == len(due)


def test_cli_metrics_csv_and_report(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("XIAOBAO_HOME", str(ws.home))
    runner = CliRunner()
    res = runner.invoke(app, ["metrics", "--by", "level", "--from", "2026-10-01", "--to", "2026-10-31", "--csv"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("level,complaints,")
    assert sum(int(l.split(",")[1]) for l in lines[1:]) == one(
        ws, "SELECT COUNT(*) FROM complaints WHERE received_at >= ? AND received_at < ?", OCT)
    res = runner.invoke(app, ["report", "weekly", "--date", "2026-10-15", "--out", str(tmp_path / "w"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["period"]["start"] == "2026-10-12" and out["complaints"] == one(
        ws, "SELECT COUNT(*) FROM complaints WHERE received_at >= '2026-10-12' AND received_at < '2026-10-19'")
    res = runner.invoke(app, ["report", "dashboard", "--out", str(tmp_path / "d" / "dash.html"), "--from", "2026-09-01"])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "d" / "dash.html").read_text(encoding="utf-8")
    assert "dashboard 2026-09-01 – 2026-10-" in html and html.count('<div class="chart"') == 6


def test_bad_input_is_one_line_exit_2(ws, monkeypatch):
    monkeypatch.setenv("XIAOBAO_HOME", str(ws.home))
    runner = CliRunner()
    for args, words in ((["metrics", "--by", "colour", "--from", "2026-10-01", "--to", "2026-10-31"], "not a dimension"),
                        (["metrics", "--from", "2026-10-31", "--to", "2026-10-01"], "before --from"),
                        (["metrics", "--from", "yesterday", "--to", "2026-10-01"], "not a date")):
        res = runner.invoke(app, args)
        assert res.exit_code != 0 and words in str(res.exception), args
    # The real entry point: one line on stderr, exit code 2, no traceback.
    proc = subprocess.run([sys.executable, "-m", "xiaobao.cli", "metrics", "--by", "colour", "--from", "2026-10-01",
                           "--to", "2026-10-31"], capture_output=True, text=True, env={**os.environ})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_report_on_workspace_without_handling(tmp_path):
    from complaint_handling_helpers import add_complaint, workspace

    w = workspace(tmp_path / "plain")
    add_complaint(w, "A1", received_at="2026-10-02T09:00:00", channel="12378", merchant="M", customer_id="C1")
    add_complaint(w, "A2", received_at="2026-10-03T09:00:00", channel="app", merchant="M", customer_id="C1")
    report = build_report(w, "daily", date="2026-10-03")
    assert report["totals"]["complaints"] == 1 and report["totals"]["repeat"] == 1
    assert report["totals"]["no_case"] == 1 and report["gaps"]
    assert metrics(w, start="2026-10-02", end="2026-10-03")[0]["escalated"] == 1
    assert write_report(report, tmp_path / "o")["html"].stat().st_size > 100_000   # plotly.js inline


def test_empty_workspace_is_a_clear_error(tmp_path):
    from xiaobao import Workspace
    from xiaobao.errors import UserError

    with pytest.raises(UserError, match="no complaints yet"):
        metrics(Workspace(tmp_path / "empty"), start="2026-10-01", end="2026-10-31")
