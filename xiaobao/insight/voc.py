"""Voice of customer: the demand (诉求), willingness to repay and reason for dissatisfaction of
every interaction and complaint, and their distributions per period, channel and product.

Method without labels: the lexicons in data/lexicon.yaml. A customer turn (for a complaint, its
whole text) counts one hit for each label whose phrases it contains; the label with most hits
wins, ties going to the label listed first; no hit means no label ("").

With labelled examples (a CSV with ``text`` and any of ``demand``, ``willingness``, ``reason``;
诉求/还款意愿/不满原因 also accepted; an empty cell means "none"): per field, a character
1–3-gram TF-IDF + logistic-regression classifier is trained; it decides where its probability
is at least ``min_confidence`` and the lexicon decides elsewhere. Its 5-fold cross-validated
accuracy is reported next to the lexicon's on the same examples, so the user sees whether the
labels helped. The classifier only chooses among the labels it was shown: a lexicon label the
examples never contain is kept, and unless the examples include texts labelled "none" (an empty
cell or 无) it cannot tell "no demand" apart, so it then only relabels texts the lexicon labelled.
"""
from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xiaobao.errors import InputError, UserError
from xiaobao.insight import store
from xiaobao.insight.lexicon import LABELLED, Lexicon, load_lexicon
from xiaobao.insight.quality import _fold, _range_sql
from xiaobao.insight.records import parse_turns

FIELDS = {"demands": "demand", "willingness": "willingness", "reasons": "reason"}
NONE_LABELS = ("无", "none", "-")   # written for "no label" in labelled examples, as the tables show it
_COLUMN_ALIASES = {"demand": ("demand", "诉求"), "willingness": ("willingness", "还款意愿", "意愿"),
                   "reason": ("reason", "不满原因", "原因"), "text": ("text", "内容", "文本")}


def customer_text(text: str, direction: str | None) -> str:
    """The customer's own words: turns marked 客户, or unmarked turns of a record we did not start."""
    turns = parse_turns(text)
    if any(t.speaker for t in turns):
        return "\n".join(t.text for t in turns if t.speaker == "customer"
                         or (t.speaker is None and direction != "outbound"))
    return text if direction != "outbound" else ""


def lexicon_labels(text: str, lex: Lexicon) -> dict[str, str]:
    """{demand, willingness, reason} -> label ('' when nothing matched), by lexicon hits."""
    s = _fold(text)
    out = {}
    for group, name in FIELDS.items():
        best, best_n = "", 0
        for label, pat in lex.groups[group].items():
            n = len(pat.findall(s))
            if n > best_n:
                best, best_n = label, n
        out[name] = best
    return out


def read_voc_labels(path: str | Path) -> dict[str, tuple[list[str], list[str]]]:
    """Field -> (texts, labels) from a labelled-examples CSV (see module doc)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower(): c for c in reader.fieldnames or []}
        found = {f: next((cols[a] for a in aliases if a in cols), None) for f, aliases in _COLUMN_ALIASES.items()}
        if not found["text"] or not any(found[f] for f in FIELDS.values()):
            raise InputError(path, "labelled examples need a text column and one of demand, willingness, reason",
                             line=1)
        out: dict[str, tuple[list[str], list[str]]] = {f: ([], []) for f in FIELDS.values() if found[f]}
        for row in reader:
            text = (row.get(found["text"]) or "").strip()
            if not text:
                continue
            for f in out:
                out[f][0].append(text)
                label = (row.get(found[f]) or "").strip()
                out[f][1].append("" if label in NONE_LABELS else label)
    return out


@dataclass
class FieldClassifier:
    """Character n-gram classifier for one field, used above ``min_confidence``."""
    field: str
    pipeline: object
    min_confidence: float
    cv_accuracy: float
    lexicon_accuracy: float
    n_examples: int
    labels: list[str] = field(default_factory=list)

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        proba = self.pipeline.predict_proba(texts)
        classes = self.pipeline.classes_
        best = proba.argmax(axis=1)
        return [(str(classes[b]), float(proba[i, b])) for i, b in enumerate(best)]


def train_classifiers(examples: dict[str, tuple[list[str], list[str]]], lex: Lexicon | None = None,
                      min_confidence: float = 0.5) -> dict[str, FieldClassifier]:
    """One classifier per labelled field, with its cross-validated accuracy and the lexicon's."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    lex = lex or load_lexicon()
    out = {}
    for name, (texts, labels) in examples.items():
        counts = Counter(labels)
        if len(counts) < 2 or len(texts) < 10:
            raise UserError(f"labelled examples for {name}: need 10+ rows and 2+ labels, got {len(texts)} "
                            f"rows and labels {sorted(counts)}")
        make = lambda: make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
                                     LogisticRegression(C=10.0, max_iter=2000))
        folds = min(5, min(counts.values()))
        if folds >= 2:
            pred = cross_val_predict(make(), texts, labels, cv=StratifiedKFold(folds, shuffle=True, random_state=0))
            cv = float(np.mean(np.asarray(pred) == np.asarray(labels)))
        else:
            cv = float("nan")
        lexicon_pred = [lexicon_labels(t, lex)[name] for t in texts]
        lexicon_acc = float(np.mean([a == b for a, b in zip(lexicon_pred, labels)]))
        pipe = make().fit(texts, labels)
        out[name] = FieldClassifier(name, pipe, min_confidence, cv, lexicon_acc, len(texts), sorted(counts))
    return out


