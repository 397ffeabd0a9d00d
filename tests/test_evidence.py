"""Evidence pack: parsed as HTML and Markdown, and rendered in real headless Chromium."""
import hashlib
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest

from complaint_handling_helpers import add_complaint, add_match, workspace
from xiaobao.complaints_engine import cases, routing, sla
from xiaobao.complaints_engine.evidence import pack_data, write_evidence_pack
from xiaobao.complaints_engine.validity import check_validity
from xiaobao.errors import UserError


class Page(HTMLParser):
    """Collects text per element id, table rows by class, images and any external references."""

    def __init__(self):
        super().__init__()
        self.stack, self.ids, self.rows, self.imgs, self.external, self.scripts = [], {}, [], [], [], 0
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if a.get(key) and not a[key].startswith(("data:", "#")):
                self.external.append(a[key])
        if tag == "img":
            self.imgs.append(a)
        if tag == "tr" and a.get("class"):
            self._row = {"class": a["class"], "attrs": a, "cells": []}
        if tag == "td" and self._row is not None:
            self._row["cells"].append("")
        self.stack.append((tag, a.get("id")))
        if a.get("id"):
            self.ids[a["id"]] = ""

    def handle_endtag(self, tag):
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag:
                break
        if tag == "tr" and self._row is not None:
            self._row["cells"] = [c.strip() for c in self._row["cells"]]
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        for _, i in self.stack:
            if i:
                self.ids[i] += data
        if self._row is not None and self._row["cells"]:
            self._row["cells"][-1] += data


@pytest.fixture
def case(tmp_path):
    """A screened regulator complaint with a voice match and a face match on enrolled samples."""
    ws = workspace(tmp_path / "ws")
    agent = ws.add_subject("职业代理 赵某", kind="agent", note="ring A")
    ws.ensure_space("voice/resemblyzer@1", 256)
    ws.ensure_space("face/dlib-resnet@1", 128)
    rng = np.random.default_rng(3)
    vec = rng.normal(size=(2, 256)).astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    voice_sha = hashlib.sha256(b"agent-call-1.wav").hexdigest()
    [voice_sample] = ws.enroll(agent, "voice/resemblyzer@1", vec[:1], sha256=voice_sha,
                               source_uri="calls/agent-call-1.wav", quality=0.82)
    fvec = rng.normal(size=(1, 128)).astype(np.float32)
    fvec /= np.linalg.norm(fvec)
    [face_sample] = ws.enroll(agent, "face/dlib-resnet@1", fvec, sha256=hashlib.sha256(b"id.jpg").hexdigest(),
                              source_uri="photos/agent-id.jpg", quality=0.9)
    crop = np.zeros((48, 40, 3), np.uint8)
    crop[:, :, 2] = 200                                    # a red square, easy to spot in the screenshot
    cv2.circle(crop, (20, 24), 12, (255, 255, 255), -1)
    crop_path = tmp_path / "crops" / "c1-face.png"
    crop_path.parent.mkdir()
    cv2.imwrite(str(crop_path), crop)
    add_complaint(ws, "PREV", customer_id="U1", received_at="2025-01-10T09:00:00", text="之前投诉过利息问题",
                  status="closed", channel="app")
    add_complaint(ws, "C-2025-001", customer_id="U1", received_at="2025-03-03T10:00:00", channel="12378",
                  text="催收人员威胁我<script>alert(1)</script>，要求停息挂账", representative="赵某",
                  has_authorisation=0, risk_score=0.93, risk_tier="high",
                  reasons=[{"kind": "voice", "text": "caller voice matches known agent 赵某 (0.871)", "evidence": {}},
                           {"kind": "phrase", "text": "停息挂账 coaching phrase", "evidence": {"phrase": "停息挂账"}}])
    add_match(ws, "C-2025-001", "voice", 0.871, "match", subject_id=agent, sample_id=voice_sample,
              space="voice/resemblyzer@1", evidence={"time_range": [12.5, 31.25], "attachment": "call.wav"})
    add_match(ws, "C-2025-001", "face", 0.74, "possible", subject_id=agent, sample_id=face_sample,
              space="face/dlib-resnet@1", evidence={"face_crop": str(crop_path), "segments": [[3.0, 4.5]]})
    add_complaint(ws, "OTHER", customer_id="U2", received_at="2025-02-20T09:00:00", text="同一模板的另一位客户")
    add_match(ws, "C-2025-001", "template", 0.95, "match", other_complaint_id="OTHER", evidence={"simhash_distance": 2})
    ring = ws.conn.execute("INSERT INTO rings (status, n_complaints, n_customers, first_seen_at, updated_at)"
                           " VALUES ('candidate', 7, 6, '2025-02-01T00:00:00', '2025-03-01T00:00:00')").lastrowid
    ws.conn.execute("INSERT INTO ring_members VALUES (?, 'C-2025-001', 'U1')", (ring,))
    routing.route_pending(ws)
    cases.record_action(ws, "C-2025-001", "contacted_customer", at="2025-03-04T09:00", actor="李四")
    sla.extend(ws, "C-2025-001", reason="情况复杂", at="2025-03-10T10:00")
    check_validity(ws, "C-2025-001")
    yield ws, voice_sha
    ws.close()


