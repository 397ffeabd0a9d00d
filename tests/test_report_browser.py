"""The dashboard in a real headless Chromium: no console message at all, every chart drawn as
SVG, and a screenshot saved. A page with a script error is the control: the same check fails it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_report_workspace import build_handled_workspace
from xiaobao.reports import write_dashboard

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000"]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Debian package chromium is required (make system-packages)"
    return exe


def run_chromium(page: Path, profile: Path, *extra: str) -> tuple[str, list[str]]:
    """Open ``page`` once; returns stdout and the console messages Chromium logged."""
    proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=180)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


@pytest.mark.slow
def test_dashboard_renders_in_chromium(tmp_path):
    ws = build_handled_workspace(tmp_path / "w", n=200, rings=3)
    page = write_dashboard(ws, tmp_path / "dashboard.html")
    assert "<script src" not in page.read_text(encoding="utf-8")

    dom, console = run_chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert console == []
    # Six charts (trend, channel, merchant, level, compliance, business line), each drawn by plotly.
    assert len(set(re.findall(r'<div class="chart[^"]*" id="chart-(\w+)"', dom))) == 6
    assert dom.count('class="main-svg"') >= 12      # plotly draws two SVG layers per chart
    assert dom.count('class="trace bars"') >= 10 and 'class="js-line"' in dom
    assert "R-1" in dom and 'id="deadlines"' in dom

    shot = tmp_path / "dashboard.png"
    _, console = run_chromium(page, tmp_path / "profile-shot", "--window-size=1400,2400", f"--screenshot={shot}")
    assert console == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    keep = os.environ.get("XIAOBAO_TEST_ARTIFACTS")   # CI keeps the screenshot for people to look at
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "dashboard.png")


@pytest.mark.slow
def test_console_errors_are_caught(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>notAFunction();</script></body></html>", encoding="utf-8")
    _, console = run_chromium(bad, tmp_path / "profile", "--dump-dom")
    assert any("notAFunction" in line for line in console)
