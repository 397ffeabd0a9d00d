import os
import stat

import numpy as np
import pytest

from xiaobao import Workspace
from xiaobao.errors import DuplicateSampleError, NotFoundError, SpaceError, UserError
from xiaobao.index import register_default_thresholds

SPACE = "voice/test-model@1"


def unit(rng, n, dim=16):
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def ws(make_ws):
    w = make_ws()
    w.ensure_space(SPACE, 16)
    return w


def test_workspace_is_private(make_ws):
    w = make_ws()
    w.ensure_space(SPACE, 16)
    sid = w.add_subject("a", "agent")
    w.enroll(sid, SPACE, unit(np.random.default_rng(0), 1), sha256="x")
    assert stat.S_IMODE(os.stat(w.home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(w.indexes_dir).st_mode) == 0o700
    for p in [w.db_path, *w.indexes_dir.glob("*.faiss")]:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p


def test_home_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XIAOBAO_HOME", str(tmp_path / "envhome"))
    w = Workspace()
    assert w.home == tmp_path / "envhome" and w.db_path.exists()


def test_subject_lifecycle(ws):
    sid = ws.add_subject("张三", kind="agent", note="ring A")
    assert ws.get_subject(sid)["name"] == "张三"
    ws.update_subject(sid, kind="unknown", note="cleared")
    assert ws.get_subject(sid)["kind"] == "unknown"
    assert [s["id"] for s in ws.list_subjects(kind="unknown")] == [sid]
    with pytest.raises(UserError):
        ws.add_subject("x", kind="villain")
    with pytest.raises(NotFoundError):
        ws.get_subject(999)


def test_enroll_and_search_collapses_subjects(ws):
    rng = np.random.default_rng(1)
    a, b = ws.add_subject("a", "agent"), ws.add_subject("b", "agent")
    va, vb = unit(rng, 3), unit(rng, 2)
    ws.enroll(a, SPACE, va, sha256=["a1", "a2", "a3"], source_uri=["a1.wav", "a2.wav", "a3.wav"])
    ws.enroll(b, SPACE, vb, sha256=["b1", "b2"])
    hits = ws.search(SPACE, va[1], k=5)[0]
    assert hits[0].subject_id == a and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].decision == "match"
    assert [h.subject_id for h in hits].count(a) == 1, "repeated samples collapse to the best"
    assert {h.subject_id for h in hits} == {a, b}
    raw = ws.search(SPACE, va[1], k=5, collapse=False)[0]
    assert len(raw) == 5


def test_kind_filters(ws):
    rng = np.random.default_rng(2)
    staff = ws.add_subject("our agent", "staff")
    agent = ws.add_subject("proxy", "agent")
    v = unit(rng, 2)
    ws.enroll(staff, SPACE, v[0], sha256="s")
    ws.enroll(agent, SPACE, v[1], sha256="p")
    hits = ws.search(SPACE, v[0], k=2, exclude_kinds=["staff"])[0]
    assert [h.subject_id for h in hits] == [agent]
    hits = ws.search(SPACE, v[1], k=2, kinds=["staff"])[0]
    assert [h.subject_id for h in hits] == [staff]


def test_decisions_follow_calibrated_thresholds(ws):
    register_default_thresholds("voice/other@1", 0.9, 0.5)
    ws.ensure_space("voice/other@1", 2)
    sid = ws.add_subject("a", "agent")
    ws.enroll(sid, "voice/other@1", np.array([[1.0, 0.0]], np.float32), sha256="x")
    q = np.array([[0.8, 0.6]], np.float32)  # cosine 0.8
    assert ws.search("voice/other@1", q)[0][0].decision == "possible"
    ws.set_thresholds("voice/other@1", 0.75, 0.6)
    assert ws.search("voice/other@1", q)[0][0].decision == "match"
    ws.set_thresholds("voice/other@1", 0.95, 0.85)
    assert ws.search("voice/other@1", q)[0][0].decision == "none"
    with pytest.raises(UserError):
        ws.set_thresholds("voice/other@1", 0.5, 0.7)


