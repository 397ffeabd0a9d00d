"""Deadline clock: Chinese working days across 2025-2027 (named dates), pause/resume, extensions, tick."""
import datetime as dt
import json
import subprocess
import sys

import pytest

from complaint_handling_helpers import add_complaint, workspace
from xiaobao.complaints_engine import routing, sla
from xiaobao.complaints_engine.workcalendar import CalendarGapError, load_calendar
from xiaobao.errors import InputError, UserError

CAL = load_calendar()
D = dt.date


def wd(start, n, cal=CAL):
    return sla.add_working_days(start, n, cal)


def cal_deadline(start, n, roll=True, cal=CAL):
    return sla.compute_deadline(dt.datetime.combine(start, dt.time(10)), n, "calendar_days", cal,
                                roll_over_holiday=roll)


@pytest.mark.parametrize("start,n,expected,why", [
    # 2025 Spring Festival: off 01-28..02-04, make-up working days Sun 01-26 and Sat 02-08
    (D(2025, 1, 24), 1, D(2025, 1, 26), "Sunday 2025-01-26 is a make-up working day"),
    (D(2025, 1, 24), 5, D(2025, 2, 7), "holiday week skipped"),
    (D(2025, 2, 7), 1, D(2025, 2, 8), "Saturday 2025-02-08 is a make-up working day"),
    # 2025 Labour Day: off 05-01..05-05, make-up Sun 04-27
    (D(2025, 4, 25), 1, D(2025, 4, 27), "Sunday 2025-04-27 works"),
    (D(2025, 4, 30), 1, D(2025, 5, 6), "05-01..05-05 off"),
    # 2025 National Day + Mid-Autumn: off 10-01..10-08, make-up Sun 09-28 and Sat 10-11
    (D(2025, 9, 26), 15, D(2025, 10, 23), "both make-up days count, eight days off"),
    (D(2025, 9, 30), 1, D(2025, 10, 9), "10-01..10-08 off"),
    (D(2025, 10, 10), 1, D(2025, 10, 11), "Saturday 2025-10-11 works"),
    # 2025 -> 2026 New Year: off 2026-01-01..01-03, make-up Sun 2026-01-04
    (D(2025, 12, 31), 1, D(2026, 1, 4), "Sunday 2026-01-04 works"),
    # 2026 Spring Festival: off 02-15..02-23, make-up Sat 02-14 and Sat 02-28
    (D(2026, 2, 12), 2, D(2026, 2, 14), "Saturday 2026-02-14 works"),
    (D(2026, 2, 12), 3, D(2026, 2, 24), "nine days off"),
    (D(2026, 2, 26), 2, D(2026, 2, 28), "Saturday 2026-02-28 works"),
    # 2026 Mid-Autumn 09-25..09-27 and National Day 10-01..10-07, make-up Sun 09-20 and Sat 10-10
    (D(2026, 9, 18), 1, D(2026, 9, 20), "Sunday 2026-09-20 works"),
    (D(2026, 9, 24), 1, D(2026, 9, 28), "09-25..09-27 off"),
    (D(2026, 9, 30), 2, D(2026, 10, 9), "10-01..10-07 off"),
    (D(2026, 9, 30), 3, D(2026, 10, 10), "Saturday 2026-10-10 works"),
])
def test_working_days_across_holidays(start, n, expected, why):
    assert wd(start, n) == expected, why


def test_regulator_calendar_days_roll_over_a_holiday_end():
    # 2025-09-20 + 15 days = 2025-10-05, inside the National Day break -> first working day 2025-10-09
    assert cal_deadline(D(2025, 9, 20), 15) == dt.datetime(2025, 10, 9, 23, 59, 59)
    assert cal_deadline(D(2025, 9, 20), 15, roll=False) == dt.datetime(2025, 10, 5, 23, 59, 59)
    # 2025-01-14 + 15 = 2025-01-29 (Spring Festival) -> 2025-02-05
    assert cal_deadline(D(2025, 1, 14), 15) == dt.datetime(2025, 2, 5, 23, 59, 59)
    # ending on a make-up Sunday is a working day: 2025-01-11 + 15 = Sunday 2025-01-26, stays
    assert cal_deadline(D(2025, 1, 11), 15) == dt.datetime(2025, 1, 26, 23, 59, 59)
    # ending on an ordinary Saturday rolls to Monday: 2025-03-01 + 14 = Sat 2025-03-15 -> 03-17
    assert cal_deadline(D(2025, 3, 1), 14) == dt.datetime(2025, 3, 17, 23, 59, 59)


