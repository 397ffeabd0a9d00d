"""The customer profile and the facts behind touchpoint checks, on a workspace built with the
real intake: complaints ingested, screened (a ring of three customers) and routed (SLA cases),
a tag added, interactions ingested; then the library, the CLI and the policy cache."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import xiaobao
from xiaobao import Workspace
from xiaobao.cli import app
from xiaobao.complaints_engine import store
from xiaobao.complaints_engine.handling_tables import now_local
from xiaobao.complaints_engine.routing import route_pending
from xiaobao.complaints_engine.synth import write_records
from xiaobao.errors import NotFoundError, UserError
from xiaobao.insight.ingest import ingest_interactions
from xiaobao.prevention.check import check, customer_facts
from xiaobao.prevention.policies import UnknownTouchpointError, cached_policies, evaluate

RING_TEXT = ("本人{n}在贵司借款，贵司违规收取砍头息，综合年化成本超过36%，要求停息挂账并退还全部利息，"
             "并消除征信不良记录。根据《消费者权益保护法》及监管部门相关规定，贵司应当依法处理，"
             "如贵司在三个工作日内不予解决，本人将向银保监会、人民银行及12378进一步投诉并保留诉讼权利。")


def _complaint(i: int, customer: str, text: str, days_ago: float) -> dict:
    at = now_local() - dt.timedelta(days=days_ago)
    return {"id": f"T{i:03d}", "received_at": at.isoformat(), "channel": "12378", "customer_id": customer,
            "text": text}


def _interactions(path, rows) -> None:
    """rows: (customer, days ago); times in the local wall clock, as interaction files give them."""
    now = now_local()
    lines = ["customer_id,time,channel,direction,agent_id,text"]
    lines += [f"{c},{(now - dt.timedelta(days=d)).isoformat(sep=' ')},call,outbound,A7,[00:01] 坐席：您好，提醒您还款"
              for c, d in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def built(tmp_path):
    """P0, P1, P2 share a letter template and contact numbers (a ring); P0 also carries the
    high-risk tag. G1 has an open complaint and 4 calls this week; G2 an open complaint and one."""
    home = tmp_path / "ws"
    ws = Workspace(home)
    recs = [_complaint(10 + i, f"P{i}", RING_TEXT.format(n=n) + ("联系电话13912345678。" if i < 2 else
                                                                "微信fawu_778899。"), 3)
            for i, n in enumerate(["王强", "李娜", "赵敏"])]
    recs.append(_complaint(20, "P0", "还是我，本人的事情请联系13912345678。", 2))
    recs.append(_complaint(30, "G1", "催收电话一天打十几个，骚扰我的家人，请规范催收。", 1))
    recs.append(_complaint(31, "G2", "会员费被重复扣款两次，要求退还。", 1))
    write_records(recs, tmp_path / "complaints.jsonl")
    assert xiaobao.ingest(ws, tmp_path / "complaints.jsonl").added == 6
    xiaobao.screen(ws)
    assert route_pending(ws).cases_opened == 6
    store.add_tags(ws, ["高投诉风险"], customer_id="P0")
    _interactions(tmp_path / "calls.csv", [("G1", 0.2), ("G1", 1), ("G1", 2), ("G1", 5), ("G1", 20), ("G1", 25),
                                          ("G1", 40), ("G2", 3), ("Q9", 10)])
    assert ingest_interactions(ws, tmp_path / "calls.csv").added == 9
    yield ws
    ws.close()


def test_profile_gathers_tags_complaints_deadlines_rings_matches_and_checks(built):
    ws = built
    given = xiaobao.check("P0", "collection_call", workspace=ws, asked_by="dialer")
    assert given["level"] == "intercept" and given["check_id"] > 0
    p = xiaobao.customer_profile(ws, "P0")
    assert p["customer_id"] == "P0"
    assert {"tag": "高投诉风险", "source": "manual"} in [{k: t[k] for k in ("tag", "source")} for t in p["tags"]]
    assert [c["id"] for c in p["complaints"]] == ["T020", "T010"]  # newest first
    for c in p["complaints"]:
        assert c["status"] == "open" and c["channel"] == "12378" and c["deadline_state"] == "running"
        assert c["deadline"] > c["received_at"] and c["risk_tier"] in ("high", "medium", "low")
    assert any("代理团伙关联" in c["tags"] for c in p["complaints"])
    (ring,) = p["rings"]
    assert ring["complaints"] == ["T010", "T020"] and ring["other_customers"] == ["P1", "P2"]
    assert ring["ring"].startswith("R-") and ring["n_customers"] == 3
    assert p["matches"] and {m["complaint_id"] for m in p["matches"]} <= {"T010", "T020"}
    assert {m["other_complaint_id"] for m in p["matches"]} & {"T011", "T012"}
    assert p["checks"][0] == {"id": given["check_id"], "touchpoint": "collection_call", "asked_by": "dialer",
                              "asked_at": p["checks"][0]["asked_at"], "level": "intercept",
                              "actions": given["actions"], "reasons": given["reasons"], "outcome": None}
    f = p["facts"]
    assert (f["in_ring"], f["rings"], f["complaints"], f["open_complaints"], f["checks_24h"]) == (True, 1, 2, 2, 1)
    assert p["interactions"]["total"] == 0 and p["risk"] is None

    g1 = xiaobao.customer_profile(ws, "G1")
    assert g1["rings"] == [] and g1["matches"] == [] and g1["checks"] == []
    i = g1["interactions"]
    assert (i["total"], i["last_7d"], i["last_30d"], i["by_channel"]) == (7, 4, 6, {"call": 7})
    assert len(i["recent"]) == 5 and i["recent"][0]["at"] == i["last_at"]
    # known from interactions alone is still known
    assert xiaobao.customer_profile(ws, "Q9")["complaints"] == []


def test_unknown_customer_is_not_found_in_library_and_cli(built, tmp_path):
    with pytest.raises(NotFoundError, match="NOBODY"):
        xiaobao.customer_profile(built, "NOBODY")
    with pytest.raises(UserError):
        xiaobao.customer_profile(built, "  ")
    done = subprocess.run([sys.executable, "-m", "xiaobao.cli", "--home", str(built.home), "customers", "show",
                           "NOBODY"], capture_output=True, text=True)
    assert done.returncode == 2 and "NOBODY" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_customers_show_for_people_and_json(built):
    xiaobao.check("P0", "fee_charge", workspace=built, asked_by="fee-engine")
    runner = CliRunner()
    r = runner.invoke(app, ["--home", str(built.home), "customers", "show", "P0"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    out = r.stdout
    for expected in ("customer P0", "高投诉风险 (manual)", "complaints: 2 (2 open); rings: 1", "T010", "T020",
                     "others: P1, P2", "fee-engine", "warn"):
        assert expected in out, (expected, out)
    r = runner.invoke(app, ["--home", str(built.home), "customers", "show", "G1", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["facts"]["contacts_7d"] == 4 and data["complaints"][0]["id"] == "T030"


def test_recent_contacts_and_repeated_checks_trigger_the_shipped_rules(built):
    ws = built
    g1 = check("G1", "collection_call", workspace=ws)
    assert g1["level"] == "intercept"
    assert "contacted 3 or more times in 7 days while a complaint is open" in g1["reasons"]
    assert "pause_collection_calls" in g1["actions"]
    g2 = check("G2", "collection_call", workspace=ws)  # open complaint, one call this week: a warning only
    assert g2["level"] == "warn" and g2["reasons"] == ["customer has an open complaint"]
    assert customer_facts(ws, "G2")["contacts_7d"] == 1
    # the caller knows of more calls than were ingested: the larger count is used
    assert check("G2", "collection_call", {"contacts_7d": 3}, workspace=ws)["level"] == "intercept"
    assert check("G1", "collection_call", {"contacts_7d": 0}, workspace=ws)["level"] == "intercept"
    # stored facts win over a context field of the same name
    assert check("G2", "collection_call", {"open_complaints": 0}, workspace=ws)["level"] == "warn"
    # telemarketing to someone called twice this week is stopped even with no complaint
    assert check("Q9", "telemarketing", workspace=ws)["level"] == "none"  # 1 call, 10 days ago
    # the fourth dial of the same customer within 24 h is flagged
    levels = [check("NEW1", "collection_call", workspace=ws)["level"] for _ in range(4)]
    assert levels == ["none", "none", "none", "notice"]
    assert check("NEW1", "service_call", workspace=ws)["level"] == "none"  # counted per touchpoint
    logged = json.loads(ws.conn.execute("SELECT result FROM checks WHERE customer_id = 'G1' ORDER BY id LIMIT 1")
                        .fetchone()[0])
    assert logged["facts"]["contacts_7d"] == 4 and logged["level"] == "intercept"


def test_unknown_touchpoint_lists_known_ones_and_logs_nothing(built):
    check("P0", "collection_call", workspace=built)
    before = built.conn.execute("SELECT COUNT(*) FROM checks").fetchone()[0]
    with pytest.raises(UnknownTouchpointError) as err:
        check("P0", "fax", workspace=built)
    assert "collection_call" in str(err.value) and "telemarketing" in err.value.touchpoints
    assert built.conn.execute("SELECT COUNT(*) FROM checks").fetchone()[0] == before
    with pytest.raises(UserError, match="context"):
        check("P0", "collection_call", ["not", "a", "mapping"], workspace=built)


def test_library_check_without_workspace_opens_xiaobao_home(tmp_path, monkeypatch):
    home = tmp_path / "from-env"
    monkeypatch.setenv("XIAOBAO_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    with Workspace(home) as ws:
        store.add_tags(ws, ["高投诉风险"], customer_id="CU7")
    r = xiaobao.check("CU7", "collection_call")
    assert r["level"] == "intercept" and r["check_id"] == 1
    assert not (tmp_path / ".xiaobao").exists()
    with Workspace(home) as ws:
        assert ws.conn.execute("SELECT customer_id, asked_by, level FROM checks").fetchall() == \
            [("CU7", "library", "intercept")]
        assert [e["ids"] for e in ws.events("prevention.check")] == [[1]]
        # the older form, workspace first, answers the same
        assert check(ws, "CU7", "collection_call", policies_file=None)["level"] == "intercept"
    with Workspace(home) as ws:
        assert xiaobao.customer_profile(ws, "CU7")["checks"][0]["level"] == "intercept"


POLICY = """
touchpoints:
  collection_call:
    - when: "open_complaints > 0"
      level: {level}
      actions: [route_senior_agent]
      reason: open complaint
