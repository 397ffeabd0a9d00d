"""Routing rules: first match wins, decisions stored with their rule, category classifier, bad rules."""
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from complaint_handling_helpers import add_complaint, add_match, workspace
from xiaobao.complaints_engine import routing
from xiaobao.complaints_engine.classify import classify
from xiaobao.errors import InputError

RULES = """
default: {queue: general, team: 客服中心, priority: P3}
rules:
  - name: regulator-high
    when: 'channel in ["12378", "监管转办"] and risk_tier == "high"'
    queue: special
    priority: P1
    add_tags: [监管投诉]
  - name: regulator
    when: 'channel in ["12378", "监管转办"]'
    queue: regulator
    priority: P1
  - name: voice-hit
    when: '"voice" in match_kinds'
    queue: proxy-review
  - name: risky
    when: 'risk_score > 0.8'
    queue: risky
  - name: collection
    when: 'category == "催收"'
    queue: collection
  - name: merchant
    when: 'merchant == "某商城"'
    queue: partner
"""


@pytest.fixture
def ws(tmp_path):
    w = workspace(tmp_path / "ws")
    yield w
    w.close()


@pytest.fixture
def rules_file(tmp_path):
    p = tmp_path / "rules.yaml"
    p.write_text(RULES, encoding="utf-8")
    return p


def test_first_match_wins_and_each_decision_is_stored_with_its_rule(ws, rules_file):
    add_complaint(ws, "A", channel="12378", risk_tier="high", text="暴力催收")  # rules 1 and 2 and 5 match
    add_complaint(ws, "B", channel="12378", risk_tier="low", text="暴力催收")
    add_complaint(ws, "C", channel="app", text="客服说会打给我家人，暴力催收")
    add_complaint(ws, "D", channel="app", text="请问一下", merchant="某商城")
    add_complaint(ws, "E", channel="app", text="请问一下")
    add_match(ws, "E", "voice", 0.91, "match", subject_id=1, sample_id=1, space="voice/resemblyzer@1")
    report = routing.route_pending(ws, rules_file)
    got = {d.complaint_id: (d.rule, d.queue) for d in report.decisions}
    assert got == {"A": ("regulator-high", "special"), "B": ("regulator", "regulator"),
                   "C": ("collection", "collection"), "D": ("merchant", "partner"), "E": ("voice-hit", "proxy-review")}
    stored = {r["complaint_id"]: r for r in ws.db.query("SELECT * FROM routes")}
    assert stored["A"]["rule_index"] == 1 and "risk_tier" in stored["A"]["rule_expr"]
    assert len(stored["A"]["rules_sha256"]) == 64 and stored["A"]["rules_file"] == str(rules_file)
    tags = [r["tag"] for r in ws.db.query("SELECT tag FROM complaint_tags WHERE complaint_id='A' AND source='rule:regulator-high'")]
    assert tags == ["监管投诉"]
    assert len(ws.events("complaint.routed")) == 5
    # risk_score is null on every complaint: the 'risky' rule cannot be evaluated and simply does not match
    assert report.rule_errors.get("risky", 0) >= 1
    # routed complaints are not routed again; cases were opened for the SLA clock
    assert routing.route_pending(ws, rules_file).decisions == []
    assert ws.db["cases"].count == 5


def test_category_comes_from_text_when_missing(ws, rules_file):
    add_complaint(ws, "X", text="你们的利息太高了，年化超过36%，还收罚息")
    add_complaint(ws, "Y", text="随便写点", category="征信", category_confidence=0.7)
    report = routing.route_pending(ws, rules_file, dry_run=True)
    by = {d.complaint_id: d for d in report.decisions}
    assert by["X"].category == "利息费用" and by["X"].category_source == "classifier"
    assert 0.5 < by["X"].category_confidence < 1 and "年化" in by["X"].category_terms
    assert (by["Y"].category, by["Y"].category_confidence, by["Y"].category_source) == ("征信", 0.7, "given")
    assert ws.db["routes"].count == 0  # dry run stores nothing


@pytest.mark.parametrize("text,category", [
    ("催收人员每天爆我通讯录，威胁联系我家人", "催收"),
    ("天天接到营销电话推销贷款，未经同意", "电销"),
    ("借款时被搭售会员费和加速包", "信息费"),
    ("综合年化利率超过24%，手续费太高", "利息费用"),
    ("我的征信报告上有不良记录，要求修复", "征信"),
    ("银行卡被重复扣款，提前还款也不给结清证明", "还款"),
    ("客服态度恶劣，敷衍推诿", "服务态度"),
    ("我想问一下门店地址", "其他"),
])
def test_classifier_categories(text, category):
    c = classify(text)
    assert c.category == category
    assert (c.confidence == 0.0) == (category == "其他")