def test_2027_is_not_in_the_library_and_is_never_guessed(tmp_path):
    # chinese-calendar 1.11.0 covers 2004-2026; the 2027 arrangement is not published in it.
    assert not CAL.covers(2027)
    with pytest.raises(CalendarGapError, match="no holiday arrangement for 2027.*holidays.yaml"):
        wd(D(2026, 12, 28), 5)
    # calendar days with no roll-over need no holiday data
    assert cal_deadline(D(2026, 12, 28), 15, roll=False) == dt.datetime(2027, 1, 12, 23, 59, 59)
    # once the team records the arrangement in the supplement file it is used exactly
    sup = tmp_path / "holidays.yaml"
    sup.write_text("unknown_year: error\nyears:\n  2027:\n    holidays: [2027-01-01]\n    workdays: [2027-01-09]\n",
                   encoding="utf-8")
    cal = load_calendar(sup)
    assert cal.covers(2027)
    assert wd(D(2026, 12, 28), 3, cal) == D(2026, 12, 31)
    assert wd(D(2026, 12, 28), 4, cal) == D(2027, 1, 4)     # Fri 2027-01-01 off, weekend off
    assert wd(D(2027, 1, 7), 2, cal) == D(2027, 1, 9)       # Sat 2027-01-09 works (recorded make-up day)
    # explicit opt-in: weekdays only, and the year is flagged provisional
    sup.write_text("unknown_year: weekends\nyears: {}\n", encoding="utf-8")
    cal = load_calendar(sup)
    assert wd(D(2026, 12, 28), 4, cal) == D(2027, 1, 1) and cal.provisional_years == {2027}


@pytest.mark.parametrize("text,message", [
    ("years:\n  2027:\n    holidays: [2026-05-01]\n", "date 2026-05-01 is not in 2027"),
    ("years:\n  2027:\n    holidays: [2027-01-01]\n    workdays: [2027-01-01]\n", "listed as holiday and working day"),
    ("unknown_year: maybe\n", "unknown_year must be one of"),
])
def test_bad_holiday_supplement(tmp_path, text, message):
    p = tmp_path / "h.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        load_calendar(p)


@pytest.fixture
def ws(tmp_path):
    w = workspace(tmp_path / "ws")
    yield w
    w.close()


def _open(ws, cid, channel, received):
    add_complaint(ws, cid, received_at=received, channel=channel, text="投诉")
    routing.route_pending(ws, ids=[cid])


def _due(ws, cid, now, target="decision"):
    case = sla._case(ws, cid)
    return {c.target: c for c in sla.case_clock(ws, case, sla.load_policies(), sla.parse_time(now))}[target].due_at


def test_pause_and_resume_move_the_deadline_by_whole_paused_days(ws):
    _open(ws, "R1", "12378", "2025-03-03T10:00:00")         # regulator: 15 calendar days
    assert _due(ws, "R1", "2025-03-04") == dt.datetime(2025, 3, 18, 23, 59, 59)
    sla.pause(ws, "R1", "2025-03-05T09:00:00", reason="待客户补充材料")
    # while paused the deadline moves with the clock; tick ignores the case
    assert _due(ws, "R1", "2025-03-07T12:00:00") == dt.datetime(2025, 3, 19, 23, 59, 59)
    assert sla.tick(ws, "2025-03-30") == []
    sla.resume(ws, "R1", "2025-03-08T15:00:00")
    # 03-06 and 03-07 were stopped all day, 03-05 and 03-08 only partly -> +2 days
    assert _due(ws, "R1", "2025-03-09") == dt.datetime(2025, 3, 20, 23, 59, 59)
    kinds = [e["kind"] for e in sla.sla_events(ws, "R1")]
    assert kinds == ["opened", "paused", "resumed"]
    with pytest.raises(UserError, match="is not paused"):
        sla.resume(ws, "R1", "2025-03-09")


