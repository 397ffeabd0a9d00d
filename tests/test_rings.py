"""Ring discovery (planted rings, hubs, same-topic genuine letters) and promotion to an agent."""
import json
import subprocess
import sys

import pytest

import xiaobao
from xiaobao import Workspace
from xiaobao.complaints_engine import store
from xiaobao.complaints_engine.ring_eval import evaluate_rings
from xiaobao.complaints_engine.rings import list_rings, promote, show_ring
from xiaobao.complaints_engine.synth import generate, synth_complaints, write_records
from xiaobao.errors import UserError


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path / "ws")
    yield w
    w.close()


def _rec(i, customer, text, **kw):
    return {"id": f"T{i:03d}", "received_at": f"2026-10-{1 + i % 28:02d}T10:00:00", "channel": "12378",
            "customer_id": customer, "text": text, **kw}


def test_planted_rings_found_and_same_topic_genuine_not_merged(ws, tmp_path):
    out = tmp_path / "b.csv"  # CSV with Chinese headers: also exercises the header mapping
    synth_complaints(out, n=1500, rings=8, seed=13)
    truth = json.loads((tmp_path / "b.csv.truth.json").read_text(encoding="utf-8"))
    assert xiaobao.ingest(ws, out).added == 1500
    xiaobao.screen(ws)
    score = evaluate_rings(ws, truth)
    assert score["precision"] >= 0.95 and score["recall"] >= 0.90, score
    assert score["genuine_in_rings"] == 0, score
    rings = list_rings(ws)
    assert len(rings) == score["discovered_rings"] and all(r["n_customers"] >= 3 for r in rings)
    # Ids are stable: screening again (new complaints or none) keeps the same rings.
    before = {r["id"]: r["n_complaints"] for r in rings}
    xiaobao.screen(ws)
    assert {r["id"]: r["n_complaints"] for r in list_rings(ws)} == before


def test_hub_numbers_and_topics_do_not_make_rings(ws, tmp_path):
    genuine = [
        "我打过客服热线400-820-6688，催收电话一天打十几个，骚扰我的家人，请规范催收。",
        "利息太高了，我算了一下年化超过36%，拨打400-820-6688没人接，我也打了12378反映。",
        "被强制收取会员费299元，客服400-820-6688说会处理但没有下文，要求退款。",
        "征信上有逾期记录但我按时还款了，已经在12378登记过，客服电话400-820-6688。",
        "每天接到推销电话，我已经注销账户了，请停止营销，已向12378投诉，400-820-6688也打过。",
    ]
    recs = [_rec(i, f"G{i}", t) for i, t in enumerate(genuine)]
    ring_text = ("本人{n}在贵司借款，贵司违规收取砍头息，综合年化成本超过36%，要求停息挂账并退还全部利息，"
                 "并消除征信不良记录。根据《消费者权益保护法》及监管部门相关规定，贵司应当依法处理，"
                 "如贵司在三个工作日内不予解决，本人将向银保监会、人民银行及12378进一步投诉并保留诉讼权利。")
    recs += [_rec(10 + i, f"P{i}", ring_text.format(n=n) + ("联系电话13912345678。" if i < 2 else "微信fawu_778899。"))
             for i, n in enumerate(["王强", "李娜", "赵敏"])]
    recs.append(_rec(20, "P0", "还是我，本人的事情请联系13912345678。"))  # same customer again: no new person
    path = tmp_path / "h.jsonl"
    write_records(recs, path)
    xiaobao.ingest(ws, path)
    report = xiaobao.screen(ws)
    rings = list_rings(ws)
    assert len(rings) == 1, rings
    ring = show_ring(ws, rings[0]["id"])
    assert {m["complaint_id"] for m in ring["members"]} == {"T010", "T011", "T012", "T020"}
    assert ring["n_customers"] == 3
    assert {e["kind"] for e in ring["edges"]} >= {"template", "artifact"}
    assert any(h["value"] == "400-820-6688" for h in report.hubs)
    for i in range(5):
        c = store.get_complaint(ws, f"T{i:03d}")
        assert c["risk_tier"] == "low" and not c["rings"], c["reasons"]


