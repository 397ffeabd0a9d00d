"""Complaint-risk model: time-split training beats the keyword baseline, the model file records its
features, periods and metrics, scoring writes tiers and the 高投诉风险 tag, history and ring links count."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from xiaobao import Workspace
from xiaobao.complaints_engine import store as complaints_store
from xiaobao.errors import InputError, UserError
from xiaobao.insight.ingest import ingest_interactions
from xiaobao.insight.risk_features import FEATURES, FeatureBuilder, collect_signals, day_number, read_labels
from xiaobao.insight.risk_model import (RISK_TAG, RiskModel, precision_at, risk_list, score_customers,
                                        train_risk_model, write_risk_tags)
from xiaobao.insight.synth import SynthParams, synth_interactions


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("risk")
    synth = synth_interactions(root / "calls.csv", SynthParams(n_interactions=40000, seed=5))
    ws = Workspace(root / "ws")
    ingest_interactions(ws, synth.interactions)
    model = train_risk_model(ws, synth.labels, out=root / "model.json", top_k=50)
    yield ws, synth, model, root
    ws.close()


def test_time_split_and_model_file(trained):
    ws, synth, model, root = trained
    meta = json.loads((root / "model.json").read_text(encoding="utf-8"))
    assert meta["features"] == list(FEATURES) and len(meta["coef"]) == 2 * len(FEATURES)
    held = meta["metrics"]["held_out"]
    # every training label ends before the held-out period starts
    last_cut = max(day_number(c) for c in meta["training"]["cutoffs"])
    assert last_cut + meta["horizon_days"] <= day_number(held["cutoff"])
    assert meta["training"]["period"][1] == held["cutoff"] and held["period"][0] == held["cutoff"]
    assert meta["labels"].endswith("calls.labels.csv") and meta["trained_at"]
    m, b = meta["metrics"]["model"], meta["metrics"]["keyword_baseline"]
    # a small sample: the floor (0.80) is measured by the benchmark on 1M records; here the model
    # must clearly beat both the keyword baseline and the base rate
    assert m["precision_at_top_decile"] > b["precision_at_top_decile"] + 0.2
    assert m["precision_at_top_decile"] > 3 * held["base_rate"]
    assert 0 <= m["precision_at_50"] <= 1 and meta["tiers"]["high"] > meta["tiers"]["medium"]


def test_score_writes_tiers_and_tag_and_follows_changes(trained):
    ws, synth, model, root = trained
    result = score_customers(ws, root / "model.json", labels=synth.labels)
    high = [r["customer_id"] for r in risk_list(ws, tier="high", limit=None)]
    assert result["tiers"]["high"] == len(high) > 0 and result["tag_added"] == len(high)
    tagged = {r["customer_id"] for r in complaints_store.customers_with_tag(ws, RISK_TAG)}
    assert tagged == set(high)
    scores = [r["score"] for r in risk_list(ws, limit=None)]
    assert scores == sorted(scores, reverse=True)
    # a customer who leaves the high tier loses the tag; a new one gains it
    moved = write_risk_tags(ws, high[1:] + ["C-new"])
    assert moved["tag_added"] == 1 and moved["tag_removed"] == 1
    assert {r["customer_id"] for r in complaints_store.customers_with_tag(ws, RISK_TAG)} == set(high[1:]) | {"C-new"}
    # the tag is the customer_tags contract: (customer_id, tag, source, created_at)
    row = ws.db.conn.execute("SELECT tag, source FROM customer_tags WHERE customer_id = 'C-new'").fetchone()
    assert row == (RISK_TAG, "risk-model")


def test_history_and_ring_links_are_features(trained, tmp_path):
    ws, synth, _, _ = trained
    cid = ws.db.conn.execute("SELECT customer_id FROM interactions WHERE at >= '2026-03-01' LIMIT 1").fetchone()[0]
    complaints_store.ensure_tables(ws)
    with ws.transaction():
        ws.db.conn.execute("INSERT INTO complaints (id, received_at, channel, customer_id, text) VALUES "
                           "('K1', '2026-02-10T10:00:00', 'hotline', ?, '催收太频繁')", (cid,))
        ring = ws.db.conn.execute("INSERT INTO rings (status, first_seen_at, updated_at) VALUES "
                                  "('candidate', '2026-02-11', '2026-02-11')").lastrowid
        ws.db.conn.execute("INSERT INTO ring_members (ring_id, complaint_id, customer_id) VALUES (?, 'K1', ?)",
                           (ring, cid))
    try:
        fb = FeatureBuilder(ws, collect_signals(ws), None)
        active, X = fb.features(day_number("2026-03-20"))
        row = X[list(active).index(fb.index[cid])]
        assert row[FEATURES.index("ring_linked")] == 1 and row[FEATURES.index("earlier_complaints")] >= 1
        active, X = fb.features(day_number("2026-02-05"))      # before the complaint: no leak
        if fb.index[cid] in set(active):
            row = X[list(active).index(fb.index[cid])]
            assert row[FEATURES.index("ring_linked")] == 0
    finally:
        with ws.transaction():
            ws.db.conn.execute("DELETE FROM ring_members")
            ws.db.conn.execute("DELETE FROM rings")
            ws.db.conn.execute("DELETE FROM complaints")


def test_precision_at_and_label_files(tmp_path):
    y = np.array([1, 0, 1, 0, 0])
    assert precision_at(np.array([0.9, 0.8, 0.7, 0.1, 0.0]), y, 2) == 0.5
    assert precision_at(np.array([0.9, 0.1, 0.8, 0.0, 0.0]), y, 2) == 1.0
    f = tmp_path / "labels.csv"
    f.write_text("客户号,投诉时间\nC1,2026-03-01\n,2026-03-02\nC3,someday\nC4,2026/03/04 10:00:00\n", encoding="utf-8")
    bad = []
    lab = read_labels(f, bad)
    assert list(lab.customer) == ["C1", "C4"] and [b["line"] for b in bad] == [3, 4]
    (tmp_path / "x.csv").write_text("who,when\nC1,2026-01-01\n", encoding="utf-8")
    with pytest.raises(InputError, match="customer_id and complained_at"):
        read_labels(tmp_path / "x.csv")


def test_training_refuses_what_it_cannot_do(trained, tmp_path):
    ws, synth, _, _ = trained
    with pytest.raises(UserError, match="too short"):
        train_risk_model(ws, synth.labels, horizon=80, window=60, out=tmp_path / "m.json")
    (tmp_path / "model.json").write_text(json.dumps({"kind": "something else"}), encoding="utf-8")
    with pytest.raises(InputError, match="not a xiaobao-complaint-risk"):
        RiskModel.load(tmp_path / "model.json")
    empty = Workspace(tmp_path / "empty")
    try:
        with pytest.raises(UserError, match="no labels"):
            train_risk_model(empty)
    finally:
        empty.close()


@pytest.mark.slow
def test_cli_train_score_and_list(tmp_path):
    env = {**os.environ, "XIAOBAO_HOME": str(tmp_path / "ws"), "COLUMNS": "200"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "xiaobao.cli", *a], capture_output=True, text=True, env=env)
    data = tmp_path / "calls.csv"
    p = run("synth", "interactions", str(data), "--n", "8000", "--seed", "3")
    assert p.returncode == 0, p.stderr
    assert run("interactions", "ingest", str(data)).returncode == 0
    labels = tmp_path / "calls.labels.csv"
    n_lines = len(labels.read_text(encoding="utf-8").splitlines())
    with open(labels, "a", encoding="utf-8") as fh:   # two bad rows: reported with their line, the rest trains
        fh.write("C9,someday,12378\n,2026-03-01T00:00:00,12378\n")
    p = run("risk", "train", "--labels", str(labels), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out["metrics"]) == {"held_out", "model", "keyword_baseline"}
    assert f"calls.labels.csv:{n_lines + 1}: complained_at 'someday' is not a date" in p.stderr
    assert f"calls.labels.csv:{n_lines + 2}: missing customer_id" in p.stderr
    assert out["labels_skipped"]["count"] == 2
    p = run("risk", "score", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["tiers"]["high"] > 0
    rows = json.loads(run("risk", "list", "--tier", "high", "--json").stdout)
    assert rows and all(r["tier"] == "high" for r in rows)
    p = run("risk", "score", "--model", str(tmp_path / "none.json"))
    assert p.returncode == 2 and "no such model file" in p.stderr