def test_duplicate_sources_refused(ws):
    rng = np.random.default_rng(3)
    a, b = ws.add_subject("a", "agent"), ws.add_subject("b", "agent")
    ws.enroll(a, SPACE, unit(rng, 1), sha256="same", source_uri="call.wav")
    with pytest.raises(DuplicateSampleError, match="already enrolled"):
        ws.enroll(a, SPACE, unit(rng, 1), sha256="same", source_uri="call.wav")
    with pytest.raises(UserError, match=r"another subject, 1 \(a\)"):
        ws.enroll(b, SPACE, unit(rng, 1), sha256="same", source_uri="copy.wav")
    # a refused enrolment leaves nothing behind
    assert ws.stats()[0]["samples"] == 1 and ws.verify() == []


def test_wrong_dimension_and_unknown_space(ws):
    sid = ws.add_subject("a", "agent")
    with pytest.raises(SpaceError, match="16-d"):
        ws.enroll(sid, SPACE, unit(np.random.default_rng(0), 1, dim=8), sha256="x")
    with pytest.raises(SpaceError, match="unknown space"):
        ws.search("face/nothing@1", unit(np.random.default_rng(0), 1))
    with pytest.raises(SpaceError, match="16-d"):
        ws.search(SPACE, unit(np.random.default_rng(0), 1, dim=8))
    with pytest.raises(SpaceError, match="normalised"):
        ws.enroll(sid, SPACE, np.ones((1, 16), np.float32), sha256="y")
    with pytest.raises(SpaceError):
        ws.ensure_space(SPACE, 32)
    with pytest.raises(SpaceError, match="modality/model@version"):
        ws.ensure_space("badname", 4)


def test_remove_subject_purges_index(ws):
    rng = np.random.default_rng(4)
    a, b = ws.add_subject("a", "agent"), ws.add_subject("b", "agent")
    va = unit(rng, 2)
    ws.enroll(a, SPACE, va, sha256=["1", "2"])
    ws.enroll(b, SPACE, unit(rng, 1), sha256="3")
    assert ws.remove_subject(a) == 2
    hits = ws.search(SPACE, va[0], k=5)[0]
    assert [h.subject_id for h in hits] == [b]
    assert ws.verify() == []
    assert any(e["what"] == "subject.remove" for e in ws.events())


def test_every_search_is_logged(ws):
    sid = ws.add_subject("a", "agent")
    v = unit(np.random.default_rng(5), 1)
    ws.enroll(sid, SPACE, v, sha256="x")
    ws.search(SPACE, v, command="test-search")
    ev = ws.events("search")
    assert len(ev) == 1 and ev[0]["command"] == "test-search" and ev[0]["ids"] == [sid]


def test_events_are_append_only(ws):
    ws.add_subject("a", "agent")
    import sqlite3
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        ws.conn.execute("DELETE FROM events")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        ws.conn.execute("UPDATE events SET what = 'x'")


def test_purge_by_age(ws):
    rng = np.random.default_rng(6)
    sid = ws.add_subject("a", "agent")
    ids = ws.enroll(sid, SPACE, unit(rng, 3), sha256=["1", "2", "3"])
    ws.conn.execute("UPDATE samples SET created_at = '2020-01-01T00:00:00.000+00:00' WHERE id = ?", (ids[0],))
    assert ws.purge(older_than_days=30) == 1
    assert ws.stats()[0]["samples"] == 2 and ws.verify() == []
    assert ws.events("purge")[0]["detail"]["removed"] == 1


