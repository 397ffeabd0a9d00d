import subprocess
import sys
import json

from typer.testing import CliRunner

from xiaobao.cli import app


def test_cli_check_and_policies(tmp_path):
    r = CliRunner().invoke(app, ["--home", str(tmp_path / "ws"), "check", "--customer", "C9",
                                 "--touchpoint", "collection_call", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["level"] == "none"
    bad = tmp_path / "bad.yaml"
    bad.write_text("touchpoints: {x: [{level: loud}]}", encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "xiaobao.cli", "policies", "check", str(bad)],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "level must be one of" in p.stderr and "Traceback" not in p.stderr
