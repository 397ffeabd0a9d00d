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
