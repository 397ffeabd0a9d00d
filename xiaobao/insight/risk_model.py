"""Complaint-risk model: training with a time-split evaluation, the model file, and scoring.

Training takes snapshots: at each cut-off day the features of every active customer (see
:mod:`xiaobao.insight.risk_features`) and the label "filed a regulator complaint within
``horizon`` days after the cut-off". The **held-out** snapshot is the latest cut-off whose
horizon still fits the data; training snapshots are every ``step`` days before it whose
horizon ends by the held-out cut-off, so no training label looks into the evaluation period.

The model is a logistic regression over standardised ``log1p(x)`` and ``x`` of every feature
(L2, C=0.1): small, fast, and every weight can be read by a reviewer. It is saved as JSON with
its features, weights, training and evaluation periods, metrics (precision at the top decile
and at k, for the model and for a keyword-count baseline on the same held-out snapshot) and
tier thresholds (high = the held-out top decile's score, medium = the top 30%).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from xiaobao.errors import InputError, UserError
from xiaobao.insight import store
from xiaobao.insight.lexicon import load_lexicon
from xiaobao.insight.quality import check_day
from xiaobao.insight.risk_features import (FEATURES, FeatureBuilder, Labels, collect_signals, day_number,
                                           day_text, labels_from_complaints, read_labels)

MODEL_KIND = "xiaobao-complaint-risk"
RISK_TAG = "高投诉风险"
TAG_SOURCE = "risk-model"


def _design(X: np.ndarray) -> np.ndarray:
    X = np.maximum(X.astype(np.float64), 0.0)
    return np.hstack([np.log1p(X), X])


def precision_at(scores: np.ndarray, y: np.ndarray, k: int) -> float:
    """Share of positives among the ``k`` highest scores (ties broken by order, stable)."""
    k = max(1, min(int(k), len(y)))
    top = np.argsort(-scores, kind="stable")[:k]
    return float(y[top].mean())


def keyword_baseline(X: np.ndarray) -> np.ndarray:
    """The baseline: escalation-word count over the window (contacts only break ties)."""
    return X[:, FEATURES.index("esc_w")] + 1e-3 * X[:, FEATURES.index("contacts_w")] / (1 + X[:, FEATURES.index("contacts_w")])


@dataclass
class RiskModel:
    """A trained model (the JSON file's content); ``score(X)`` gives the probability of a complaint."""
    meta: dict

    @property
    def features(self) -> list[str]:
        return self.meta["features"]

    def score(self, X: np.ndarray) -> np.ndarray:
        Z = (_design(X) - np.asarray(self.meta["mean"])) / np.asarray(self.meta["scale"])
        z = Z @ np.asarray(self.meta["coef"]) + self.meta["intercept"]
        return 1.0 / (1.0 + np.exp(-z))

    def tier(self, scores: np.ndarray) -> np.ndarray:
        t = self.meta["tiers"]
        return np.where(scores >= t["high"], "high", np.where(scores >= t["medium"], "medium", "low"))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        meta = {k: v for k, v in self.meta.items() if k != "path"}
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "RiskModel":
        path = Path(path)
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(path, "no such model file; train one with `xiaobao risk train --labels FILE`") from None
        except (OSError, ValueError) as exc:
            raise InputError(path, f"not a risk model file: {exc}") from None
        if not isinstance(meta, dict) or meta.get("kind") != MODEL_KIND:
            raise InputError(path, f"not a {MODEL_KIND} model file")
        if list(meta.get("features", [])) != list(FEATURES):
            raise InputError(path, "model was trained on other features than this version computes; retrain it")
        meta["path"] = str(path)
        return cls(meta)


def default_model_path(ws) -> Path:
    return Path(ws.home) / "models" / "complaint_risk.json"


def _labels(ws, labels, bad: list | None = None) -> Labels:
    if isinstance(labels, Labels):
        return labels
    if labels:
        return read_labels(labels, bad)
    found = labels_from_complaints(ws)
    if found is None:
        raise UserError("no labels: pass --labels FILE (customer_id, complained_at) or ingest regulator complaints")
    return found


def train_risk_model(ws, labels: str | Path | Labels | None = None, *, horizon: int = 30, window: int = 30,
                     recent: int = 7, step: int = 7, test_cutoff: str | None = None, top_k: int = 100,
                     out: str | Path | None = None, C: float = 0.1) -> RiskModel:
    """Train and evaluate on a later held-out period; save the model file (default in the workspace).

    >>> m = train_risk_model(ws, "labels.csv", horizon=30)
    >>> m.meta["metrics"]["model"]["precision_at_top_decile"]
    """
    if horizon < 1 or window < 1 or not 1 <= recent <= window or step < 1:
        raise UserError("horizon, window, recent and step must be positive days, recent <= window")
    bad_labels: list[dict] = []      # label rows skipped (line, reason): kept in the model file, shown by the CLI
    lab = _labels(ws, labels, bad_labels)
    lex = load_lexicon()
    signals = collect_signals(ws, lex)
    fb = FeatureBuilder(ws, signals, lab, window=window, recent=recent)
    end = signals.last_day + 1
    test = day_number(check_day(test_cutoff, "--test-from")) if test_cutoff else end - horizon
    cuts = list(range(test - horizon, signals.first_day + window - 1, -step))[::-1]
    if not cuts:
        raise UserError(f"interactions span {end - signals.first_day} days: too short for a window of {window}, "
                        f"a horizon of {horizon} and a later held-out period of {horizon} days")
    Xs, ys = [], []
    for c in cuts:
        active, X = fb.features(c)
        Xs.append(X)
        ys.append(fb.labels(c, horizon, active))
    X, y = np.concatenate(Xs), np.concatenate(ys)
    if y.sum() < 5 or y.sum() == len(y):
        raise UserError(f"training snapshots hold {int(y.sum())} complainers among {len(y)} customers: "
                        "need both, at least 5 complainers")
    Z = _design(X)
    mean, scale = Z.mean(axis=0), Z.std(axis=0)
    scale[scale == 0] = 1.0
    from sklearn.linear_model import LogisticRegression  # here, not at import: it costs the CLI ~0.8 s
    clf = LogisticRegression(C=C, max_iter=5000).fit((Z - mean) / scale, y)
    model = RiskModel({
        "kind": MODEL_KIND, "version": 1, "features": list(FEATURES),
        "design": "standardised [log1p(x), x] of every feature; logistic regression (L2)", "C": C,
        "mean": mean.tolist(), "scale": scale.tolist(), "coef": clf.coef_[0].tolist(),
        "intercept": float(clf.intercept_[0]),
        "window_days": window, "recent_days": recent, "horizon_days": horizon,
        "training": {"cutoffs": [day_text(c) for c in cuts], "period": [day_text(cuts[0] - window), day_text(test)],
                     "customers": int(len(y)), "complainers": int(y.sum())},
        "labels": str(Path(lab.source).resolve()) if Path(lab.source).is_file() else lab.source,
        "labels_skipped": {"count": len(bad_labels), "rows": bad_labels[:100]},
        "lexicon_sha256": lex.sha256,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    active, Xt = fb.features(test)
    yt = fb.labels(test, horizon, active)
    s_model, s_base = model.score(Xt), keyword_baseline(Xt)
    decile = max(1, int(round(len(yt) * 0.1)))
    metrics = {"held_out": {"cutoff": day_text(test), "period": [day_text(test), day_text(test + horizon - 1)],
                            "customers": int(len(yt)), "complainers": int(yt.sum()),
                            "base_rate": round(float(yt.mean()), 4) if len(yt) else 0.0,
                            "top_decile_size": decile, "k": top_k}}
    for name, s in (("model", s_model), ("keyword_baseline", s_base)):
        metrics[name] = {"precision_at_top_decile": round(precision_at(s, yt, decile), 4),
                         f"precision_at_{top_k}": round(precision_at(s, yt, top_k), 4)}
    order = np.sort(s_model)[::-1]
    model.meta["metrics"] = metrics
    model.meta["tiers"] = {"high": float(order[decile - 1]),
                           "medium": float(order[max(decile, int(round(len(order) * 0.3))) - 1]),
                           "rule": "high: score >= held-out top-decile score; medium: >= top-30% score"}
    path = Path(out) if out else default_model_path(ws)
    model.save(path)
    model.meta["path"] = str(path)
    ws.log_event("risk.train", ids=[], detail={"model": str(path), "metrics": metrics})
    return model


def score_customers(ws, model: str | Path | RiskModel | None = None, as_of: str | None = None,
                    labels: str | Path | None = None, tag: bool = True) -> dict:
    """Score every active customer as of a day (default: the day after the last interaction).

    Earlier complaints come from ``labels``, else the labels file the model was trained with (if
    it is still there), else the complaints table.
    Writes ``customer_risk`` (score, tier, rank, the features used) and, for the high tier, the
    customer tag 高投诉风险 (source ``risk-model``) that prevention reads; customers who left the
    high tier lose that tag. Returns counts per tier.
    """
    m = model if isinstance(model, RiskModel) else RiskModel.load(model or default_model_path(ws))
    store.ensure_tables(ws)
    # earlier complaints must come from the same place as in training, or the feature shifts
    trained_on = m.meta.get("labels")
    if labels:
        lab = read_labels(labels)
    elif trained_on and Path(trained_on).is_file():
        lab = read_labels(trained_on)
    else:
        lab = labels_from_complaints(ws)
    signals = collect_signals(ws)
    fb = FeatureBuilder(ws, signals, lab, window=m.meta["window_days"], recent=m.meta["recent_days"])
    cutoff = day_number(check_day(as_of, "--as-of")) if as_of else signals.last_day + 1
    active, X = fb.features(cutoff)
    scores = m.score(X)
    tiers = m.tier(scores)
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    name = f"{Path(m.meta['path']).name if 'path' in m.meta else 'model'}@{m.meta.get('trained_at', '')}"
    ids = [signals.customers[i] for i in active]
    rows = [(cid, float(s), str(t), int(r), day_text(cutoff), name,
             json.dumps(dict(zip(FEATURES, map(float, x))), ensure_ascii=False), now)
            for cid, s, t, r, x in zip(ids, scores, tiers, rank, X)]
    conn = ws.db.conn
    with ws.transaction():
        conn.execute("DELETE FROM customer_risk")
        conn.executemany("INSERT INTO customer_risk (customer_id, score, tier, rank, as_of, model, features, scored_at) "
                         "VALUES (?,?,?,?,?,?,?,?)", rows)
    high = [cid for cid, t in zip(ids, tiers) if t == "high"]
    tagged = write_risk_tags(ws, high) if tag else {"added": 0, "removed": 0}
    counts = {t: int((tiers == t).sum()) for t in ("high", "medium", "low")}
    result = {"as_of": day_text(cutoff), "customers": len(ids), "tiers": counts, "tag": RISK_TAG, **tagged}
    ws.log_event("risk.score", ids=[], detail=result)
    return result


def write_risk_tags(ws, customers: list[str]) -> dict:
    """Make the 高投诉风险 customer tag (source ``risk-model``) hold exactly for ``customers``.

    Written into the shared ``customer_tags`` table (schema: customer_id, tag, source,
    created_at) in one transaction with one audit event (the store's ``add_tags`` commits per
    call, too slow for thousands of customers). Whether the tag vocabulary
    (complaints_engine/data/tags.yaml) declares the tag is reported back.
    """
    from xiaobao.complaints_engine import store as complaints_store
    complaints_store.ensure_tables(ws)
    try:
        from xiaobao.complaints_engine.tags import load_vocabulary
        declared = RISK_TAG in load_vocabulary().tags
    except Exception:  # vocabulary file missing or broken: keep the table contract anyway
        declared = False
    conn = ws.db.conn
    keep = set(customers)
    current = {r[0] for r in conn.execute("SELECT customer_id FROM customer_tags WHERE tag = ? AND source = ?",
                                          (RISK_TAG, TAG_SOURCE))}
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    added = removed = 0
    with ws.transaction():
        for cid in sorted(current - keep):
            removed += conn.execute("DELETE FROM customer_tags WHERE customer_id = ? AND tag = ? AND source = ?",
                                    (cid, RISK_TAG, TAG_SOURCE)).rowcount
        for cid in sorted(keep - current):
            added += conn.execute("INSERT OR IGNORE INTO customer_tags (customer_id, tag, source, created_at) "
                                  "VALUES (?, ?, ?, ?)", (cid, RISK_TAG, TAG_SOURCE, now)).rowcount
        ws.log_event("tags.set", ids=[], detail={"tag": RISK_TAG, "source": TAG_SOURCE, "added": added,
                                                 "removed": removed, "customers": len(keep)})
    return {"tag_added": added, "tag_removed": removed, "tag_declared_in_vocabulary": declared}


def risk_list(ws, tier: str | None = None, limit: int | None = 50) -> list[dict]:
    """Scored customers, highest risk first."""
    store.ensure_tables(ws)
    sql = "SELECT customer_id, score, tier, rank, as_of, model FROM customer_risk"
    params: list = []
    if tier:
        sql += " WHERE tier = ?"
        params.append(tier)
    sql += " ORDER BY score DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    cur = ws.db.conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
