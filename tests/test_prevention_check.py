from xiaobao import Workspace
from xiaobao.complaints_engine import store
from xiaobao.prevention.check import check

YAML = """
touchpoints:
  collection_call:
    - when: "'高投诉风险' in tags"
      level: warn
      actions: [route_senior_agent]
      reason: high complaint risk tag
"""


def test_check_uses_tags_and_is_logged(tmp_path):
    ws = Workspace(tmp_path / "ws")
    store.ensure_tables(ws)
    store.add_tags(ws, ["高投诉风险"], customer_id="C1")
    p = tmp_path / "p.yaml"
    p.write_text(YAML, encoding="utf-8")
    assert check(ws, "C1", "collection_call", policies_file=p, asked_by="t")["level"] == "warn"
    assert check(ws, "C2", "collection_call", policies_file=p)["level"] == "none"
    rows = list(ws.db.query("SELECT customer_id, asked_by, level FROM checks ORDER BY id"))
    assert rows == [{"customer_id": "C1", "asked_by": "t", "level": "warn"},
                    {"customer_id": "C2", "asked_by": "library", "level": "none"}]