def test_verify_finds_and_rebuild_repairs(ws):
    rng = np.random.default_rng(7)
    sid = ws.add_subject("a", "agent")
    v = unit(rng, 4)
    ws.enroll(sid, SPACE, v, sha256=list("abcd"))
    # simulate a writer killed after its SQLite commit: the registry moves on, the file does not
    ws.conn.execute("INSERT INTO samples (subject_id, space, vector, sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                    (sid, SPACE, unit(rng, 1)[0].tobytes(), "e", "2026-01-01"))
    ws.conn.execute("UPDATE spaces SET generation = generation + 1")
    problems = ws.verify()
    assert problems and problems[0]["problem"] == "index file missing or stale"
    ws.rebuild()
    assert ws.verify() == []
    # a tampered vector is found too
    ws.conn.execute("UPDATE samples SET vector = ? WHERE sha256 = 'a'", (unit(rng, 1)[0].tobytes(),))
    assert any(p["problem"] == "index vectors differ from registry" for p in ws.verify())


def test_search_heals_a_stale_index(ws):
    rng = np.random.default_rng(8)
    sid = ws.add_subject("a", "agent")
    ws.enroll(sid, SPACE, unit(rng, 1), sha256="a")
    late = unit(rng, 1)
    ws.conn.execute("INSERT INTO samples (subject_id, space, vector, sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                    (sid, SPACE, late[0].tobytes(), "late", "2026-01-01"))
    ws.conn.execute("UPDATE spaces SET generation = generation + 1")
    fresh = Workspace(ws.home)  # another process's view, same store (recorded in the workspace)
    hit = fresh.search(SPACE, late)[0][0]
    assert hit.score == pytest.approx(1.0, abs=1e-5)
    assert fresh.verify() == []


def test_approximate_index_above_threshold(make_ws):
    rng = np.random.default_rng(9)
    w = make_ws(approx_threshold=2000)
    w.ensure_space(SPACE, 16)
    n_ids = 300
    centers = unit(rng, n_ids)
    subjects = [w.add_subject(f"s{i}", "agent") for i in range(n_ids)]
    items = []
    for i in range(3000):
        ident = i % n_ids
        v = centers[ident] + 0.25 * unit(rng, 1)[0]
        items.append({"subject_id": subjects[ident], "vector": v / np.linalg.norm(v), "sha256": f"h{i}"})
    w.enroll_batch(SPACE, items)
    st = w.stats()[0]
    assert st["index_type"] in ("ivf-flat-ip", "ivf-flat") and st["indexed"] == 3000
    q = centers + 0.25 * unit(rng, n_ids)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    hits = w.search(SPACE, q, k=1, log=False)
    top1 = np.mean([h[0].subject_id == subjects[i] for i, h in enumerate(hits)])
    assert top1 >= 0.99
    assert w.verify() == []
    # removal works on the approximate index too
    w.remove_samples([1, 2, 3])
    assert w.verify() == [] and w.stats()[0]["indexed"] == 2997


def test_faiss_and_milvus_agree_on_the_same_data(tmp_path):
    rng = np.random.default_rng(10)
    n_ids, per = 250, 12
    centers = unit(rng, n_ids)
    vectors = centers.repeat(per, axis=0) + 0.2 * unit(rng, n_ids * per)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    q = centers + 0.2 * unit(rng, n_ids)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    tops = {}
    for spec in ("faiss", "milvus-lite:milvus.db"):
        w = Workspace(tmp_path / spec.split(":")[0], vector_store=spec, approx_threshold=1000)
        w.ensure_space(SPACE, 16)
        subjects = [w.add_subject(f"s{i}", "agent") for i in range(n_ids)]
        w.enroll_batch(SPACE, [{"subject_id": subjects[i // per], "vector": v, "sha256": f"h{i}"}
                               for i, v in enumerate(vectors)])
        assert w.stats()[0]["index_type"].startswith("ivf")
        tops[spec] = [subjects.index(h[0].subject_id) for h in w.search(SPACE, q, k=1, log=False)]
        w.close()
    agree = np.mean(np.asarray(tops["faiss"]) == np.asarray(tops["milvus-lite:milvus.db"]))
    assert agree >= 0.99
