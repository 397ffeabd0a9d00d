"""Alerts: YAML rules evaluated against the registry, stored as events, never raised twice."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from complaint_handling_helpers import add_complaint, workspace
from xiaobao.cli import app
from xiaobao.errors import InputError
from xiaobao.reports.alerts import EXAMPLE, load_rules, run_alerts

RULES = """
alerts:
  - name: regulator-surge
    kind: change
    by: merchant
    where: {channel: [监管转办, 12378]}
    window_days: 7
    min_change_pct: 50
    min_count: 5
  - name: due-tomorrow
    kind: deadlines
    within: 1d
    more_than: 2
  - name: big-ring
    kind: new_ring
    min_customers: 5
"""


@pytest.fixture
def ws(tmp_path):
    from xiaobao.complaints_engine import routing

    w = workspace(tmp_path / "ws")
    n = 0
    # Merchant A: 2 regulator complaints the week before, 6 this week (+200%); B steady at 5 -> 5.
    for merchant, before, now in (("A", 2, 6), ("B", 5, 5)):
        for k in range(before):
            n += 1
            add_complaint(w, f"P{n}", received_at=f"2026-10-0{1 + k % 6}T09:00:00", channel="12378",
                          merchant=merchant, customer_id=f"C{n}")
        for k in range(now):
            n += 1
            add_complaint(w, f"N{n}", received_at=f"2026-10-{8 + k % 6:02d}T09:00:00", channel="监管转办",
                          merchant=merchant, customer_id=f"C{n}")
    # Not a regulator channel: must not count towards the rule's filter.
    for k in range(9):
        add_complaint(w, f"H{k}", received_at="2026-10-13T09:00:00", channel="app", merchant="B", customer_id=f"H{k}")
    # A ring of six customers and one of three.
    for rid, size in ((1, 6), (2, 3)):
        w.conn.execute("INSERT INTO rings (id, status, n_complaints, n_customers, first_seen_at, updated_at) "
                       "VALUES (?, 'candidate', ?, ?, '2026-10-13T00:00:00', '2026-10-13T00:00:00')", (rid, size, size))
        for k in range(size):
            w.conn.execute("INSERT INTO ring_members (ring_id, complaint_id, customer_id) VALUES (?,?,?)",
                           (rid, f"N{k + 3}", f"RC{rid}-{k}"))
    routing.route_pending(w)     # opens the SLA cases
    return w


def test_rules_fire_once_and_are_events(ws, tmp_path):
    rules = tmp_path / "alerts.yaml"
    rules.write_text(RULES, encoding="utf-8")
    fired = run_alerts(ws, rules, as_of="2026-10-14T09:00:00")
    by_rule = {}
    for f in fired:
        by_rule.setdefault(f["rule"], []).append(f)
    assert [f["message"].split(":")[0] for f in by_rule["regulator-surge"]] == ["merchant=A (channel in 监管转办/12378)"]
    assert "2 -> 6" in by_rule["regulator-surge"][0]["message"]
    assert [f["key"] for f in by_rule["big-ring"]] == ["big-ring|R-1"]
    # Complaints received 2026-10-13 have first-response deadlines at the end of 2026-10-14 (due within a day).
    due_soon = ws.conn.execute("SELECT COUNT(*) FROM complaints WHERE received_at LIKE '2026-10-13%'").fetchone()[0]
    assert due_soon > 2 and len(by_rule["due-tomorrow"]) == 1
    assert f"{due_soon} deadlines" in by_rule["due-tomorrow"][0]["message"]
    events = ws.events("alert")
    assert len(events) == len(fired) == 3
    # Same moment again: nothing new, nothing stored twice.
    assert run_alerts(ws, rules, as_of="2026-10-14T10:00:00") == []
    assert len(ws.events("alert")) == 3
    assert ws.conn.execute("SELECT COUNT(*) FROM report_alerts").fetchone()[0] == 3


def test_bad_rules_name_file_and_rule(tmp_path):
    bad = tmp_path / "a.yaml"
    for text, words in (("alerts: [{name: x, kind: explode}]", "alert 1 (x): kind must be one of"),
                        ("alerts: [{name: x, kind: change, by: colour}]", "colour is not one of"),
                        ("alerts: [{name: x, kind: change, window_days: soon}]", "alert 1 (x)"),
                        ("alerts: [{name: x, kind: new_ring, colour: 1}]", "unknown key(s) colour"),
                        ("alerts:\n  - name: [unclosed", "not valid YAML")):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InputError, match="a.yaml") as exc:
            load_rules(bad)
        assert words in str(exc.value)
    assert {r.kind for r in load_rules(EXAMPLE)} == {"change", "deadlines", "new_ring"}


def test_cli_alerts_run_and_list(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("XIAOBAO_HOME", str(ws.home))
    runner = CliRunner()
    res = runner.invoke(app, ["alerts", "run", "--as-of", "2026-10-14T09:00:00", "--json"])
    assert res.exit_code == 0, res.output
    assert {a["rule"] for a in __import__("json").loads(res.output)} >= {"regulator-merchant-surge", "large-ring"}
    res = runner.invoke(app, ["alerts", "list", "--json"])
    assert res.exit_code == 0 and "large-ring" in res.output
