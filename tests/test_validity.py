"""Validity checks: stated grounds, verdicts, never a silent drop."""
import json
import subprocess
import sys

import pytest

from complaint_handling_helpers import add_complaint, add_match, workspace
from xiaobao.complaints_engine.validity import check_validity, latest_validity, trigram_similarity


@pytest.fixture
def ws(tmp_path):
    w = workspace(tmp_path / "ws")
    yield w
    w.close()


def _by_check(result):
    return {r["check"]: r for r in result["reasons"]}


def test_plain_complaint_is_valid_and_every_check_states_its_grounds(ws):
    add_complaint(ws, "V1", customer_id="U1", text="我要求提前结清，客服不给结清证明")
    res = check_validity(ws, "V1")
    assert res["verdict"] == "valid" and res["answer_required"] and res["responsibility"] == "ours"
    checks = _by_check(res)
    assert set(checks) == {"authorisation", "group_representatives", "duplicate", "agent_voice", "responsibility"}
    assert all(r["result"] == "pass" and r["grounds"] for r in res["reasons"])
    assert "授权委托书原件" in checks["authorisation"]["grounds"]
    # the YAML folds the Chinese grounds over two lines; the joint must not leave a space
    assert "所需材料外，还需提供" in checks["authorisation"]["grounds"]


def test_representative_without_authorisation(ws):
    add_complaint(ws, "A1", customer_id="U2", representative="某某法律咨询 张三", has_authorisation=0, text="代理投诉")
    add_complaint(ws, "A2", customer_id="U3", representative="李四", text="代理投诉",
                  attachments=["docs/授权委托书.pdf"])            # document present, agent identity missing
    add_complaint(ws, "A3", customer_id="U4", representative="王五", text="代理投诉",
                  attachments=["docs/授权委托书.pdf", "docs/王五身份证.jpg"])
    r1, r2, r3 = (check_validity(ws, c) for c in ("A1", "A2", "A3"))
    assert r1["verdict"] == "pending_documents" and "NOT provided" in _by_check(r1)["authorisation"]["detail"]
    assert r2["verdict"] == "pending_documents"
    assert "agent identity not among the attachments" in _by_check(r2)["authorisation"]["detail"]
    assert r3["verdict"] == "valid" and r1["answer_required"]


def test_group_complaint_with_more_than_five_representatives(ws):
    add_complaint(ws, "G1", representative="甲、乙、丙、丁、戊、己", has_authorisation=1, text="集体投诉")
    add_complaint(ws, "G2", representative="甲,乙;丙/丁 戊", has_authorisation=1, text="集体投诉")
    g1 = _by_check(check_validity(ws, "G1"))["group_representatives"]
    g2 = _by_check(check_validity(ws, "G2"))["group_representatives"]
    assert g1["result"] == "flag" and g1["detail"].startswith("6 representative(s)")
    assert g2["result"] == "pass" and "不超过5名" in g2["grounds"]


def test_duplicate_of_an_earlier_complaint_by_the_same_customer(ws):
    text = "你们的催收人员每天打电话给我的家人和同事，还威胁要上门，我要求停止骚扰"
    add_complaint(ws, "D1", customer_id="U9", received_at="2025-03-01T09:00:00", text=text, status="closed")
    add_complaint(ws, "D2", customer_id="U9", received_at="2025-03-20T09:00:00", text=text + "！")
    add_complaint(ws, "D3", customer_id="U8", received_at="2025-03-21T09:00:00", text=text)   # other customer
    add_complaint(ws, "D4", customer_id="U9", received_at="2025-03-22T09:00:00", text="申请提前还款，利息怎么算")
    res = check_validity(ws, "D2")
    assert res["verdict"] == "duplicate" and res["answer_required"]
    assert "complaint D1 of 2025-03-01T09:00:00 (closed)" in _by_check(res)["duplicate"]["detail"]
    assert check_validity(ws, "D3")["verdict"] == "valid"
    assert check_validity(ws, "D4")["verdict"] == "valid"
    assert trigram_similarity("abcdef", "abcdef") == 1.0 and trigram_similarity("abc", "xyz") == 0.0


def test_voice_of_a_known_agent_not_the_customer(ws):
    agent = ws.add_subject("职业代理 赵某", kind="agent")
    customer = ws.add_subject("客户 钱某", kind="customer")
    add_complaint(ws, "P1", customer_id="U5", text="电话投诉")
    add_complaint(ws, "P2", customer_id="U6", text="电话投诉")
    add_match(ws, "P1", "voice", 0.87, "match", subject_id=agent, sample_id=11, space="voice/resemblyzer@1")
    add_match(ws, "P2", "voice", 0.91, "match", subject_id=customer, sample_id=12, space="voice/resemblyzer@1")
    res = check_validity(ws, "P1")
    assert res["verdict"] == "proxy_suspected" and res["answer_required"]
    assert "职业代理 赵某" in _by_check(res)["agent_voice"]["detail"] and "0.870" in _by_check(res)["agent_voice"]["detail"]
    assert check_validity(ws, "P2")["verdict"] == "valid"


def test_responsibility_rules(ws):
    add_complaint(ws, "R1", business_line="助贷", merchant="某商城", text="商品质量问题")
    add_complaint(ws, "R2", category="催收", merchant="某某资产管理有限公司", text="暴力催收")
    add_complaint(ws, "R3", business_line="非本机构业务", institution="某银行", text="不是我们的贷款")
    assert check_validity(ws, "R1")["responsibility"] == "partner_merchant"
    assert check_validity(ws, "R2")["responsibility"] == "collection_agency"
    r3 = check_validity(ws, "R3")
    assert (r3["responsibility"], r3["verdict"], r3["answer_required"]) == ("outside_remit", "outside_remit", True)
    # scene instalments as the synthetic batches name them: the partner merchant is asked to help
    add_complaint(ws, "R4", business_line="教育分期", merchant="青桔教育", text="培训机构跑路，课程没上完还要还款")
    add_complaint(ws, "R5", business_line="教育分期", merchant="", text="分期利息太高")
    assert check_validity(ws, "R4")["responsibility"] == "partner_merchant"
    assert check_validity(ws, "R5")["responsibility"] == "ours"


def test_verdict_is_stored_and_logged_and_cli(ws):
    add_complaint(ws, "C1", representative="张三", has_authorisation=0, text="x")
    r = subprocess.run([sys.executable, "-m", "xiaobao.cli", "--home", str(ws.home), "validity", "check", "C1", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["verdict"] == "pending_documents"
    assert latest_validity(ws, "C1")["verdict"] == "pending_documents"
    assert ws.events("complaint.validity")[-1]["detail"]["flags"] == ["authorisation"]
    r = subprocess.run([sys.executable, "-m", "xiaobao.cli", "--home", str(ws.home), "validity", "check", "NOPE"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no complaint with id 'NOPE'" in r.stderr


def test_template_match_to_the_same_customers_earlier_complaint_is_a_duplicate(ws):
    add_complaint(ws, "T1", customer_id="U7", received_at="2025-02-01T09:00:00", text="模板甲：要求全额退息")
    add_complaint(ws, "T2", customer_id="U7", received_at="2025-02-09T09:00:00", text="完全不同的措辞但同一模板")
    add_match(ws, "T2", "template", 0.97, "match", other_complaint_id="T1")
    res = check_validity(ws, "T2")
    assert res["verdict"] == "duplicate" and "complaint T1" in _by_check(res)["duplicate"]["detail"]
