"""Supervision (督办): actions, missing required actions, internal steps, follow-ups, closing, overdue list."""
import json
import subprocess
import sys

import pytest

from complaint_handling_helpers import add_complaint, workspace
from xiaobao.complaints_engine import cases, routing
from xiaobao.errors import UserError


@pytest.fixture
def ws(tmp_path):
    w = workspace(tmp_path / "ws")
    add_complaint(w, "S1", received_at="2025-03-03T10:00:00", channel="12378", text="征信报告有误")
    add_complaint(w, "S2", received_at="2025-03-10T10:00:00", channel="app", text="重复扣款")
    routing.route_pending(w)
    yield w
    w.close()


def test_supervision_view_shows_what_each_case_still_needs(ws):
    cases.record_action(ws, "S1", "contacted_customer", at="2025-03-04T09:00", actor="李四")
    cases.record_action(ws, "S1", "evidence_requested", at="2025-03-04T09:30", note="请提供扣款流水")
    cases.record_action(ws, "S1", "internal_review_requested", at="2025-03-05T10:00")
    cases.record_action(ws, "S1", "internal_review_done", at="2025-03-06T10:00")
    cases.record_action(ws, "S1", "follow_up_scheduled", at="2025-03-06T11:00", due_at="2025-03-10T10:00",
                        note="回访确认材料")
    view = cases.supervision(ws, "S1", now="2025-03-09T12:00")
    dl = {d["target"]: d for d in view["deadlines"]}
    assert dl["first_response"]["state"] == "met" and dl["first_response"]["met_at"] == "2025-03-04T09:00:00"
    assert dl["decision"]["due_at"] == "2025-03-18T23:59:59" and dl["decision"]["time_left"] == "9d11h"
    assert [m["action"] for m in view["missing_required_actions"]] == ["decision", "reply_sent"]
    assert [(p["step"], p["waiting_for"]) for p in view["internal_steps_pending"]] == [
        ("evidence_requested", "evidence_received")]
    assert [f["due_at"] for f in view["follow_ups_due"]] == ["2025-03-10T10:00:00"]
    cases.record_action(ws, "S1", "follow_up_done", at="2025-03-10T09:00")
    cases.record_action(ws, "S1", "evidence_received", at="2025-03-10T09:05")
    view = cases.supervision(ws, "S1", now="2025-03-10T12:00")
    assert view["follow_ups_due"] == [] and view["internal_steps_pending"] == []


def test_closing_needs_a_decision_and_closes_case_and_complaint(ws):
    with pytest.raises(UserError, match="record the decision before reply_sent"):
        cases.record_action(ws, "S2", "reply_sent", at="2025-03-11T10:00")
    with pytest.raises(UserError, match="unknown action 'called'"):
        cases.record_action(ws, "S2", "called")
    with pytest.raises(UserError, match="needs --due"):
        cases.record_action(ws, "S2", "follow_up_scheduled", at="2025-03-11T10:00")
    cases.record_action(ws, "S2", "decision", at="2025-03-12T10:00", note="退还重复扣款")
    out = cases.record_action(ws, "S2", "reply_sent", at="2025-03-12T15:00")
    assert out["closed"]
    view = cases.supervision(ws, "S2", now="2025-03-20")
    assert view["status"] == "closed" and not view["overdue"]
    assert [m["action"] for m in view["missing_required_actions"]] == ["contacted_customer"]
    assert ws.db["complaints"].get("S2")["status"] == "closed"
    with pytest.raises(UserError, match="is closed"):
        cases.record_action(ws, "S2", "note")
    assert [e["detail"]["action"] for e in ws.events("case.action")] == ["decision", "reply_sent"]


def test_overdue_list_and_cli(ws):
    rows = cases.list_cases(ws, now="2025-03-19T09:00", overdue=True)
    assert [r["complaint_id"] for r in rows] == ["S1", "S2"]   # S1 decision past 03-18, S2 first response past 03-11
    assert rows[0]["state"] == "overdue" and rows[0]["missing"] == "contacted_customer,decision,reply_sent"
    assert [r["complaint_id"] for r in cases.list_cases(ws, now="2025-03-05T09:00", overdue=True)] == ["S1"]
    run = lambda *a: subprocess.run([sys.executable, "-m", "xiaobao.cli", "--home", str(ws.home), *a],
                                    capture_output=True, text=True, timeout=120)
    r = run("cases", "action", "S1", "contacted_customer", "--at", "2025-03-04T08:00", "--actor", "王五")
    assert r.returncode == 0, r.stderr
    r = run("cases", "list", "--overdue", "--now", "2025-03-05T09:00", "--json")
    assert json.loads(r.stdout) == []
    r = run("cases", "show", "S1", "--now", "2025-03-05T09:00", "--json")
    view = json.loads(r.stdout)
    assert view["actions"][0]["actor"] == "王五" and view["policy"] == "regulator"
    r = run("cases", "show", "S1", "--now", "2025-03-05T09:00")
    assert r.returncode == 0 and "missing required actions: decision" in r.stdout
    r = run("cases", "show", "NOPE")
    assert r.returncode == 2 and "no case for complaint 'NOPE'" in r.stderr