def test_pause_on_working_days_skips_holidays_and_paused_days(ws):
    _open(ws, "W1", "app", "2025-09-26T16:00:00")            # internal: 10 working days
    assert _due(ws, "W1", "2025-09-27") == dt.datetime(2025, 10, 16, 23, 59, 59)
    sla.pause(ws, "W1", "2025-10-09T00:00:00")
    sla.resume(ws, "W1", "2025-10-11T00:00:00")              # 10-09 and 10-10 (working days) stopped
    assert _due(ws, "W1", "2025-10-12") == dt.datetime(2025, 10, 20, 23, 59, 59)


def test_extensions_follow_the_regulation_with_approver(ws):
    _open(ws, "E1", "12378", "2025-06-03T09:00:00")
    with pytest.raises(UserError, match="needs a reason"):
        sla.extend(ws, "E1", at="2025-06-10")
    first = sla.extend(ws, "E1", reason="情况复杂", at="2025-06-10")        # to 30 days, no approval needed
    assert (first["previous_due_at"], first["due_at"]) == ("2025-06-18T23:59:59", "2025-07-03T23:59:59")
    with pytest.raises(UserError, match="needs an approver"):
        sla.extend(ws, "E1", reason="特别复杂", at="2025-06-20")
    second = sla.extend(ws, "E1", approver="分管副总 王某", reason="特别复杂", at="2025-06-20")
    # +30 = Saturday 2025-08-02; the regulator policy rolls a non-working last day to Monday
    assert second["due_at"] == "2025-08-04T23:59:59"
    with pytest.raises(UserError, match="allows 2 extension"):
        sla.extend(ws, "E1", approver="x", reason="y", at="2025-06-21")
    ev = [e for e in sla.sla_events(ws, "E1") if e["kind"] == "extended"]
    assert [e["approver"] for e in ev] == [None, "分管副总 王某"] and ev[1]["detail"]["days_added"] == 30
    assert any(e["what"] == "sla.extended" for e in ws.events())


def test_cannot_extend_after_breach(ws):
    _open(ws, "E2", "12378", "2025-06-03T09:00:00")
    with pytest.raises(UserError, match="has passed"):
        sla.extend(ws, "E2", reason="late", at="2025-06-19T08:00:00")


def test_tick_emits_due_soon_breach_and_escalation_once(ws):
    _open(ws, "T1", "12378", "2025-03-03T10:00:00")          # decision due 2025-03-18, due_soon 3d, ladder 0d/3d
    from xiaobao.complaints_engine.cases import record_action
    record_action(ws, "T1", "contacted_customer", at="2025-03-04T09:00:00")
    assert sla.tick(ws, "2025-03-14T12:00:00") == []
    ev = sla.tick(ws, "2025-03-16T12:00:00")
    assert [(e.kind, e.target) for e in ev] == [("due_soon", "decision")]
    assert sla.tick(ws, "2025-03-17T12:00:00") == []                       # not repeated
    ev = sla.tick(ws, "2025-03-19T08:00:00")
    assert [(e.kind, e.level, e.to) for e in ev] == [("breached", None, None), ("escalated", 1, "消保部负责人")]
    assert sla.tick(ws, "2025-03-20T08:00:00") == []
    ev = sla.tick(ws, "2025-03-22T00:00:00")                               # 3 days after the deadline
    assert [(e.kind, e.level, e.to) for e in ev] == [("escalated", 2, "分管高管")]
    assert len(ws.events("sla.escalated")) == 2


