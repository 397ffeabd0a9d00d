"""Whole-system test: the demo path in a temp folder, checked against its planted truth."""
import json
import shutil
import subprocess
import sys

import pytest

from xiaobao import Workspace
from xiaobao.demo import MARKER, run_demo
from xiaobao.errors import UserError


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    s = run_demo(out, n=800, rings=6, seed=11)
    r = s["rings"]
    assert r["found"] == r["planted"] == 6, r
    assert r["precision"] >= 0.95 and r["recall"] >= 0.90, r
    assert r["watchlist_hits"] >= 0.9 * r["known_ring_size"], r
    if shutil.which("espeak-ng"):       # the install step provides it; then the voice part must run
        assert s["voice_lookup"]["decision"] == "match", s.get("voice_lookup")
    assert s["face_lookup"]["decision"] == "match", s["face_lookup"]     # packaged photo, another shot

    ws = Workspace(out / "workspace")
    try:
        q = lambda sql: ws.db.conn.execute(sql).fetchone()[0]  # noqa: E731
        n = q("SELECT COUNT(*) FROM complaints")
        assert n == s["steps"]["ingest"]["added"] > 700
        assert q("SELECT COUNT(DISTINCT complaint_id) FROM routes") == n      # every complaint routed
        assert s["steps"]["route"]["cases_opened"] == n
        assert q("SELECT COUNT(*) FROM rings WHERE status = 'promoted'") == 1
        assert ws.get_subject(s["steps"]["promote"]["subject_id"])["kind"] == "agent"
        c = s["steps"]["check"]                 # a ring member's customer is warned before collection
        assert c["level"] in ("warn", "intercept") and c["actions"], c
        assert q(f"SELECT COUNT(*) FROM checks WHERE customer_id = '{c['customer']}' AND asked_by = 'demo'") == 1
    finally:
        ws.close()
    from xiaobao.complaints_engine import sla
    ws = Workspace(out / "workspace")
    try:
        due = sla.list_due(ws, within="3650d")
        assert due and all(d.get("due_at") for d in due)                     # deadlines set
    finally:
        ws.close()

    pack = (out / "evidence").glob("evidence-*.html")
    html = next(pack).read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and s["steps"]["evidence"]["complaint"] in html
    files = s["steps"]["report"]["files"]
    report = json.loads(open(files["json"], encoding="utf-8").read())
    assert report and "<html" in open(files["html"], encoding="utf-8").read().lower()
    assert open(files["md"], encoding="utf-8").read().startswith("#")
    assert "<html" in (out / "dashboard.html").read_text(encoding="utf-8").lower()
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["rings"] == r

    # Re-runnable into the same folder; a folder it did not make is refused, never deleted.
    keep = out / "mine.txt"
    keep.write_text("not the demo's")
    s2 = run_demo(out, n=300, rings=3, seed=2, voices=False)
    assert s2["rings"]["planted"] == 3 and keep.exists() and (out / MARKER).exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("x")
    with pytest.raises(UserError, match="did not create"):
        run_demo(other, n=50, rings=1)
    assert (other / "precious.txt").exists()


def test_demo_cli_refuses_foreign_folder(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    p = subprocess.run([sys.executable, "-m", "xiaobao.cli", "demo", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "did not create" in p.stderr and "Traceback" not in p.stderr
    assert (tmp_path / "f.txt").exists()