def test_promoted_ring_is_caught_directly_next_time(ws, tmp_path):
    records, truth = generate(400, 3, seed=17)
    path = tmp_path / "day1.jsonl"
    write_records(records, path)
    xiaobao.ingest(ws, path)
    xiaobao.screen(ws)
    planted = max(truth["rings"], key=lambda r: len(r["complaints"]))
    rid = next(r for r in list_rings(ws) if planted["complaints"][0] in
               {m["complaint_id"] for m in show_ring(ws, r["id"])["members"]})["id"]
    out = promote(ws, f"R-{rid}", name="和顺法务")
    sid = out["subject_id"]
    subject = ws.get_subject(sid)
    assert subject["kind"] == "agent" and subject["name"] == "和顺法务"
    text_spaces = [s for s in out["enrolled"] if s.startswith("text/")]
    assert text_spaces and out["enrolled"][text_spaces[0]] >= 3
    assert out["enrolled"]["watch_artifacts"] >= 1 and out["enrolled"]["watch_templates"] >= 1
    with pytest.raises(UserError, match="already promoted"):
        promote(ws, rid, name="again")
    assert show_ring(ws, rid)["status"] == "promoted"

    # Day 2: one new letter from the ring's template (a new customer), one plain letter carrying
    # only the ring's WeChat id. Neither has a second new complaint to link to.
    member_text = store.get_complaint(ws, planted["complaints"][0])["text"]
    day2 = [_rec(1, "NEW1", member_text.replace("贵司", "你们公司", 1)),
            _rec(2, "NEW2", f"我想问一下利息的问题，有人让我加微信{planted['wechat']}，说能帮忙。"),
            _rec(3, "NEW3", "催收电话太多了，请处理。")]
    p2 = tmp_path / "day2.jsonl"
    write_records(day2, p2)
    xiaobao.ingest(ws, p2)
    assert xiaobao.screen(ws).screened == 3
    t1, t2, t3 = (store.get_complaint(ws, f"T{i:03d}") for i in (1, 2, 3))
    assert any(r["kind"] == "watchlist_template" and f"S-{sid}" in r["text"] for r in t1["reasons"]), t1["reasons"]
    assert t1["risk_tier"] == "high" and "黑名单命中" in t1["tags"]
    assert any(r["kind"] == "watchlist_artifact" and f"S-{sid}" in r["text"] for r in t2["reasons"]), t2["reasons"]
    assert t2["risk_tier"] == "high"
    assert t3["risk_tier"] == "low" and "黑名单命中" not in t3["tags"]
    assert any(m["subject_id"] == sid for m in t1["matches"])


def test_rings_cli_json_and_errors(tmp_path):
    home = tmp_path / "ws"
    out = tmp_path / "b.jsonl"
    run = lambda *a: subprocess.run([sys.executable, "-m", "xiaobao.cli", "--home", str(home), *a],  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    assert run("synth", "complaints", "--n", "200", "--rings", "2", "--seed", "3", str(out)).returncode == 0
    assert run("complaints", "ingest", str(out)).returncode == 0
    assert run("screen").returncode == 0
    rings = json.loads(run("rings", "list", "--json").stdout)
    assert len(rings) == 2
    shown = json.loads(run("rings", "show", rings[0]["ring"], "--json").stdout)
    assert shown["members"] and shown["evidence"]["artifacts"]
    bad = run("rings", "show", "R-999")
    assert bad.returncode == 2 and "R-999" in bad.stderr and "Traceback" not in bad.stderr
    tags = json.loads(run("tags", "list", "--json").stdout)
    assert next(t for t in tags if t["tag"] == "代理团伙关联")["complaints"] >= 8
    listed = json.loads(run("complaints", "list", "--tag", "代理团伙关联", "--json", "--limit", "500").stdout)
    assert len(listed) == sum(r["n_complaints"] for r in rings)
    unknown = run("tags", "add", "不存在的标签", "--complaint", listed[0]["id"])
    assert unknown.returncode == 2 and "unknown tag" in unknown.stderr
