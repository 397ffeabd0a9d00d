"""Same-author linkage on the gov messages: which signals help, and how far they can go.

    .venv/bin/python benchmarks/bench_text_authors.py            # about 40 s, 2 GB of memory
    .venv/bin/python benchmarks/bench_text_authors.py --seeds 1  # faster, one author split

Protocol (the one ``xiaobao eval text-authors`` runs): every letter whose author (留言用户) wrote
>= 3 letters is a query (774 queries), all 4,326 other letters are candidates, ``top1`` = the
nearest other letter has the same author. Everything below is measured in this run:

1. single views, sublinear TF-IDF cosine each: characters 1-3 (the off-the-shelf reference) and
   2-4, words + word bigrams (jieba, when installed), a formatting view (Han runs folded to one
   symbol, so only digits, latin, full-width forms and punctuation remain), letter edges (first
   and last 20 characters: salutations and sign-offs);
2. fixed-weight fusions of per-query z-scored views (no weight is tuned on the data);
3. re-ranking without labels: query expansion and symmetric (CSLS-like) scores;
4. submission time (留言时间) as an extra signal - metadata a bank would have at screening time;
5. a learned re-ranker on DISJOINT authors: logistic regression over pair features of the top-20
   candidates (z-scores and cosines of the views both ways, mutual ranks, lengths), trained on the
   queries of half the authors and measured on the other half, both folds, several splits;
6. within-author whitening (WCCN, as in speaker verification) of a 400-dim SVD of chars 1-3,
   the within-author scatter learned on half the authors, measured on the other half;
7. the ceiling: where the first same-author letter sits in the best fused ranking (recall@k), and
   how many misses have a near-copy (cosine > 0.9) written under another author id.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xiaobao.text_fingerprint.csvio import read_text_csv  # noqa: E402

GOV = ROOT.parent / "shared" / "data" / "text" / "zh_gov_messages" / "gov_messages_attachment3.csv"


def formatting(text: str) -> str:
    """A letter with its Chinese wording removed: what is left is layout and punctuation habit."""
    out = []
    for ch in text:
        if "\u4e00" <= ch <= "\u9fff":
            out.append("H")
        elif ch.isdigit():
            out.append("0" if ch.isascii() else "F")  # full-width digits are a habit
        elif ch.isalpha():
            out.append("L" if ch.isascii() else "W")
        else:
            out.append(ch)
    return re.sub("H+", "H", "".join(out))


def full_cosines(docs, **kw) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = TfidfVectorizer(sublinear_tf=True, dtype=np.float32, **kw).fit_transform(docs)
    s = (x @ x.T).toarray().astype(np.float32)
    np.fill_diagonal(s, np.nan)  # a letter never ranks itself
    return s


def zrows(s: np.ndarray) -> np.ndarray:
    return (s - np.nanmean(s, 1, keepdims=True)) / (np.nanstd(s, 1, keepdims=True) + 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default=str(GOV))
    ap.add_argument("--seeds", type=int, default=3, help="author splits for the learned re-ranker")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows, _ = read_text_csv(args.csv, "留言详情", "留言用户")
    texts = [r["留言详情"] for r in rows]
    lab = np.asarray([r["留言用户"] for r in rows])
    counts = Counter(lab.tolist())
    q = np.array([i for i, a in enumerate(lab) if counts[a] >= 3])
    out: dict = {"n_texts": len(texts), "n_queries": int(len(q))}

    def top1(s: np.ndarray) -> float:
        s = np.nan_to_num(s[q] if s.shape[0] == len(texts) else s, nan=-1e9).copy()
        s[np.arange(len(q)), q] = -1e9
        return round(float(np.mean(lab[s.argmax(1)] == lab[q])), 4)

    views = {"chars 1-3 (reference)": full_cosines(texts, analyzer="char", ngram_range=(1, 3)),
             "chars 2-4": full_cosines(texts, analyzer="char", ngram_range=(2, 4)),
             "formatting 1-4": full_cosines([formatting(t) for t in texts], analyzer="char", ngram_range=(1, 4)),
             "edges 20+20": full_cosines([t[:20] + "|" + t[-20:] for t in texts], analyzer="char", ngram_range=(1, 3))}
    try:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)

        def words(tokens):
            w = [t for t in tokens if t.strip()]
            return w + [a + "_" + b for a, b in zip(w, w[1:])]

        views["words 1-2 (jieba)"] = full_cosines([jieba.lcut(t) for t in texts], analyzer=words)
    except ImportError:
        out["note"] = "jieba not installed: word view skipped (pip install jieba)"
    out["views"] = {k: top1(v) for k, v in views.items()}
    from xiaobao.text_fingerprint.authors import evaluate_authors

    out["views"]["text/char-ngram@1 (the enrolled space)"] = evaluate_authors(texts, lab.tolist())["top1"]
    print(json.dumps(out, ensure_ascii=False), flush=True)

    z = {k: zrows(v) for k, v in views.items()}
    word = "words 1-2 (jieba)" if "words 1-2 (jieba)" in z else "chars 2-4"
    best = z["chars 1-3 (reference)"] + z[word]
    out["fusions"] = {
        f"z chars 1-3 + z {word}": top1(best),
        "... + 0.2 z formatting": top1(best + 0.2 * z["formatting 1-4"]),
        "... + 0.2 z edges": top1(best + 0.2 * z["edges 20+20"]),
        "... + 0.2 z formatting + 0.2 z edges": top1(best + 0.2 * z["formatting 1-4"] + 0.2 * z["edges 20+20"]),
    }
    bn = np.nan_to_num(best, nan=0.0)
    order = np.argsort(-np.nan_to_num(best, nan=-1e9), 1)
    rerank = {"symmetric (row z + column z)": top1(best + best.T)}
    for m in (1, 3, 5):
        rerank[f"query expansion, {m} nearest, weight 0.3"] = top1(bn[q] + 0.3 * bn[order[q, :m]].mean(1))
    out["rerank_without_labels"] = rerank
    import pandas as pd

    when = {r["line"]: r["留言时间"] for r in read_text_csv(args.csv, "留言时间")[0]}
    stamp = pd.to_datetime(pd.Series([when.get(r["line"], "") for r in rows]), format="mixed", errors="coerce")
    out["submission_time_missing"] = int(stamp.isna().sum())
    days = ((stamp - stamp.min()).dt.total_seconds() / 86400).to_numpy()
    gap = np.nan_to_num(np.abs(days[:, None] - days[None, :]), nan=1e6)
    out["submission_time"] = {"time alone (nearest in time)": top1(-gap + np.where(np.eye(len(texts)), np.nan, 0)),
                              **{f"fusion + {a} exp(-days/1)": top1(best + a * np.exp(-gap)) for a in (0.3, 1.0, 3.0)}}
    del gap  # 150 MB; a letter with no time is 1e6 days from every other
    print(json.dumps({k: out[k] for k in ("fusions", "rerank_without_labels", "submission_time")}, ensure_ascii=False), flush=True)

    out["learned_reranker_disjoint_authors"] = learned(views, z, best, order, lab, q, texts, args.seeds)
    print(json.dumps(out["learned_reranker_disjoint_authors"]), flush=True)

    out["within_author_whitening_disjoint_authors"] = whitening(texts, lab, q, args.seeds)
    print(json.dumps(out["within_author_whitening_disjoint_authors"]), flush=True)

    ranked = order[q, :100]
    same = lab[ranked] == lab[q][:, None]
    first = np.where(same.any(1), same.argmax(1), 10**6)
    c = np.nan_to_num(views["chars 1-3 (reference)"][q], nan=-1.0)
    miss = first > 0
    other = c.copy()
    other[lab[None, :].repeat(len(q), 0) == lab[q][:, None]] = -1.0
    out["ceiling"] = {
        "recall_at_k of the best fusion": {k: round(float(np.mean(first < k)), 4) for k in (1, 2, 3, 5, 10, 20, 50, 100)},
        "misses": int(miss.sum()),
        "misses with a near-copy (chars cosine > 0.9) under another author id": int(np.sum(other[miss].max(1) > 0.9)),
        "misses whose best same-author chars cosine < 0.1": int(np.sum(np.where(
            lab[None, :] == lab[q][:, None], c, -1.0)[miss].max(1) < 0.1)),
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, ensure_ascii=False, indent=1))


def whitening(texts, lab, q, seeds: int, dim: int = 400) -> dict:
    """Speaker-verification style metric: a 400-dim SVD of chars 1-3 TF-IDF, whitened by the
    within-author scatter of the training half's authors (WCCN), cosine on the other half."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = TfidfVectorizer(sublinear_tf=True, analyzer="char", ngram_range=(1, 3), min_df=2).fit_transform(texts)
    u = TruncatedSVD(dim, random_state=0).fit_transform(x)
    u /= np.linalg.norm(u, axis=1, keepdims=True)

    def top1(v, rows):
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        s = v[rows] @ v.T
        s[np.arange(len(rows)), rows] = -9.0
        return round(float(np.mean(lab[s.argmax(1)] == lab[rows])), 4)

    authors = sorted(set(lab[q].tolist()))
    res = []
    for seed in range(seeds):
        a = list(authors)
        np.random.default_rng(seed).shuffle(a)
        halves = (set(a[: len(a) // 2]), set(a[len(a) // 2:]))
        for fold in (0, 1):
            test = np.array([i for i in q if lab[i] in halves[1 - fold]])
            sw = np.zeros((dim, dim))
            for author in halves[fold]:
                d = u[lab == author] - u[lab == author].mean(0)
                sw += d.T @ d
            w, vecs = np.linalg.eigh(sw + np.trace(sw) / dim * np.eye(dim))  # shrunk to keep it invertible
            res.append({"seed": seed, "test_fold": 1 - fold, "n_test_queries": len(test),
                        "top1_svd": top1(u, test), "top1_svd_whitened": top1(u @ (vecs / np.sqrt(w)), test)})
    return {"runs": res, "mean_top1_svd": round(float(np.mean([r["top1_svd"] for r in res])), 4),
            "mean_top1_svd_whitened": round(float(np.mean([r["top1_svd_whitened"] for r in res])), 4)}


def learned(views, z, best, order, lab, q, texts, seeds: int, k: int = 20) -> dict:
    """Logistic regression on pair features of the top-k candidates, trained and tested on disjoint authors."""
    from sklearn.linear_model import LogisticRegression

    n = len(texts)
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(n)[None, :]
    loglen = np.log([max(len(t), 1) for t in texts])
    names = [n for n in views if n != "edges 20+20"]

    def feats(i):
        js = order[i, :k]
        f = [z[v][i, js] for v in names] + [z[v][js, i] for v in names] + [views[v][i, js] for v in names]
        f += [np.log1p(rank[i, js]), np.log1p(rank[js, i]), np.abs(loglen[i] - loglen[js]), loglen[js]]
        return np.nan_to_num(np.stack(f, 1)), js

    authors = sorted(set(lab[q].tolist()))
    res = []
    for seed in range(seeds):
        a = list(authors)
        np.random.default_rng(seed).shuffle(a)
        halves = (set(a[: len(a) // 2]), set(a[len(a) // 2:]))
        for fold in (0, 1):
            train = [i for i in q if lab[i] in halves[fold]]
            test = [i for i in q if lab[i] in halves[1 - fold]]
            xs, ys = zip(*[(x, lab[js] == lab[i]) for i in train for x, js in [feats(i)]])
            model = LogisticRegression(max_iter=2000).fit(np.concatenate(xs), np.concatenate(ys))
            hit, base = [], []
            for i in test:
                x, js = feats(i)
                hit.append(lab[js[model.predict_proba(x)[:, 1].argmax()]] == lab[i])
                base.append(lab[js[0]] == lab[i])
            res.append({"seed": seed, "test_fold": 1 - fold, "n_test_queries": len(test),
                        "top1_learned": round(float(np.mean(hit)), 4), "top1_fixed_fusion": round(float(np.mean(base)), 4)})
    return {"runs": res,
            "mean_top1_learned": round(float(np.mean([r["top1_learned"] for r in res])), 4),
            "mean_top1_fixed_fusion": round(float(np.mean([r["top1_fixed_fusion"] for r in res])), 4)}


if __name__ == "__main__":
    main()
