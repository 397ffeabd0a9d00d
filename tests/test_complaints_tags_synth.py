"""Tag vocabulary and rules; the synthetic generator (determinism, planted truth, formats)."""
import json

import pytest

from xiaobao import Workspace
from xiaobao.complaints_engine import store
from xiaobao.complaints_engine.ingest import ingest
from xiaobao.complaints_engine.synth import generate, synth_complaints
from xiaobao.complaints_engine.tags import apply_rules, check_tags, load_vocabulary
from xiaobao.errors import InputError, UserError


def test_vocabulary_and_rules():
    vocab = load_vocabulary()
    for tag in ("疑似代理投诉", "代理团伙关联", "重复投诉", "越级投诉风险", "监管投诉", "高风险客户"):
        assert tag in vocab.tags
    with pytest.raises(UserError, match="unknown tag"):
        check_tags(["没有这个标签"])
    facts = dict(channel="12378", risk_tier="high", in_ring=True, watchlist_hit=False, customer_complaints=2,
                 representative="张三", has_authorisation=0, n_phrases=0, risk_score=0.9)
    hits = {(t, target) for t, target, _rule in apply_rules(facts)}
    assert {("疑似代理投诉", "complaint"), ("代理团伙关联", "complaint"), ("监管投诉", "complaint"),
            ("重复投诉", "complaint"), ("无授权代理", "complaint"), ("高风险客户", "customer")} <= hits
    quiet = dict(facts, channel="app", risk_tier="low", in_ring=False, customer_complaints=1, representative=None)
    assert {t for t, _x, _r in apply_rules(quiet)} == set()


def test_bad_rule_file_names_the_rule(tmp_path):
    p = tmp_path / "tags.yaml"
    p.write_text("tags:\n  - name: 甲\nrules:\n  - name: r1\n    when: \"channel ==\"\n    tag: 甲\n", encoding="utf-8")
    with pytest.raises(InputError, match="r1"):
        load_vocabulary(str(p))
    p.write_text("tags:\n  - name: 甲\nrules:\n  - name: r2\n    when: \"true\"\n    tag: 乙\n", encoding="utf-8")
    with pytest.raises(InputError, match="undeclared tag"):
        load_vocabulary(str(p))


def test_manual_tags_per_complaint_and_customer(tmp_path):
    ws = Workspace(tmp_path / "ws")
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps({"id": "A", "customer_id": "C1", "text": "投诉"}, ensure_ascii=False) + "\n",
                 encoding="utf-8")
    ingest(ws, [f])
    assert store.add_tags(ws, ["人工复核"], complaint_id="A", customer_id="C1") == 2
    assert store.add_tags(ws, ["人工复核"], complaint_id="A") == 0  # idempotent
    assert [c["id"] for c in store.list_complaints(ws, tag="人工复核")] == ["A"]
    assert [r["customer_id"] for r in store.customers_with_tag(ws, "人工复核")] == ["C1"]
    assert store.tag_counts(ws)["人工复核"] == {"complaints": 1, "customers": 1}
    assert store.remove_tags(ws, ["人工复核"], complaint_id="A") == 1
    assert store.list_complaints(ws, tag="人工复核") == []
    assert any(e["what"] == "tags.add" for e in ws.events())
    ws.close()


def test_synth_is_deterministic_with_planted_truth(tmp_path):
    a, ta = generate(600, 5, seed=4)
    b, tb = generate(600, 5, seed=4)
    assert a == b and ta == tb
    assert generate(600, 5, seed=5)[0] != a
    ring_ids = [c for r in ta["rings"] for c in r["complaints"]]
    assert len(ring_ids) == len(set(ring_ids)) == 90 and len(ta["genuine"]) == 510
    assert len({r["firm"] for r in ta["rings"]}) == 5
    by_id = {r["id"]: r for r in a}
    for ring in ta["rings"]:
        assert len({by_id[c]["customer_id"] for c in ring["complaints"]}) >= 3
    topics = ("催收", "利息", "会员费", "征信", "推销")
    assert all(any(t in by_id[c]["text"] for c in ta["genuine"]) for t in topics)
    with pytest.raises(UserError):
        generate(10, 1, ring_share=2.0)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".jsonl"])
def test_synth_files_ingest_cleanly(tmp_path, suffix):
    out = tmp_path / f"s{suffix}"
    summary = synth_complaints(out, n=60, rings=2, seed=1)
    assert summary["complaints"] == 60 and (tmp_path / f"s{suffix}.truth.json").exists()
    ws = Workspace(tmp_path / "ws")
    r = ingest(ws, [out])
    assert (r.added, r.bad) == (60, [])
    truth = json.loads((tmp_path / f"s{suffix}.truth.json").read_text(encoding="utf-8"))
    c = store.get_complaint(ws, truth["rings"][0]["complaints"][0])
    assert c["customer_id"] in truth["rings"][0]["customers"] and c["text"]
    ws.close()


def test_synth_voice_clips_are_real_audio(tmp_path):
    import soundfile as sf

    out = tmp_path / "v.jsonl"
    summary = synth_complaints(out, n=40, rings=2, seed=2, voices=True)
    assert summary["voice_clips"] >= 2
    truth = json.loads((tmp_path / "v.jsonl.truth.json").read_text(encoding="utf-8"))
    ws = Workspace(tmp_path / "ws")
    ingest(ws, [out])
    with_audio = [c for c in store.list_complaints(ws, limit=None) if c["attachments"]]
    assert len(with_audio) == summary["voice_clips"] == len(truth["voice_clips"])
    audio, rate = sf.read(with_audio[0]["attachments"][0])
    assert rate > 0 and len(audio) / rate > 1.0  # a real spoken sentence, over a second long
    ws.close()
