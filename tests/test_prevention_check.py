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


def test_a_contact_count_that_is_not_a_number_is_refused_not_ignored(tmp_path):
    import pytest

    from xiaobao.errors import InputError

    ws = Workspace(tmp_path / "ws")
    # the shipped policies: telemarketing is intercepted at 2 contacts in 7 days
    assert check(ws, "C1", "telemarketing", {"contacts_7d": 2})["level"] == "intercept"
    for bad in ("2", True, -1, [2]):
        with pytest.raises(InputError, match="contacts_7d must be a count"):
            check(ws, "C1", "telemarketing", {"contacts_7d": bad})
    assert check(ws, "C1", "telemarketing", {"contacts_7d": None})["level"] == "none"
    assert [r["level"] for r in ws.db.query("SELECT level FROM checks ORDER BY id")] == ["intercept", "none"]