"""


def _write(path, text: str, bump: int) -> None:
    path.write_text(text, encoding="utf-8")
    st = os.stat(path)  # a distinct mtime even on a coarse-grained file system
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def test_policy_cache_reloads_on_change_and_keeps_the_last_good_on_a_broken_edit(built, tmp_path, caplog):
    p = tmp_path / "policies.yaml"
    _write(p, POLICY.format(level="notice"), 1)
    first = cached_policies(p)
    assert cached_policies(p) is first  # unchanged file: the same compiled object
    assert check("G2", "collection_call", workspace=built, policies_file=p)["level"] == "notice"
    _write(p, POLICY.format(level="intercept"), 2)
    assert check("G2", "collection_call", workspace=built, policies_file=p)["level"] == "intercept"
    good = cached_policies(p)
    with caplog.at_level(logging.ERROR, logger="xiaobao.prevention"):
        _write(p, POLICY.format(level="loud"), 3)
        assert cached_policies(p) is good
    assert "no longer validates" in caplog.text
    assert check("G2", "collection_call", workspace=built, policies_file=p)["level"] == "intercept"
    _write(p, POLICY.format(level="warn"), 4)  # fixed again: picked up
    assert evaluate(cached_policies(p), "collection_call", {"open_complaints": 1})["level"] == "warn"
    broken = tmp_path / "broken.yaml"
    broken.write_text(POLICY.format(level="loud"), encoding="utf-8")
    with pytest.raises(UserError, match="level must be one of"):  # never good: an error, not a silent default
        check("G2", "collection_call", workspace=built, policies_file=broken)


def test_fact_queries_use_customer_indexes(built):
    check("P0", "collection_call", workspace=built)
    plans = {}
    for name, sql in {
        "checks": "SELECT COUNT(*) FROM checks WHERE customer_id = 'P0' AND touchpoint = 'x' AND asked_at >= ''",
        "ring_members": "SELECT ring_id FROM ring_members WHERE customer_id = 'P0'",
        "complaints": "SELECT status FROM complaints WHERE customer_id = 'P0'",
        "customer_tags": "SELECT tag FROM customer_tags WHERE customer_id = 'P0'",
        "interactions": "SELECT COUNT(*) FROM interactions WHERE customer_id = 'P0' AND at >= ''",
    }.items():
        plans[name] = " ".join(r[-1] for r in built.conn.execute("EXPLAIN QUERY PLAN " + sql))
    for name, plan in plans.items():
        assert "USING" in plan and "INDEX" in plan and not plan.startswith(f"SCAN {name}"), (name, plan)