def test_classifier_reads_traditional_chinese():
    assert classify("暴力催收，騷擾我的家人").category == "催收"
    assert classify("徵信報告有逾期記錄").category == "征信"


def test_indexed_decision_equals_naive_loop(tmp_path):
    rules = ["default: {queue: d}", "rules:"]
    rnd = random.Random(7)
    channels = ["12378", "app", "hotline", "黑猫投诉"]
    cats = ["催收", "电销", "征信", "其他"]
    ch, cat, lv = (lambda: rnd.choice(channels)), (lambda: rnd.choice(cats)), (lambda: f"L{rnd.randint(1, 3)}")
    tag = lambda: f"t{rnd.randint(0, 5)}"
    shapes = [
        lambda: f'channel == "{ch()}" and category == "{cat()}"',
        lambda: f'category in ["{cat()}", "{cat()}"] and level == "L{rnd.randint(1, 3)}"',
        lambda: f'"{tag()}" in tags or merchant == "m{rnd.randint(0, 5)}"',
        lambda: f'level == "{lv()}" and risk_score > {rnd.random():.2f}',
        lambda: f'"{tag()}" in tags and "{tag()}" in tags and channel != "{ch()}"',
        lambda: f'(channel == "{ch()}" or category == "{cat()}") and ("{tag()}" in tags or level == "{lv()}")',
        lambda: f'not (channel == "{ch()}") and "催" in text',
        lambda: f'"{ch()}" == channel and (merchant == null or risk_score < 0.3)',
        lambda: f'(level == "{lv()}" and "{tag()}" in tags) or (channel in ["{ch()}", "{ch()}"] and category == "{cat()}")',
    ]
    for i in range(90):
        rules.append(f"  - {{name: r{i}, queue: q{i}, when: '{shapes[i % len(shapes)]()}'}}")
    p = tmp_path / "r.yaml"
    p.write_text("\n".join(rules), encoding="utf-8")
    rs = routing.load_rules(p)
    assert rs._index and len(rs._owner) > len(rs.rules)  # or-alternatives became extra clauses
    hits = set()
    for _ in range(3000):
        ctx = routing.complaint_context(
            {"id": "x", "channel": rnd.choice(channels + [None]), "level": rnd.choice(["L1", "L2", "L3", "L4", None]),
             "merchant": rnd.choice([f"m{rnd.randint(0, 9)}", None]), "text": rnd.choice(["暴力催收", "你好", ""]),
             "risk_score": rnd.choice([None, rnd.random()])},
            tags=rnd.sample([f"t{k}" for k in range(9)], rnd.randint(0, 3)), category=rnd.choice(cats + [None]))
        fast, naive = rs.decide(ctx).name, rs.decide_naive(ctx).name
        assert fast == naive, ctx
        hits.add(fast)
    assert len(hits) > 30  # many different rules won, not just the default


@pytest.mark.parametrize("body,expected", [
    ("- {name: a, queue: q, when: 'chanel == \"app\"'}", "rule 1 'a': unknown field 'chanel' (did you mean 'channel'?)"),
    ("- {name: a, queue: q, when: 'channel == '}", "rule 1 'a': syntax error in 'when'"),
    ("- {name: a, queue: q, when: 'channel > 3'}", "rule 1 'a': type error in 'when'"),
    ("- {name: a, when: 'true'}", "rule 1 'a': missing 'queue'"),
    ("- {name: a, queue: q, when: 'true'}\n- {name: a, queue: q, when: 'true'}", "rule 2 'a': name already used by rule 1"),
    ("- {name: a, queue: q, when: 'true'}\n- {name: b, queue: q, when: 'level == \"x\"'}",
     "rule 2 'b': can never match, rule 1 before it matches everything"),
    ("- {name: a, queue: q, when: 'true', priority: P9}", "rule 1 'a': priority 'P9' is not one of"),
    ("- {name: a, queue: q, when: 'true', add_tags: [no-such-tag]}", "rule 1 'a': add_tags 'no-such-tag'"),
    ("- {name: a, queue: q, when: 'true', colour: red}", "rule 1 'a': unknown key(s) colour"),
])
def test_rules_check_names_the_bad_rule_and_why(tmp_path, body, expected):
    p = tmp_path / "bad.yaml"
    p.write_text("default: {queue: d}\nrules:\n" + "\n".join("  " + line for line in body.splitlines()), encoding="utf-8")
    problems, rs = routing.check_rules(p)
    assert rs is None and any(expected in pr for pr in problems), problems
    with pytest.raises(InputError, match=str(p.name)):
        routing.load_rules(p)