def analyse_texts(items: list[tuple[str, str | None]], lex: Lexicon | None = None,
                  classifiers: dict[str, FieldClassifier] | None = None) -> list[dict]:
    """Labels for (text, direction) pairs: the customer's words, lexicon first, classifier where confident."""
    lex = lex or load_lexicon()
    words = [customer_text(t, d) for t, d in items]
    out = [dict(lexicon_labels(w, lex), method="lexicon") for w in words]
    for name, clf in (classifiers or {}).items():
        idx = [i for i, w in enumerate(words) if w.strip()]
        if not idx:
            continue
        knows_none = "" in clf.labels
        for i, (label, p) in zip(idx, clf.predict([words[i] for i in idx])):
            found = out[i][name]
            if p < clf.min_confidence or (found and found not in clf.labels) or (not found and not knows_none):
                continue   # the examples never showed this case: the lexicon's answer stands
            out[i][name] = label
            out[i]["method"] = "classifier"
    return out


def _group_key(row: dict, dim: str, period: str) -> str:
    if dim == "period":
        at = row["at"] or ""
        return at[:7] if period == "month" else at[:10] if period == "day" else at[:4]
    return row.get(dim) or ""


def voice_of_customer(ws, date_from: str | None = None, date_to: str | None = None, *,
                      labels: str | Path | None = None, period: str = "month",
                      dims: tuple[str, ...] = ("period", "channel", "product"), complaints: bool = True,
                      batch: int = 5000) -> dict:
    """Demand / willingness / reason for every interaction (stored in ``interaction_voc``) and
    complaint in the range, with their distributions per period, channel and product."""
    if period not in ("day", "month", "year"):
        raise UserError("--period must be day, month or year")
    store.ensure_tables(ws)
    lex = load_lexicon()
    classifiers = train_classifiers(read_voc_labels(labels), lex) if labels else {}
    dist: dict = {f: {d: defaultdict(Counter) for d in dims} for f in FIELDS.values()}
    totals = Counter()
    conn = ws.db.conn
    where, params = _range_sql(date_from, date_to)
    cur = conn.execute(f"SELECT id, at, channel, product, direction, text FROM interactions{where} ORDER BY id", params)
    while True:
        rows = cur.fetchmany(batch)
        if not rows:
            break
        recs = [dict(zip(("id", "at", "channel", "product", "direction", "text"), r)) for r in rows]
        results = analyse_texts([(r["text"], r["direction"]) for r in recs], lex, classifiers)
        with ws.transaction():
            conn.executemany("INSERT OR REPLACE INTO interaction_voc (interaction_id, demand, willingness, reason, method) "
                             "VALUES (?,?,?,?,?)", [(r["id"], x["demand"], x["willingness"], x["reason"], x["method"])
                                                   for r, x in zip(recs, results)])
        _count(dist, recs, results, dims, period, "interaction")
        totals["interactions"] += len(recs)
    if complaints and store.table_exists(ws, "complaints"):
        where_c, params_c = _range_sql(date_from, date_to, "received_at")
        rows = conn.execute(f"SELECT received_at, channel, business_line, text FROM complaints{where_c}", params_c).fetchall()
        recs = [{"at": r[0], "channel": r[1], "product": r[2], "text": r[3] or "", "direction": "inbound"} for r in rows]
        for i in range(0, len(recs), batch):
            part = recs[i:i + batch]
            _count(dist, part, analyse_texts([(r["text"], None) for r in part], lex, classifiers), dims, period,
                   "complaint")
        totals["complaints"] += len(recs)
    result = {
        "from": date_from, "to": date_to, "interactions": totals["interactions"], "complaints": totals["complaints"],
        "method": {"lexicon": lex.path, "classifiers": {n: {"examples": c.n_examples, "labels": c.labels,
                                                              "cv_accuracy": round(c.cv_accuracy, 4),
                                                              "lexicon_accuracy": round(c.lexicon_accuracy, 4)}
                                                          for n, c in classifiers.items()}},
        "distributions": {f: {d: {g: dict(c) for g, c in sorted(groups.items())} for d, groups in per.items()}
                          for f, per in dist.items()},
    }
    ws.log_event("voc.run", ids=[], detail={k: result[k] for k in ("from", "to", "interactions", "complaints")})
    return result


def _count(dist, recs, results, dims, period, source) -> None:
    for r, x in zip(recs, results):
        for f in FIELDS.values():
            label = x[f] or "无"
            for d in dims:
                dist[f][d][f"{source}:{_group_key(r, d, period)}"][label] += 1


def distribution_rows(result: dict) -> list[dict]:
    """The distributions flattened for a table: field, dimension, source, group, label, count, share."""
    rows = []
    for f, per in result["distributions"].items():
        for d, groups in per.items():
            for g, counts in groups.items():
                source, _, group = g.partition(":")
                n = sum(counts.values())
                for label, c in sorted(counts.items(), key=lambda kv: -kv[1]):
                    rows.append({"field": f, "by": d, "source": source, "group": group, "label": label,
                                 "count": c, "share": round(c / n, 4)})
    return rows
