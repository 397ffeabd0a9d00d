"""One agent across text and face: complaints linked by the same face in their attachments
form a ring; promoting it enrols the face, and the next photo of that person is caught."""
import pytest

import xiaobao
from xiaobao import Workspace
from xiaobao.complaints_engine import store
from xiaobao.complaints_engine.rings import list_rings, promote, show_ring
from xiaobao.complaints_engine.synth import write_records

from face_video_helpers import astronaut, canvas, grace, paste, save_rgb

LETTERS = [
    "借款时被强制收取会员费299元，页面默认勾选，要求退还。",
    "催收人员晚上十一点还在打电话，骚扰我的家人，请规范催收行为。",
    "结清后征信一直没有更新，影响了我的房贷审批，请尽快更正。",
    "同一期被重复扣款两次，至今没有退回，请把多扣的钱退回原卡。",
    "电销人员一直劝我再借一笔，我已经明确拒绝了，请停止推销。",
]


def _photo(tmp_path, name, face, height, shade, x=30):
    frame = canvas(360, 420, shade=shade)
    paste(frame, face, x, 20, height)
    return str(save_rgb(tmp_path / name, frame))


@pytest.mark.slow
def test_same_face_links_customers_and_promoted_face_is_caught(tmp_path):
    # The same "representative" shows up on camera for three different customers.
    recs = [{"id": f"M{i}", "received_at": f"2026-10-0{i + 1}T09:00:00", "channel": "监管转办",
             "customer_id": f"CU{i}", "text": LETTERS[i],
             "attachments": _photo(tmp_path, f"m{i}.png", grace(), 330 - 25 * i, 90 + 10 * i)}
            for i in range(3)]
    recs.append({"id": "G1", "received_at": "2026-10-05T09:00:00", "channel": "app", "customer_id": "CU9",
                 "text": LETTERS[3], "attachments": _photo(tmp_path, "g1.png", astronaut(), 320, 100)})
    path = tmp_path / "day1.jsonl"
    write_records(recs, path)
    with Workspace(tmp_path / "ws") as ws:
        assert xiaobao.ingest(ws, path).added == 4
        report = xiaobao.screen(ws)
        assert report.attachments == 4
        rings = list_rings(ws)
        assert len(rings) == 1, rings
        ring = show_ring(ws, rings[0]["id"])
        assert {m["complaint_id"] for m in ring["members"]} == {"M0", "M1", "M2"}
        assert {e["kind"] for e in ring["edges"]} == {"face"}
        m0 = store.get_complaint(ws, "M0")
        assert any(r["kind"] == "same_face" for r in m0["reasons"]), m0["reasons"]
        assert "代理团伙关联" in m0["tags"]
        assert store.get_complaint(ws, "G1")["risk_tier"] == "low"

        out = promote(ws, rings[0]["id"], name="镜头代理人")
        assert out["enrolled"].get("face/dlib-resnet@1", 0) >= 1, out["skipped"]

        p2 = tmp_path / "day2.jsonl"
        write_records([{"id": "N1", "received_at": "2026-10-09T09:00:00", "channel": "12378", "customer_id": "CU7",
                        "text": LETTERS[4], "attachments": _photo(tmp_path, "n1.png", grace(), 280, 120, x=50)},
                       {"id": "N2", "received_at": "2026-10-09T10:00:00", "channel": "12378", "customer_id": "CU8",
                        "text": LETTERS[1], "attachments": _photo(tmp_path, "n2.png", astronaut(), 300, 110)}], p2)
        xiaobao.ingest(ws, p2)
        xiaobao.screen(ws)
        n1 = store.get_complaint(ws, "N1")
        face = [r for r in n1["reasons"] if r["kind"] == "face"]
        assert face and f"S-{out['subject_id']}" in face[0]["text"] and face[0]["evidence"]["decision"] == "match"
        assert "黑名单命中" in n1["tags"] and n1["risk_tier"] == "high"
        n2 = store.get_complaint(ws, "N2")
        # Same person as G1 (another customer's attachment): reported, but not the agent, and two
        # customers are not a ring.
        assert not [r for r in n2["reasons"] if r["kind"] == "face"] and not n2["rings"]
        assert [r["evidence"]["other_complaint_id"] for r in n2["reasons"] if r["kind"] == "same_face"] == ["G1"]


@pytest.mark.slow
def test_same_voice_links_customers_and_promoted_voice_is_caught(tmp_path):
    from xiaobao.complaints_engine.synth import _speak

    line = "您好，我是代理人，关于这笔借款我们要求停息挂账，请你们尽快处理，否则我们会向监管部门投诉。"
    recs = []
    for i in range(3):  # the agent phones in for three different customers
        wav = tmp_path / f"call{i}.wav"
        _speak(line, wav, "cmn+m3", 35, 170 + 5 * i)
        recs.append({"id": f"V{i}", "received_at": f"2026-10-0{i + 1}T09:00:00", "channel": "hotline",
                     "customer_id": f"CU{i}", "text": LETTERS[i], "attachments": str(wav)})
    path = tmp_path / "calls.jsonl"
    write_records(recs, path)
    with Workspace(tmp_path / "ws") as ws:
        xiaobao.ingest(ws, path)
        xiaobao.screen(ws)
        rings = list_rings(ws)
        assert len(rings) == 1 and rings[0]["n_customers"] == 3
        assert {e["kind"] for e in show_ring(ws, rings[0]["id"])["edges"]} == {"voice"}
        assert any(r["kind"] == "same_voice" for r in store.get_complaint(ws, "V0")["reasons"])
        out = promote(ws, rings[0]["id"], name="电话代理人")
        assert out["enrolled"].get("voice/resemblyzer@1", 0) == 3, out["skipped"]
        wav = tmp_path / "next.wav"
        _speak("你好，我替客户打电话，要求你们退还全部利息，不然我们去银保监会投诉。", wav, "cmn+m3", 35, 175)
        write_records([{"id": "V9", "received_at": "2026-10-09T09:00:00", "channel": "hotline",
                        "customer_id": "CU9", "text": LETTERS[4], "attachments": str(wav)}], tmp_path / "d2.jsonl")
        xiaobao.ingest(ws, tmp_path / "d2.jsonl")
        xiaobao.screen(ws)
        v9 = store.get_complaint(ws, "V9")
        voice = [r for r in v9["reasons"] if r["kind"] == "voice"]
        assert voice and f"S-{out['subject_id']}" in voice[0]["text"], v9["reasons"]
        assert "黑名单命中" in v9["tags"] and v9["risk_tier"] == "high"