def test_sla_list_and_cli(tmp_path, ws):
    _open(ws, "L1", "12378", "2025-03-03T10:00:00")
    _open(ws, "L2", "app", "2025-03-10T10:00:00")
    rows = sla.list_due(ws, "2d", "2025-03-17T09:00:00")
    assert [(r["complaint_id"], r["target"], r["state"]) for r in rows] == [
        ("L1", "first_response", "overdue"), ("L2", "first_response", "overdue"), ("L1", "decision", "due_soon")]
    run = lambda *a: subprocess.run([sys.executable, "-m", "xiaobao.cli", "--home", str(ws.home), *a],
                                    capture_output=True, text=True, timeout=120)
    r = run("sla", "list", "--due-within", "2d", "--now", "2025-03-17T09:00:00", "--json")
    assert r.returncode == 0, r.stderr
    assert [x["complaint_id"] for x in json.loads(r.stdout)] == ["L1", "L2", "L1"]
    r = run("sla", "tick", "--now", "2025-03-19T08:00:00", "--json")
    assert {(e["complaint_id"], e["kind"]) for e in json.loads(r.stdout)} >= {("L1", "breached"), ("L1", "escalated")}
    r = run("sla", "extend", "L2", "--approver", "张经理", "--reason", "复杂", "--at", "2025-03-12", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["extension_level"] == 1
    r = run("sla", "pause", "NOPE")
    assert r.returncode == 2 and "no case for complaint 'NOPE'" in r.stderr and "Traceback" not in r.stderr
    r = run("sla", "list", "--due-within", "soon")
    assert r.returncode == 2 and "not a duration" in r.stderr


@pytest.mark.parametrize("edit,message", [
    (("basis: working_days", "basis: fortnights"), "policy 'internal': basis 'fortnights'"),
    (("satisfied_by: [decision]\n        extensions:\n          - {days: 5",
      "satisfied_by: [decided]\n        extensions:\n          - {days: 5"), "action 'decided' is not in 'actions'"),
    (("days: 10", "days: ten"), "policy 'internal' target 'decision': 'days' must be a positive whole number"),
])
def test_bad_policy_file_names_the_policy(tmp_path, edit, message):
    text = sla.DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    assert edit[0] in text
    p = tmp_path / "sla.yaml"
    p.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(InputError, match=message):
        sla.load_policies(p, calendar=CAL)


def test_a_deadline_running_into_an_unpublished_year_is_reported_not_fatal(ws):
    _open(ws, "Y1", "app", "2026-12-24T10:00:00")     # 10 working days -> runs into 2027
    _open(ws, "Y2", "12378", "2026-12-01T10:00:00")   # calendar days, decided within 2026
    events = sla.tick(ws, "2026-12-20T09:00:00")
    gap = [e for e in events if e.kind == "clock_error"]
    assert [e.complaint_id for e in gap] == ["Y1"] and "no holiday arrangement for 2027" in gap[0].problem
    assert ("Y2", "breached") in {(e.complaint_id, e.kind) for e in events}
    rows = sla.list_due(ws, "2d", "2026-12-20T09:00:00")
    assert {r["complaint_id"]: r["state"] for r in rows if r["target"] in ("*", "decision")} == {
        "Y1": "unknown", "Y2": "overdue"}
    from xiaobao.complaints_engine.cases import list_cases
    assert [r.get("problem", "")[:30] for r in list_cases(ws, now="2026-12-20T09:00:00")] == [
        "", "no holiday arrangement for 202"]


def test_cli_sla_check(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "xiaobao.cli", *a], capture_output=True, text=True, timeout=120)
    r = run("sla", "check", str(sla.DEFAULT_POLICY_FILE), "--json")
    assert r.returncode == 0, r.stderr
    pol = {p["policy"]: p for p in json.loads(r.stdout)["policies"]}
    assert pol["regulator"]["targets"] == "first_response 1d, decision 15d +15+30"
    assert pol["cfpb-style"]["targets"] == "first_response 15d, decision 60d"
    bad = tmp_path / "sla.yaml"
    bad.write_text(sla.DEFAULT_POLICY_FILE.read_text("utf-8").replace(
        "    basis: calendar_days\n    roll_over_holiday: true", "    basis: lunar\n    roll_over_holiday: true", 1), "utf-8")
    r = run("sla", "check", str(bad))
    assert r.returncode == 2 and "policy 'regulator': basis 'lunar'" in r.stderr and "Traceback" not in r.stderr
