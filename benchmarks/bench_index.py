"""Index benchmark: exact and automatic-approximate search through the workspace, against NumPy.

1,000,000 synthetic 192-d vectors drawn around 50,000 identities are enrolled through
``Workspace.enroll_batch`` (so SQLite and the FAISS file are part of the build time). Queries are
fresh noisy draws of random identities. For each index we report build time, queries/s through
``Workspace.search`` (the whole stack: FAISS, subject lookup, collapse, decisions), top-1
identity agreement with exact search, and peak memory; the baseline is a plain NumPy
matrix-product top-k over the same matrix in the same process, and the ratio is printed.

    .venv/bin/python benchmarks/bench_index.py [--n 1000000] [--identities 50000] [--queries 2000]
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from xiaobao import Workspace  # noqa: E402
from xiaobao.index.faiss_store import build_index  # noqa: E402

SPACE = "voice/bench@1"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_data(n, identities, dim, queries, noise, seed=0):
    rng = np.random.default_rng(seed)
    centers = unit(rng.standard_normal((identities, dim)).astype(np.float32))
    labels = np.arange(n) % identities
    vectors = np.empty((n, dim), np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        vectors[s:e] = unit(centers[labels[s:e]] + noise * rng.standard_normal((e - s, dim)).astype(np.float32) / np.sqrt(dim))
    q_labels = rng.integers(0, identities, queries)
    q = unit(centers[q_labels] + noise * rng.standard_normal((queries, dim)).astype(np.float32) / np.sqrt(dim))
    return vectors, labels, q, q_labels


def numpy_top1(matrix: np.ndarray, q: np.ndarray, chunk: int = 64) -> np.ndarray:
    out = np.empty(len(q), np.int64)
    for s in range(0, len(q), chunk):
        scores = q[s:s + chunk] @ matrix.T
        out[s:s + chunk] = np.argmax(scores, axis=1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--identities", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=192)
    ap.add_argument("--queries", type=int, default=2000)
    # 0.75: two samples of one identity have cosine ~0.64, as with speaker or face embeddings of
    # one person; 1.0 (cosine ~0.5) is a harder stress setting.
    ap.add_argument("--noise", type=float, default=0.75, help="per-vector noise norm relative to the identity centre")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    vectors, labels, q, q_labels = make_data(args.n, args.identities, args.dim, args.queries, args.noise)
    result: dict = {"n": args.n, "identities": args.identities, "dim": args.dim, "queries": args.queries,
                    "noise": args.noise}

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        ws.ensure_space(SPACE, args.dim)
        t0 = time.perf_counter()
        subject_ids = np.empty(args.identities, np.int64)
        with ws.transaction():
            for i in range(args.identities):
                subject_ids[i] = ws.conn.execute(
                    "INSERT INTO subjects (name, kind, created_at, updated_at) VALUES (?, 'agent', '', '')",
                    (f"id{i}",)).lastrowid
        # Enrolment in batches of 200,000: every batch is one transaction and one index write.
        for s in range(0, args.n, 200_000):
            e = min(args.n, s + 200_000)
            ws.enroll_batch(SPACE, [{"subject_id": int(subject_ids[labels[i]]), "vector": vectors[i],
                                     "sha256": f"v{i}"} for i in range(s, e)])
        build_auto = time.perf_counter() - t0
        stats = ws.stats()[0]
        import faiss
        auto_index = ws.store._current(SPACE).index
        result["auto"] = {"index_type": stats["index_type"], "build_s": round(build_auto, 1),
                          "nprobe": int(faiss.extract_index_ivf(auto_index).nprobe) if stats["index_type"] != "flat-ip" else None,
                          "file_mb": round(stats["file_bytes"] / 2**20, 1), "peak_rss_mb": round(peak_rss_mb())}

        # Exact index over the same registry rows, for agreement and as xiaobao's exact mode.
        t0 = time.perf_counter()
        ids, reg_vectors = ws._vectors_from_registry(SPACE)
        exact = build_index(args.dim, ids, reg_vectors, approx_threshold=10**12)
        result["exact"] = {"index_type": exact.kind, "build_s": round(time.perf_counter() - t0, 1)}
        sample_to_identity = dict(zip(ids.tolist(), labels.tolist()))

        # xiaobao exact search (FAISS flat) — raw index call, identity of top-1
        t0 = time.perf_counter()
        _, ex_ids = exact.index.search(q, 1)
        exact_s = time.perf_counter() - t0
        exact_ident = np.array([sample_to_identity[int(i)] for i in ex_ids[:, 0]])
        result["exact"].update({"qps": round(len(q) / exact_s, 1),
                                "top1_correct_identity": round(float(np.mean(exact_ident == q_labels)), 4),
                                "peak_rss_mb": round(peak_rss_mb())})
        del exact

        # xiaobao automatic index through the full search stack (warm the cache first)
        ws.search(SPACE, q[:10], k=1, log=False)
        t0 = time.perf_counter()
        hits = ws.search(SPACE, q, k=1)
        auto_s = time.perf_counter() - t0
        subj_to_identity = {int(s): i for i, s in enumerate(subject_ids)}
        auto_ident = np.array([subj_to_identity[h[0].subject_id] for h in hits])
        result["auto"].update({"qps": round(len(q) / auto_s, 1),
                               "top1_agreement_with_exact": round(float(np.mean(auto_ident == exact_ident)), 4),
                               "top1_correct_identity": round(float(np.mean(auto_ident == q_labels)), 4),
                               "peak_rss_mb": round(peak_rss_mb())})
        ws.close()

    # NumPy baseline: the same matrix, a plain matrix product and argmax per query.
    numpy_q = q[: min(len(q), 500)]
    t0 = time.perf_counter()
    np_top = numpy_top1(vectors, numpy_q)
    np_s = time.perf_counter() - t0
    result["numpy_baseline"] = {"qps": round(len(numpy_q) / np_s, 1),
                                "top1_correct_identity": round(float(np.mean(labels[np_top] == q_labels[:len(numpy_q)])), 4)}
    result["ratio_auto_vs_numpy_qps"] = round(result["auto"]["qps"] / result["numpy_baseline"]["qps"], 1)
    result["ratio_exact_vs_numpy_qps"] = round(result["exact"]["qps"] / result["numpy_baseline"]["qps"], 1)
    result["floor"] = "auto >= 20x numpy qps at >= 0.99 top-1 agreement"
    result["floor_met"] = bool(result["ratio_auto_vs_numpy_qps"] >= 20 and result["auto"]["top1_agreement_with_exact"] >= 0.99)
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
