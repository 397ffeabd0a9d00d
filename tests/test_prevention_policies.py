import pytest

from xiaobao.errors import InputError
from xiaobao.prevention.policies import evaluate, load_policies

YAML = """
touchpoints:
  collection_call:
    - when: "open_complaints > 0"
      level: warn
      actions: [route_senior_agent]
      reason: open complaint
    - when: "in_ring"
      level: intercept
      actions: [pause_collection_calls]
      reason: ring member
"""


def test_levels_and_bad_file(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(YAML, encoding="utf-8")
    pol = load_policies(p)
    assert evaluate(pol, "collection_call", {"open_complaints": 0, "in_ring": False})["level"] == "none"
    r = evaluate(pol, "collection_call", {"open_complaints": 2, "in_ring": True})
    assert r["level"] == "intercept" and r["actions"] == ["route_senior_agent", "pause_collection_calls"]
    p.write_text(YAML.replace("open_complaints > 0", "open_complaints >"), encoding="utf-8")
    with pytest.raises(InputError):
        load_policies(p)


def test_example_file_is_valid():
    from pathlib import Path

    import xiaobao.prevention as p
    pol = load_policies(Path(p.__file__).with_name("policies.yaml"))
    r = evaluate(pol, "collection_call", {"tags": ["高投诉风险"], "open_complaints": 1, "in_ring": False})
    assert r["level"] == "intercept"
    assert evaluate(pol, "telemarketing", {"complaints": 0, "risk_tier": None})["level"] == "none"


def test_check_lists_facts_the_workspace_does_not_store(tmp_path):
    from typer.testing import CliRunner

    from xiaobao.cli import app
    from xiaobao.prevention.policies import context_facts

    p = tmp_path / "p.yaml"
    p.write_text(YAML.replace("open_complaints > 0", "open_complaint > 0 and overdue_days > 30"), encoding="utf-8")
    pol = load_policies(p)
    assert context_facts(pol) == [("collection_call", 0, ["open_complaint", "overdue_days"])]
    out = CliRunner().invoke(app, ["policies", "check", str(p)])
    assert out.exit_code == 0 and "rule 0 reads open_complaint, overdue_days" in out.output
    with pytest.raises(InputError, match="cannot evaluate"):  # the failure the note warns about
        evaluate(pol, "collection_call", {})
    assert context_facts(load_policies(_example())) == []


def _example():
    from pathlib import Path

    import xiaobao.prevention as p
    return Path(p.__file__).with_name("policies.yaml")