def test_html_pack_has_every_part(tmp_path, case):
    ws, voice_sha = case
    path = write_evidence_pack(ws, "C-2025-001", tmp_path / "out", "html", now="2025-03-12T09:00")
    assert path.name == "evidence-C-2025-001.html"
    html = path.read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    assert page.external == [] and page.scripts == 0          # self-contained, and the complaint text is escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert page.ids["case-id"] == "C-2025-001" and page.ids["verdict"] == "proxy_suspected"
    assert "催收" in page.ids["category"]
    matches = [r for r in page.rows if r["class"] == "match"]
    assert [(m["attrs"]["data-kind"], m["cells"][3], m["cells"][4]) for m in matches] == [
        ("template", "0.950", "match"), ("voice", "0.871", "match"), ("face", "0.740", "possible")]
    voice = matches[1]["cells"]
    assert "职业代理 赵某" in voice[5] and voice_sha in voice[6] and "calls/agent-call-1.wav" in voice[6]
    assert voice[7] == "00:12.50–00:31.25"
    assert "complaint OTHER" in matches[0]["cells"][5]
    assert [i["src"][:22] for i in page.imgs] == ["data:image/png;base64,"]
    timeline = page.ids["timeline"]
    for what in ("received", "routed", "action: contacted_customer", "SLA: extended"):
        assert what in timeline
    assert "2025-04-02T23:59:59" in page.ids["deadlines"]     # 30 days after the extension
    checks = {r["attrs"]["data-check"]: r["cells"][1] for r in page.rows if r["class"] == "check"}
    assert checks["authorisation"] == "flag" and checks["agent_voice"] == "flag"
    assert [r["cells"][0] for r in page.rows if r["class"] == "history"] == ["PREV"]
    assert "停息挂账 coaching phrase" in page.ids["reasons"]
    assert "ring R-1 (candidate, 7 complaints, 6 customers" in page.ids["rings"]
    assert ws.events("evidence.pack")[-1]["detail"]["format"] == "html"


def test_markdown_pack(tmp_path, case):
    ws, voice_sha = case
    md = write_evidence_pack(ws, "C-2025-001", tmp_path / "out", "md", now="2025-03-12T09:00").read_text("utf-8")
    assert md.startswith("# 投诉处理举证材料 / Evidence pack: C-2025-001")
    assert "**Verdict: proxy_suspected**" in md and voice_sha in md
    assert "| 0.871 | match | 职业代理 赵某" in md and "00:12.50–00:31.25" in md
    assert "![face crop for match" in md and "(data:image/png;base64," in md
    assert "| PREV |" in md and "ring R-1 (candidate, 7 complaints" in md
    # the ring line is its own paragraph, so the match table after it renders as a table
    assert "customers, first seen 2025-02-01T00:00:00)\n\n| # | Kind |" in md


