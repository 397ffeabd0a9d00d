"""Scale-out benchmark: the Milvus backend against FAISS files, and Ray screening against in-process.

(a) Vector stores: the same N synthetic 192-d vectors (around N/20 identities) enrolled through
    ``Workspace.enroll_batch`` into a FAISS workspace and a Milvus Lite workspace; queries/s
    through ``Workspace.search``, top-1 identity agreement between the two backends and with exact
    (NumPy) search, enrolment time, and memory (this process plus Milvus Lite's server process).
(b) Screening: S synthetic complaints screened in-process and with ``--ray`` on a local Ray
    (this machine's cores) in the same run; complaints/s of each, their ratio, and whether the
    results (scores, tiers, rings) are identical.

    .venv/bin/python benchmarks/bench_scale.py [--n 1000000] [--queries 500] [--complaints 20000] [--skip-vectors|--skip-screen]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import make_data, numpy_top1  # noqa: E402

from xiaobao import Workspace  # noqa: E402

SPACE = "voice/bench@1"


def tree_rss_mb() -> float:
    """RSS of this process and its children (Milvus Lite runs its engine in a child process)."""
    me = psutil.Process()
    return round(sum(p.memory_info().rss for p in [me, *me.children(recursive=True)]) / 2**20)


def bench_store(spec: str, vectors, labels, q, identities: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws", vector_store=spec)
        ws.ensure_space(SPACE, vectors.shape[1])
        with ws.transaction():
            subject_ids = np.asarray([ws.conn.execute(
                "INSERT INTO subjects (name, kind, created_at, updated_at) VALUES (?, 'agent', '', '')",
                (f"id{i}",)).lastrowid for i in range(identities)])
        t0 = time.perf_counter()
        for s in range(0, len(vectors), 200_000):
            e = min(len(vectors), s + 200_000)
            ws.enroll_batch(SPACE, [{"subject_id": int(subject_ids[labels[i]]), "vector": vectors[i],
                                     "sha256": f"v{i}"} for i in range(s, e)])
        enrol_s = time.perf_counter() - t0
        ws.search(SPACE, q[:5], k=1, log=False)
        t0 = time.perf_counter()
        hits = ws.search(SPACE, q, k=1, log=False)
        search_s = time.perf_counter() - t0
        ident = {int(s): i for i, s in enumerate(subject_ids)}
        top = np.asarray([ident[h[0].subject_id] if h else -1 for h in hits])
        out = {"store": spec, "index_type": ws.stats()[0]["index_type"], "enrol_s": round(enrol_s, 1),
               "enrol_per_s": round(len(vectors) / enrol_s), "qps": round(len(q) / search_s, 1),
               "rss_mb_with_children": tree_rss_mb()}
        ws.close()
        return out, top


def bench_vectors(args) -> dict:
    identities = max(1, args.n // 20)
    vectors, labels, q, q_labels = make_data(args.n, identities, 192, args.queries, 0.75)
    exact_top = labels[numpy_top1(vectors, q)]
    faiss_res, faiss_top = bench_store("faiss", vectors, labels, q, identities)
    milvus_res, milvus_top = bench_store("milvus-lite:milvus.db", vectors, labels, q, identities)
    return {
        "n": args.n, "identities": identities, "queries": args.queries,
        "faiss": {**faiss_res, "top1_agreement_with_exact": round(float(np.mean(faiss_top == exact_top)), 4)},
        "milvus_lite": {**milvus_res, "top1_agreement_with_exact": round(float(np.mean(milvus_top == exact_top)), 4)},
        "top1_agreement_between_backends": round(float(np.mean(faiss_top == milvus_top)), 4),
        "qps_ratio_milvus_lite_vs_faiss": round(milvus_res["qps"] / faiss_res["qps"], 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--complaints", type=int, default=20_000)
    ap.add_argument("--skip-vectors", action="store_true")
    ap.add_argument("--skip-screen", action="store_true")
    args = ap.parse_args()
    result: dict = {}
    if not args.skip_vectors:
        result["vector_stores"] = bench_vectors(args)
        print(json.dumps(result["vector_stores"]), flush=True)
    if not args.skip_screen:
        from bench_scale_screen import bench_screen  # noqa: E402

        result["screen"] = bench_screen(args.complaints)
        print(json.dumps(result["screen"]), flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
