"""Service-quality inspection: planted misconduct found with quotes and times, allowed look-alikes not
flagged, scores per agent/team/period, rule files checked, re-runs replace findings."""
import json
from datetime import datetime, timedelta

import pytest

from xiaobao import Workspace
from xiaobao.errors import InputError
from xiaobao.insight.ingest import ingest_interactions
from xiaobao.insight.quality import Inspector, list_findings, quality_report, run_quality
from xiaobao.insight.rules import load_rules
from xiaobao.insight.synth import SynthParams, synth_interactions


@pytest.fixture(scope="module")
def inspected(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality")
    synth = synth_interactions(root / "calls.jsonl", SynthParams(n_interactions=6000, seed=11, customers_per_agent=25))
    ws = Workspace(root / "ws")
    ingest_interactions(ws, synth.interactions)
    report = run_quality(ws)
    truth = json.loads(open(synth.truth, encoding="utf-8").read())
    yield ws, report, truth
    ws.close()


def _flagged(ws, rule):
    return {r[0] for r in ws.db.conn.execute(
        "SELECT i.source_id FROM quality_findings f JOIN interactions i ON i.id = f.interaction_id WHERE f.rule = ?",
        (rule,))}


@pytest.mark.parametrize("rule", ["threat", "insult", "third_party", "false_legal", "forbidden_hours",
                                  "contact_frequency", "disclosure"])
def test_planted_misconduct_found_and_lookalikes_left_alone(inspected, rule):
    ws, report, truth = inspected
    planted = {k for k, v in truth["planted"].items() if rule in v}
    flagged = _flagged(ws, rule)
    assert planted, f"the generator planted no {rule}"
    # a tenth of the planted language is novel wording no lexical check can find (see synth.py)
    floor = 0.75 if rule in ("threat", "insult", "third_party", "false_legal") else 0.99
    assert len(planted & flagged) / len(planted) >= floor
    assert len(planted & flagged) / len(flagged) >= 0.95


def test_findings_quote_the_passage_with_its_time(inspected):
    ws, _, _ = inspected
    rows = list_findings(ws, rule="threat", limit=None)
    assert rows and {r["method"] for r in rows} == {"phrase", "similarity"}   # paraphrases found by similarity
    for r in rows[:20]:
        text, at = ws.db.conn.execute("SELECT text, at FROM interactions WHERE id = ?", (r["interaction_id"],)).fetchone()
        line = next(l for l in text.split("\n") if r["quote"] in l)
        assert line.startswith(f"[{r['offset']}] 坐席")                      # the agent said it, at that offset
        assert r["quote_time"] == (datetime.fromisoformat(at) + timedelta(seconds=r["offset_s"])).isoformat()


def test_scores_rank_the_misbehaving_agents_last(inspected):
    ws, _, truth = inspected
    rows = quality_report(ws, by="agent")
    bad = set(truth["bad_agents"])
    worst = [r["agent"] for r in rows[:len(bad)]]
    assert set(worst) == bad
    assert all(0 <= r["score"] <= 100 for r in rows)
    total = ws.db.conn.execute("SELECT COUNT(*) FROM interactions").fetchone()[0]
    for by in ("team", "period"):
        assert sum(r["interactions"] for r in quality_report(ws, by=by)) == total
    weeks = quality_report(ws, by="period", period="week")
    assert weeks[0]["period"].startswith("2026-W")


def test_rerun_over_a_range_replaces_its_findings(inspected):
    ws, report, _ = inspected
    march = ws.db.conn.execute("SELECT COUNT(*) FROM quality_findings WHERE at >= '2026-03-01' AND at < '2026-04-01'"
                               ).fetchone()[0]
    again = run_quality(ws, date_from="2026-03-01", date_to="2026-03-31")
    assert again.findings == march
    assert ws.db.conn.execute("SELECT COUNT(*) FROM quality_findings").fetchone()[0] == report.findings


def test_custom_rule_file_traditional_spelling_and_exclusions(tmp_path):
    f = tmp_path / "rules.yaml"
    f.write_text("""
rules:
  - name: shaming
    kind: phrases
    category: 曝光
    severity: high
    penalty: 50
    phrases: [告诉你的家人]
    exclude: [不会告诉你的家人]
  - name: late
    kind: hours
    allowed: "09:00-20:00"
""", encoding="utf-8")
    insp = Inspector(load_rules(f))
    recs = [{"id": i, "at": at, "channel": "call", "direction": "outbound", "agent_id": "A", "team": "T",
             "customer_id": "C", "text": text} for i, (at, text) in enumerate([
                 ("2026-01-01T10:00:00", "[00:03] 坐席：我會告訴你的家人"),          # traditional spelling
                 ("2026-01-01T10:00:00", "[00:03] 坐席：我们不会告诉你的家人"),      # allowed
                 ("2026-01-01T20:30:00", "[00:03] 客户：告诉你的家人又怎样")])]      # customer's words, late call
    found = sorted(insp.inspect(recs), key=lambda f: f.interaction_id)
    assert [(f.interaction_id, f.rule) for f in found] == [(0, "shaming"), (2, "late")]
    assert found[0].quote == "我會告訴你的家人" and found[0].offset_s == 3


@pytest.mark.parametrize("body, needle", [
    ("rules: []", "no 'rules:' list"),
    ("rules:\n  - name: a\n    kind: magic", "rule 'a': kind must be"),
    ("rules:\n  - name: a\n    kind: hours\n    allowed: '8-21'", "allowed must look like"),
    ("rules:\n  - name: a\n    kind: phrases\n    phrases: [x]\n    similarity: 2", "similarity must be"),
    ("rules:\n  - name: a\n    kind: frequency\n    max_per_day: 0", "max_per_day"),
    ("rules: [", "rule file is not valid YAML"),
])
def test_bad_rule_files_name_the_rule(tmp_path, body, needle):
    f = tmp_path / "r.yaml"
    f.write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=needle):
        load_rules(f)


@pytest.mark.slow
def test_semantic_stage_with_a_sentence_model_catches_paraphrases(tmp_path):
    # English rules with the packaged all-MiniLM-L6-v2 (it is English-only): paraphrases sharing
    # few characters with the example pass the bigram screen and are confirmed by cosine.
    f = tmp_path / "rules.yaml"
    f.write_text("""
rules:
  - name: employer
    kind: phrases
    phrases: [tell your employer]
    examples: [we will tell your employer that you owe us money]
    similarity: 0.9
    semantic: 0.62
    semantic_screen: 0.2
  - name: arrest
    kind: phrases
    phrases: [arrest you]
    examples: [we will have you arrested by the police]
    similarity: 0.9
    semantic: 0.62
    semantic_screen: 0.2
""", encoding="utf-8")
    lines = ["I am going to call your boss and tell him about your debt.",
             "The cops will come and put you in jail tonight.",
             "Please pay your balance by Friday.",
             "We never contact your employer about your account.",
             "Thank you for your time, goodbye."]
    recs = [{"id": i, "at": "2026-01-01T10:00:00", "channel": "call", "direction": "outbound", "agent_id": "A",
             "team": "T", "customer_id": "C", "text": f"[00:0{i}] agent: {t}"} for i, t in enumerate(lines)]
    found = Inspector(load_rules(f)).inspect(recs)
    assert sorted((x.interaction_id, x.rule, x.method) for x in found) == [(0, "employer", "semantic"),
                                                                          (1, "arrest", "semantic")]
    assert all(0.62 <= x.score <= 1 for x in found)