def test_unknown_top_level_key(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("default: {queue: d}\nrules: []\nrule: []\n", encoding="utf-8")
    assert routing.check_rules(p)[0] == ["unknown top-level key(s) rule (allowed: default, priorities, rules)"]


def test_shipped_rules_file_is_valid():
    problems, rs = routing.check_rules(routing.DEFAULT_RULES_FILE)
    assert problems == [] and len(rs.rules) >= 5


def _cli(*args, home=None):
    cmd = [sys.executable, "-m", "xiaobao.cli", *(["--home", str(home)] if home else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_cli_rules_check_and_route(tmp_path, ws, rules_file):
    bad = tmp_path / "bad.yaml"
    bad.write_text("default: {queue: d}\nrules:\n  - {name: oops, queue: q, when: 'chanel == \"x\"'}\n", encoding="utf-8")
    r = _cli("rules", "check", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "rule 1 'oops': unknown field 'chanel'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _cli("rules", "check", str(rules_file))
    assert r.returncode == 0 and "6 rules OK" in r.stdout
    add_complaint(ws, "K", channel="监管转办", text="征信问题")
    r = _cli("route", "--rules", str(rules_file), "--dry-run", "--json", home=ws.home)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["dry_run"] and out["decisions"][0]["rule"] == "regulator"
    r = _cli("route", "--rules", str(rules_file), "--json", home=ws.home)
    assert json.loads(r.stdout)["routed"] == 1 and ws.db["routes"].count == 1


def test_a_complaint_without_receipt_time_is_routed_and_reported_not_fatal(ws, rules_file):
    add_complaint(ws, "OK1", text="征信")
    add_complaint(ws, "BAD", received_at=None, text="征信")
    add_complaint(ws, "BAD2", received_at="yesterday", text="征信")
    report = routing.route_pending(ws, rules_file)
    assert len(report.decisions) == 3 and report.cases_opened == 1
    assert any("complaint BAD: no SLA case opened: no received_at" in p for p in report.problems)
    assert any("complaint BAD2" in p and "not an ISO date" in p for p in report.problems)


def test_a_rule_can_name_the_sla_policy_of_its_cases(ws, tmp_path):
    """`sla:` on a rule picks the deadline policy (CFPB complaints arrive over 'web', which no channel list
    maps to the CFPB-style policy); without it the policy is chosen by channel; an unknown name is reported."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("""
default: {queue: general}
rules:
  - name: us-regulator
    when: 'institution == "Acme Bank, N.A."'
    queue: us-desk
    sla: cfpb-style
  - name: typo
    when: 'institution == "Typo Bank"'
    queue: us-desk
    sla: cfpb-styel
""", encoding="utf-8")
    add_complaint(ws, "US1", channel="web", institution="Acme Bank, N.A.", text="Late fee charged twice")
    add_complaint(ws, "CN1", channel="web", institution="小宝消费金融", text="乱收费")
    add_complaint(ws, "T1", channel="web", institution="Typo Bank", text="Late fee")
    report = routing.route_pending(ws, rules)
    policies = {r["complaint_id"]: r["policy"] for r in ws.db.query("SELECT complaint_id, policy FROM cases")}
    assert policies == {"US1": "cfpb-style", "CN1": "internal"}
    assert [d.sla_policy for d in report.decisions if d.complaint_id == "US1"] == ["cfpb-style"]
    assert any(p.startswith("complaint T1: no SLA case opened: its routing rule names SLA policy 'cfpb-styel'")
               for p in report.problems), report.problems
    bad = tmp_path / "bad.yaml"
    bad.write_text("default: {queue: g}\nrules:\n  - {name: r, when: 'true', queue: q, sla: 3}\n", encoding="utf-8")
    problems, _ = routing.check_rules(bad)
    assert problems == ["rule 1 'r': sla must be the name of a policy in the SLA file"], problems
