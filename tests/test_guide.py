"""Every ```bash block of docs/guide.md runs as written (in order, exit 0) against the demo workspace."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), flags=re.S | re.M)


def bash_blocks() -> list[str]:
    return blocks("bash")


def test_guide_has_every_task():
    text = GUIDE.read_text(encoding="utf-8")
    for task in ("Enrol a known agent", "Look up a caller", "Check a letter", "Screen a day's batch",
                 "promote a ring", "evidence pack", "Calibrate thresholds", "routing and deadline", "Before contacting a customer",
                 "From Python"):
        assert task in text, task
    assert len(bash_blocks()) >= 10


@pytest.mark.slow
def test_guide_commands_run(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "XIAOBAO_HOME": str(tmp_path / "demo_out" / "workspace"), "COLUMNS": "120"}
    for i, block in enumerate(bash_blocks()):
        cwd = tmp_path if i == 0 else tmp_path / "demo_out"   # the first block makes demo_out
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"guide block {i + 1} failed:\n{block}\n--- stdout\n{p.stdout[-2000:]}\n--- stderr\n{p.stderr[-2000:]}"
        assert "Traceback" not in p.stderr, p.stderr
    # The "From Python" section continues in the same folder, after the commands above.
    python_blocks = blocks("python")
    assert python_blocks, "the guide shows the library too"
    for i, block in enumerate(python_blocks):
        p = subprocess.run([sys.executable, "-c", block], cwd=tmp_path / "demo_out", env=env,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"guide python block {i + 1} failed:\n{block}\n--- stderr\n{p.stderr[-3000:]}"
    assert (tmp_path / "demo_out" / "day3.jsonl").exists()   # the library block ran to its end