def test_timeline_shows_utc_stamps_on_the_local_clock(tmp_path, case):
    # ingest and screening stamp UTC with an offset, routing and actions the Shanghai clock;
    # the pack puts them all on the Shanghai clock, so the order and the times read true
    ws, _ = case
    ws.conn.execute("UPDATE complaints SET ingested_at = '2025-03-03T02:05:00+00:00',"
                    " screened_at = '2025-03-03T02:06:00+00:00' WHERE id = 'C-2025-001'")
    ws.conn.execute("UPDATE rings SET first_seen_at = '2025-01-31T17:00:00+00:00'")
    data = pack_data(ws, "C-2025-001", now="2025-03-12T09:00")
    at = {t["what"]: t["at"] for t in data["timeline"]}
    assert at["ingested"] == "2025-03-03T10:05:00" and at["screened"] == "2025-03-03T10:06:00"
    assert all("+" not in (t["at"] or "") for t in data["timeline"])
    assert data["timeline"] == sorted(data["timeline"], key=lambda t: t["at"])
    assert data["rings"][0]["first_seen_at"] == "2025-02-01T01:00:00"


def test_missing_crop_file_and_bad_format(tmp_path, case):
    ws, _ = case
    add_match(ws, "C-2025-001", "face", 0.7, "possible", evidence={"face_crop": "gone/nothing.png"})
    # a face-search evidence manifest: crop names relative to its folder, with frame times
    folder = tmp_path / "face-evidence"
    folder.mkdir()
    cv2.imwrite(str(folder / "call_face0_00012.40s.jpg"), np.full((30, 30, 3), 90, np.uint8))
    add_match(ws, "C-2025-001", "face", 0.81, "match", evidence={
        "dir": str(folder), "crops": [{"crop": "call_face0_00012.40s.jpg", "time_s": 12.4, "frame": 310}]})
    data = pack_data(ws, "C-2025-001")
    assert data["matches"][-1]["crops"][0]["problem"] == "file not found"
    manifest_match = next(m for m in data["matches"] if m["score"] == 0.81)
    assert manifest_match["crops"][0]["data_uri"].startswith("data:image/jpeg;base64,")
    assert manifest_match["time_ranges"] == [(12.4, 12.4)]
    with pytest.raises(UserError, match="--format must be one of html, md"):
        write_evidence_pack(ws, "C-2025-001", tmp_path / "o", "pdf")
    r = subprocess.run([sys.executable, "-m", "xiaobao.cli", "--home", str(ws.home), "evidence", "NOPE", "--out",
                        str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no complaint with id 'NOPE'" in r.stderr


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Debian package 'chromium' is required (SYSTEM_PACKAGES in the Makefile)"
    return exe


def test_a_chinese_font_is_installed_for_the_browser():
    # without one every Chinese character of a pack renders as an empty box
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    assert out.strip(), "install a Chinese font (Debian fonts-wqy-zenhei, in SYSTEM_PACKAGES)"


def _browser(tmp_path, *args):
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'chrome-profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_pack_renders_in_headless_chromium(tmp_path, case):
    ws, voice_sha = case
    r = subprocess.run([sys.executable, "-m", "xiaobao.cli", "--home", str(ws.home), "evidence", "C-2025-001",
                        "--out", str(tmp_path / "out"), "--format", "html", "--now", "2025-03-12T09:00"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    path = tmp_path / "out" / "evidence-C-2025-001.html"
    assert r.stdout.strip() == str(path)
    # a test copy with a probe script: the browser reports whether the embedded crop decoded
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text("utf-8").replace("</body>", (
        "<script>window.addEventListener('load',()=>{const i=[...document.images];"
        "document.body.setAttribute('data-loaded', i.filter(x=>x.complete&&x.naturalWidth===40).length+'/'+i.length);"
        "document.body.setAttribute('data-matches', document.querySelectorAll('tr.match').length);});</script></body>")),
        encoding="utf-8")
    dom = _browser(tmp_path, "--virtual-time-budget=3000", "--dump-dom", probe.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-loaded="1/1"' in dom.stdout and 'data-matches="3"' in dom.stdout
    assert "职业代理 赵某" in dom.stdout and voice_sha in dom.stdout
    shot = tmp_path / "shot.png"
    _browser(tmp_path, "--window-size=1200,2400", f"--screenshot={shot}", path.as_uri())
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (2400, 1200)
    assert (img < 128).any(axis=2).mean() > 0.005                 # text was painted
    red = (img[:, :, 2] > 180) & (img[:, :, 1] < 60) & (img[:, :, 0] < 60)
    assert red.sum() > 200                                         # the embedded face crop is visible
    pdf = tmp_path / "pack.pdf"
    _browser(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", path.as_uri())
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000   # printable
