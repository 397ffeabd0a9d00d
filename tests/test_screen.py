"""Screening: scores, tiers, reasons, tags; idempotent; resumable after SIGKILL (real process)."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import xiaobao
from xiaobao import Workspace
from xiaobao.complaints_engine import store
from xiaobao.complaints_engine.synth import HOTLINE, synth_complaints
from xiaobao.errors import InputError, NotFoundError


def _batch(tmp_path, n=400, rings=4, seed=5):
    out = tmp_path / "batch.jsonl"
    synth_complaints(out, n=n, rings=rings, seed=seed)
    return out, json.loads((tmp_path / "batch.jsonl.truth.json").read_text(encoding="utf-8"))


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path / "ws")
    yield w
    w.close()


def test_screen_scores_reasons_tags_and_is_idempotent(ws, tmp_path):
    path, truth = _batch(tmp_path)
    xiaobao.ingest(ws, path)
    report = xiaobao.screen(ws)
    assert report.screened == 400 and report.featurized == 400
    assert any(h["value"] == HOTLINE for h in report.hubs)  # the company hotline is a hub, not a link
    ring_ids = {c for r in truth["rings"] for c in r["complaints"]}
    rows = {r["id"]: r for r in store.list_complaints(ws, limit=None)}
    ring_high = sum(rows[c]["risk_tier"] == "high" for c in ring_ids) / len(ring_ids)
    genuine_high = sum(rows[c]["risk_tier"] == "high" for c in truth["genuine"]) / len(truth["genuine"])
    assert ring_high >= 0.9 and genuine_high <= 0.02
    member = store.get_complaint(ws, truth["rings"][0]["complaints"][0])
    texts = " | ".join(r["text"] for r in member["reasons"])
    assert "different customers" in texts or "shares template" in texts
    assert "member of candidate ring" in texts
    assert all(0 <= r["points"] <= 1 and r["evidence"] is not None for r in member["reasons"])
    assert HOTLINE[:3] + "****" not in texts and HOTLINE not in texts
    assert "疑似代理投诉" in member["tags"] and "代理团伙关联" in member["tags"]
    assert member["matches"] and {m["kind"] for m in member["matches"]} & {"artifact", "template"}
    assert 0.0 <= member["risk_score"] <= 1.0
    cust = member["customer_id"]
    assert "高风险客户" in [t["tag"] for t in store.customer_tags(ws, cust)]
    assert store.list_complaints(ws, tag="疑似代理投诉", limit=None)

    n_matches = ws.db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0]
    again = xiaobao.screen(ws)
    assert again.screened == 0 and again.featurized == 0
    assert ws.db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0] == n_matches

    # One complaint on demand (investigators): re-screened, same answer, no duplicate matches.
    one = xiaobao.screen(ws, complaint_id=member["id"])
    assert one.screened == 1 and one.complaints[0]["risk_score"] == member["risk_score"]
    assert ws.db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0] == n_matches
    with pytest.raises(NotFoundError):
        xiaobao.screen(ws, complaint_id="nope")


def test_since_limits_scoring_and_bad_scorecard_is_clear(ws, tmp_path):
    path, _ = _batch(tmp_path, n=120, rings=2, seed=9)
    xiaobao.ingest(ws, path)
    cut = "2026-10-01T00:00:00"
    later = ws.db.conn.execute("SELECT COUNT(*) FROM complaints WHERE received_at >= ?", (cut,)).fetchone()[0]
    assert 0 < later < 120
    assert xiaobao.screen(ws, since=cut).screened == later
    bad = tmp_path / "card.yaml"
    bad.write_text("tiers: {high: 0.3, medium: 0.6}\nevidence: {}\n")
    with pytest.raises(InputError, match="tiers"):
        xiaobao.screen(ws, scorecard=str(bad))


def _count(db, sql):
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


@pytest.mark.slow
def test_killed_batch_resumes_without_redoing_or_losing(tmp_path):
    path, _ = _batch(tmp_path, n=3000, rings=10, seed=21)
    home = tmp_path / "ws"
    ref_home = tmp_path / "ref"
    with Workspace(home) as w:
        xiaobao.ingest(w, path)
    shutil.copytree(home, ref_home)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "xiaobao.cli", "--home", str(home), "screen", "--chunk", "25", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    db = home / "registry.db"
    deadline = time.time() + 240
    screened_before = 0
    while time.time() < deadline and proc.poll() is None:
        try:
            screened_before = _count(db, "SELECT COUNT(*) FROM complaints WHERE screened_at IS NOT NULL")
        except sqlite3.OperationalError:
            screened_before = 0
        if screened_before >= 200:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "batch finished before it could be killed: " + proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after_kill = _count(db, "SELECT COUNT(*) FROM complaints WHERE screened_at IS NOT NULL")
    assert 200 <= after_kill < 3000
    # Every screened complaint is complete: its chunk's score, reasons and matches committed together.
    assert _count(db, "SELECT COUNT(*) FROM complaints WHERE screened_at IS NOT NULL AND risk_tier IS NULL") == 0

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    resumed = json.loads(done.stdout)
    assert resumed["screened"] == 3000 - after_kill and resumed["featurized"] == 0
    subprocess.run([sys.executable, "-m", "xiaobao.cli", "--home", str(ref_home), "screen", "--json"],
                   capture_output=True, text=True, timeout=600, check=True)
    with Workspace(home) as a, Workspace(ref_home) as b:
        q = "SELECT id, risk_score, risk_tier FROM complaints ORDER BY id"
        assert a.db.conn.execute(q).fetchall() == b.db.conn.execute(q).fetchall()
        q = "SELECT complaint_id, kind, other_complaint_id, subject_id FROM matches ORDER BY 1, 2, 3, 4"
        assert a.db.conn.execute(q).fetchall() == b.db.conn.execute(q).fetchall()
        # No complaint was scored twice: the audit log's screened chunks never overlap.
        seen = []
        for (ids,) in a.db.conn.execute("SELECT ids FROM events WHERE what = 'complaints.screened'"):
            seen += json.loads(ids)
        assert len(seen) == len(set(seen)) == 3000
        q = "SELECT m.complaint_id FROM ring_members m JOIN rings r ON r.id = m.ring_id ORDER BY 1"
        assert a.db.conn.execute(q).fetchall() == b.db.conn.execute(q).fetchall()


def test_yesterdays_complaints_rescored_when_a_ring_forms(ws, tmp_path):
    letter = ("本人{n}在贵司借款，贵司违规收取砍头息，综合年化成本超过36%，要求停息挂账并退还全部利息，"
              "否则向银保监会投诉。代理人电话13912345678。")
    day = lambda i, n, d: {"id": f"D{i}", "received_at": f"2026-10-0{d}T10:00:00", "channel": "12378",  # noqa: E731
                           "customer_id": f"K{i}", "text": letter.format(n=n)}
    from xiaobao.complaints_engine.synth import write_records

    write_records([day(1, "王强", 1), day(2, "李娜", 1)], tmp_path / "d1.jsonl")
    xiaobao.ingest(ws, tmp_path / "d1.jsonl")
    assert xiaobao.screen(ws).rings == 0  # two customers are not a ring yet
    before = store.get_complaint(ws, "D1")
    assert not before["rings"]
    write_records([day(3, "赵敏", 2)], tmp_path / "d2.jsonl")
    xiaobao.ingest(ws, tmp_path / "d2.jsonl")
    report = xiaobao.screen(ws)
    assert report.rings == 1 and report.rescored == 2 and report.screened == 3
    after = store.get_complaint(ws, "D1")
    assert after["rings"] and any(r["kind"] == "ring" for r in after["reasons"])
    assert after["risk_score"] > before["risk_score"] and "代理团伙关联" in after["tags"]
    assert xiaobao.screen(ws).screened == 0  # and only once
