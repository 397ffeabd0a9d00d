"""The core CLI through a real subprocess: exit codes, one-line errors, JSON output."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from xiaobao import Workspace


def run(home, *args, check=True):
    env = {**os.environ, "XIAOBAO_HOME": str(home), "COLUMNS": "200"}
    p = subprocess.run([sys.executable, "-m", "xiaobao.cli", *args], capture_output=True, text=True, env=env)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_subject_commands(tmp_path):
    home = tmp_path / "ws"
    sid = int(run(home, "subject", "add", "李四", "--kind", "agent", "--note", "ring B").stdout)
    rows = json.loads(run(home, "subject", "list", "--json").stdout)
    assert rows[0]["id"] == sid and rows[0]["name"] == "李四" and rows[0]["kind"] == "agent"
    shown = json.loads(run(home, "subject", "show", str(sid), "--json").stdout)
    assert shown["note"] == "ring B" and shown["samples"] == []
    run(home, "subject", "update", str(sid), "--kind", "unknown")
    assert json.loads(run(home, "subject", "list", "--json").stdout)[0]["kind"] == "unknown"
    assert "removed subject" in run(home, "subject", "remove", str(sid)).stdout


@pytest.mark.parametrize("args, needle", [
    (["subject", "add", "x", "--kind", "villain"], "kind 'villain'"),
    (["subject", "show", "42"], "subject 42 does not exist (see the ids: xiaobao subject list)"),
    (["rings", "show", "R-9"], "no ring R-9 (see the rings: xiaobao rings list)"),
    (["complaints", "show", "NOPE"], "(see the ids: xiaobao complaints list)"),
    (["keys", "revoke", "9"], "(see the ids: xiaobao keys list)"),
    (["index", "rebuild", "face/none@1"], "unknown space"),
    (["purge", "--older-than", "-1"], "--older-than"),
])
def test_user_mistakes_are_one_line_exit_2(tmp_path, args, needle):
    p = run(tmp_path / "ws", *args, check=False)
    assert p.returncode == 2
    assert needle in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_index_verify_exit_code_and_rebuild(tmp_path):
    home = tmp_path / "ws"
    ws = Workspace(home)
    ws.ensure_space("text/test@1", 4)
    sid = ws.add_subject("a", "agent")
    ws.enroll(sid, "text/test@1", np.eye(4, dtype=np.float32), sha256=list("abcd"))
    assert json.loads(run(home, "index", "verify", "--json").stdout)["ok"] is True
    for f in (home / "indexes").glob("*.faiss"):
        f.unlink()
    p = run(home, "index", "verify", check=False)
    assert p.returncode == 1 and "missing" in p.stdout
    run(home, "index", "rebuild")
    assert run(home, "index", "verify").returncode == 0
    stats = json.loads(run(home, "index", "stats", "--json").stdout)
    assert stats[0]["space"] == "text/test@1" and stats[0]["indexed"] == 4 and stats[0]["file_bytes"] > 0


def test_version_and_help(tmp_path):
    assert run(tmp_path, "--version").stdout.startswith("xiaobao ")
    assert "Example" in run(tmp_path, "--help").stdout


def _commands(cmd, path=()):
    yield path
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _commands(sub, path + (name,))


def test_every_command_help_shows_an_example(tmp_path):
    """Groups and leaf commands alike: `xiaobao X --help` names a command line to copy."""
    import typer.main
    from typer.testing import CliRunner
    from xiaobao.cli import app

    runner = CliRunner()
    paths = list(_commands(typer.main.get_command(app)))
    assert len(paths) > 50  # the walk reached the sub-commands, not just the root
    missing = []
    for path in paths:
        out = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert out.exit_code == 0, (path, out.output)
        if "Example:" not in out.output:
            missing.append(" ".join(path))
    assert missing == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_script_and_completions(tmp_path, monkeypatch, shell):
    # Name the shell instead of detecting it: under `make test` the nearest shell is /bin/sh.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    script = run(tmp_path, "--show-completion", shell).stdout
    assert "_XIAOBAO_COMPLETE" in script and f"complete_{shell}" in script


def test_shell_completion_completes_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("_XIAOBAO_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "xiaobao rings pro")
    monkeypatch.setenv("COMP_CWORD", "2")
    assert run(tmp_path).stdout.split() == ["promote"]


def test_batch_exit_status_partial_strict_and_nothing_done(tmp_path):
    """Bad rows are listed and skipped: exit 0, 1 with --strict, 2 when no row could be loaded."""
    home = tmp_path / "ws"
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("id,text,received_at\nC1,银行乱收费，要求退还,2026-03-02\nC1,重复的编号,2026-03-02\n",
                     encoding="utf-8")
    ok = run(home, "complaints", "ingest", str(mixed))
    assert "1 bad" in ok.stdout and "1 of 2 rows failed" in ok.stderr and f"{mixed}:3:" in ok.stderr
    strict = run(home, "complaints", "ingest", "--strict", str(mixed), check=False)
    assert strict.returncode == 1 and "1 of 2 rows failed" in strict.stderr

    all_bad = tmp_path / "bad.csv"
    all_bad.write_text("id,text,received_at\nC9,银行乱收费,yesterday\n", encoding="utf-8")
    p = run(home, "complaints", "ingest", str(all_bad), check=False)
    assert p.returncode == 2 and p.stderr.splitlines()[-1].startswith(f"error: {all_bad}:2: ")


def test_search_of_only_undecodable_recordings_exits_2(tmp_path):
    bad = tmp_path / "nope.wav"
    bad.write_bytes(b"not audio at all")
    p = run(tmp_path / "ws", "voice", "search", str(bad), "--json", check=False)
    assert p.returncode == 2 and p.stderr.strip() == f"error: {bad}: cannot be decoded as audio (no audio stream found)"
    assert json.loads(p.stdout)["decision"] == "error"
