"""Check outcomes and the trace from a complaint back to the warnings before it, on a workspace
built with the real intake and the real touchpoint check: complaints ingested, customers
checked, outcomes recorded, then a later complaint traced through the library and the CLI."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import xiaobao
from xiaobao import Workspace
from xiaobao.cli import app
from xiaobao.complaints_engine.handling_tables import now_local
from xiaobao.complaints_engine.synth import write_records
from xiaobao.errors import NotFoundError, UserError
from xiaobao.prevention.outcomes import OUTCOMES, UnknownOutcomeError, check_outcomes, summarise


def _ingest(ws, path, records) -> None:
    write_records(records, path)
    assert xiaobao.ingest(ws, path).added == len(records)


def _complaint(cid: str, customer: str | None, at: dt.datetime, text: str = "催收电话太多，请规范催收。"
               ) -> dict:
    return {"id": cid, "received_at": at.isoformat(), "channel": "12378", "customer_id": customer, "text": text}


@pytest.fixture
def ws(tmp_path):
    """G2 and W1 have an open complaint received two hours ago (so a collection call warns);
    N1 has one too but is never checked."""
    w = Workspace(tmp_path / "ws")
    before = now_local() - dt.timedelta(hours=2)
    _ingest(w, tmp_path / "first.jsonl", [_complaint("A1", "G2", before), _complaint("B1", "W1", before),
                                          _complaint("N0", "N1", before)])
    yield w
    w.close()


def _later_complaints(ws, tmp_path, records) -> None:
    """Complaints that arrive now, after the checks made in a test."""
    _ingest(ws, tmp_path / f"later-{records[0]['id']}.jsonl", records)


def test_record_outcome_round_trip_history_and_audit(ws):
    given = xiaobao.check("G2", "collection_call", workspace=ws, asked_by="dialer")
    assert given["level"] == "warn"
    first = xiaobao.record_outcome(ws, given["check_id"], "not_contacted", by="agent-7")
    assert first["outcome"] == "not_contacted" and first["previous"] is None and first["by"] == "agent-7"
    assert (first["customer_id"], first["level"], first["note"]) == ("G2", "warn", None)
    second = xiaobao.record_outcome(ws, str(given["check_id"]), "overridden", by=" agent-7 ",
                                    note=" customer asked for the call ")
    assert second["previous"] == "not_contacted" and second["note"] == "customer asked for the call"
    history = check_outcomes(ws, given["check_id"])
    assert [(h["outcome"], h["by"]) for h in history] == [("not_contacted", "agent-7"), ("overridden", "agent-7")]
    events = [e for e in ws.events("prevention.outcome") if e["ids"] == [given["check_id"]]]
    assert [e["detail"]["outcome"] for e in events] == ["not_contacted", "overridden"]
    assert events[-1]["detail"]["previous"] == "not_contacted"
    assert events[-1]["command"] == "agent-7"
    # the profile shows the latest outcome on the check
    (shown,) = xiaobao.customer_profile(ws, "G2")["checks"]
    assert shown["id"] == given["check_id"] and shown["outcome"]["outcome"] == "overridden"
    assert shown["outcome"]["note"] == "customer asked for the call"


def test_bad_outcome_unknown_check_and_missing_author_write_nothing(ws):
    cid = xiaobao.check("G2", "collection_call", workspace=ws)["check_id"]
    count = lambda: (ws.conn.execute("SELECT COUNT(*) FROM check_outcomes").fetchone()[0],  # noqa: E731
                     len(ws.events("prevention.outcome")))
    xiaobao.record_outcome(ws, cid, "followed", by="a")
    before = count()
    with pytest.raises(UnknownOutcomeError) as err:
        xiaobao.record_outcome(ws, cid, "ignored", by="a")
    assert isinstance(err.value, UserError) and err.value.outcomes == list(OUTCOMES)
    for name in OUTCOMES:
        assert name in str(err.value)
    with pytest.raises(NotFoundError, match="check 99999"):
        xiaobao.record_outcome(ws, 99999, "followed", by="a")
    with pytest.raises(UserError, match="whole number"):
        xiaobao.record_outcome(ws, "twelve", "followed", by="a")
    with pytest.raises(UserError, match="by"):
        xiaobao.record_outcome(ws, cid, "followed", by="  ")
    assert count() == before


def test_trace_of_a_complaint_after_an_overridden_warning(ws, tmp_path):
    overridden = xiaobao.check("G2", "collection_call", workspace=ws, asked_by="dialer")
    followed = xiaobao.check("G2", "collection_call", workspace=ws, asked_by="dialer")
    assert overridden["level"] == followed["level"] == "warn"
    xiaobao.record_outcome(ws, overridden["check_id"], "overridden", by="agent-7", note="went ahead")
    xiaobao.record_outcome(ws, followed["check_id"], "followed", by="agent-8")
    _later_complaints(ws, tmp_path, [_complaint("A2", "G2", now_local(), "你们明知我已投诉还继续催收。")])

    t = xiaobao.warnings_before(ws, "A2")
    assert (t["complaint_id"], t["customer_id"], t["days"]) == ("A2", "G2", 30)
    # one overridden warning is enough, even when a later one was followed
    assert t["summary"] == "warned_and_overridden" and t["warnings"] == 2
    assert [c["id"] for c in t["checks"]] == [followed["check_id"], overridden["check_id"]]  # newest first
    c = t["checks"][1]
    assert (c["level"], c["asked_by"], c["touchpoint"]) == ("warn", "dialer", "collection_call")
    assert c["actions"] == overridden["actions"] and c["reasons"] == ["customer has an open complaint"]
    assert c["outcome"]["outcome"] == "overridden" and c["outcome"]["by"] == "agent-7"
    assert c["outcome"]["note"] == "went ahead"
    assert t["since"] < c["asked_at"] <= t["until"]

    # the earlier complaint (received two hours before the checks) had no warning before it; the
    # window ends at its received time, Shanghai wall clock compared with the UTC check log
    early = xiaobao.warnings_before(ws, "A1")
    assert early["summary"] == "not_warned" and early["checks"] == []
    p = xiaobao.customer_profile(ws, "G2")
    assert {c["id"]: c["warnings_before"] for c in p["complaints"]} == {"A2": "warned_and_overridden",
                                                                          "A1": "not_warned"}


def test_followed_unrecorded_and_not_warned_summaries_and_the_window(ws, tmp_path):
    w = xiaobao.check("W1", "collection_call", workspace=ws)
    xiaobao.record_outcome(ws, w["check_id"], "followed", by="agent-8")
    open_ = xiaobao.check("N1", "service_call", workspace=ws)  # a notice is not a warning
    assert open_["level"] == "notice"
    _later_complaints(ws, tmp_path, [_complaint("B2", "W1", now_local()), _complaint("N2", "N1", now_local()),
                                     _complaint("X1", None, now_local())])
    assert xiaobao.warnings_before(ws, "B2")["summary"] == "warned_and_followed"
    n = xiaobao.warnings_before(ws, "N2")
    assert n["summary"] == "not_warned" and [c["id"] for c in n["checks"]] == [open_["check_id"]]
    assert n["warnings"] == 0
    assert xiaobao.warnings_before(ws, "X1")["summary"] == "no_customer"
    # a warning with nothing recorded about it
    g = xiaobao.check("G2", "collection_call", workspace=ws)
    _later_complaints(ws, tmp_path, [_complaint("A3", "G2", now_local())])
    assert xiaobao.warnings_before(ws, "A3")["summary"] == "warned_no_outcome"
    # the window: a check 31 days before the complaint is outside 30 days, inside 40
    asked = dt.datetime.fromisoformat(ws.conn.execute("SELECT asked_at FROM checks WHERE id = ?",
                                                      (g["check_id"],)).fetchone()[0])
    ws.conn.execute("UPDATE checks SET asked_at = ? WHERE id = ?",
                    ((asked - dt.timedelta(days=31)).isoformat(), g["check_id"]))
    ws.conn.commit()
    assert xiaobao.warnings_before(ws, "A3")["summary"] == "not_warned"
    assert xiaobao.warnings_before(ws, "A3", days=40)["summary"] == "warned_no_outcome"
    with pytest.raises(NotFoundError, match="NOPE"):
        xiaobao.warnings_before(ws, "NOPE")
    with pytest.raises(UserError, match="days"):
        xiaobao.warnings_before(ws, "A3", days=0)


def test_summary_precedence():
    warn = lambda o: {"level": "warn", "outcome": {"outcome": o} if o else None}  # noqa: E731
    assert summarise([warn("followed"), warn("overridden")]) == "warned_and_overridden"
    assert summarise([warn("followed"), warn(None)]) == "warned_no_outcome"
    assert summarise([warn("not_contacted"), warn("followed")]) == "warned_and_followed"
    assert summarise([warn("not_contacted")]) == "warned_not_contacted"
    assert summarise([{"level": "notice", "outcome": {"outcome": "overridden"}}]) == "not_warned"
    assert summarise([]) == "not_warned"


def test_cli_outcome_warnings_and_profile(ws, tmp_path):
    runner = CliRunner()
    home = ["--home", str(ws.home)]
    r = runner.invoke(app, [*home, "check", "--customer", "G2", "--touchpoint", "collection_call", "--json"])
    assert r.exit_code == 0, r.output
    check_id = json.loads(r.stdout)["check_id"]
    r = runner.invoke(app, [*home, "check", "outcome", str(check_id), "--outcome", "overridden",
                            "--note", "customer insisted", "--by", "agent-7"])
    assert r.exit_code == 0, r.output
    assert f"check {check_id} (G2, warn): overridden, recorded by agent-7" in r.stdout
    r = runner.invoke(app, [*home, "check", "outcome", str(check_id), "--outcome", "followed", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["previous"] == "overridden" and json.loads(r.stdout)["by"] == "cli"
    r = runner.invoke(app, [*home, "check", "outcome", str(check_id), "--outcome", "overridden"])
    assert r.exit_code == 0, r.output

    _later_complaints(ws, tmp_path, [_complaint("A2", "G2", now_local())])
    r = runner.invoke(app, [*home, "complaints", "warnings", "A2", "--json"])
    assert r.exit_code == 0, r.output
    t = json.loads(r.stdout)
    assert t["summary"] == "warned_and_overridden" and t["checks"][0]["outcome"]["by"] == "cli"
    r = runner.invoke(app, [*home, "complaints", "warnings", "A2"], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert "A2 customer G2" in r.stdout and "warned_and_overridden (1 warnings in 1 checks over 30 days" in r.stdout
    assert "overridden" in r.stdout and "route_senior_agent" in r.stdout
    r = runner.invoke(app, [*home, "customers", "show", "G2"], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert "warnings_before" in r.stdout and "warned_and_overridden" in r.stdout and "not_warned" in r.stdout

    # mistakes: one line on stderr, exit 2, nothing recorded
    for args, expected in ((["check", "outcome", str(check_id), "--outcome", "ignored"], "followed, overridden"),
                           (["check", "outcome", "424242", "--outcome", "followed"], "check 424242 is unknown"),
                           (["complaints", "warnings", "NOPE"], "NOPE")):
        done = subprocess.run([sys.executable, "-m", "xiaobao.cli", *home, *args], capture_output=True, text=True)
        assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert len(check_outcomes(ws, check_id)) == 3
    # the check itself still needs its options, and they do not go with `check outcome`
    r = runner.invoke(app, [*home, "check", "--customer", "G2"])
    assert r.exit_code == 2 and "--touchpoint" in r.output
    r = runner.invoke(app, [*home, "check", "--customer", "G2", "outcome", str(check_id), "--outcome", "followed"])
    assert r.exit_code == 2
    assert len(check_outcomes(ws, check_id)) == 3
