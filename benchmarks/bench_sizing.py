"""Per-item storage and time costs, the inputs of the sizing in docs/scale.md.

Measures on this machine, with the real code paths:

* watchlist samples: registry bytes per sample (SQLite, vector blob included) and index bytes per
  vector, for the FAISS file (flat and IVF) and for Milvus Lite, at the dimensions of our spaces
  (128 face, 192 ECAPA, 256 GE2E, 384 sentence model, 4096 letters' character n-grams); enrolment samples/s;
* complaints: bytes per complaint in the registry after ingest and after screening (features,
  artifacts, tags, matches, rings), and complaints/s for each step;
* interactions: bytes per call/chat record after ingest, rows/s;
* models: resident memory a worker adds by loading each embedder (the cost of one Ray actor).

Each figure is a difference of file sizes before and after, divided by the items added, so it
includes SQLite's indexes and page overhead.

    .venv/bin/python benchmarks/bench_sizing.py [--samples 100000] [--complaints 5000] [--interactions 50000]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import xiaobao  # noqa: E402
from xiaobao import Workspace  # noqa: E402


def du(path: Path) -> int:
    """Bytes on disk under ``path`` (a file or a folder), SQLite's WAL and shm files included."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def registry_bytes(ws: Workspace) -> int:
    ws.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(du(p) for p in ws.home.glob("registry.db*"))


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def samples(n: int, dim: int, spec: str, approx_threshold: int | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        kwargs = {"vector_store": spec, "approx_threshold": approx_threshold}
        ws = Workspace(Path(tmp) / "ws", **kwargs)
        space = f"voice/size{dim}@1"
        ws.ensure_space(space, dim)
        people = max(1, n // 10)
        with ws.transaction():
            sids = [ws.conn.execute("INSERT INTO subjects (name, kind, created_at, updated_at) "
                                    "VALUES (?, 'agent', '', '')", (f"agent {i}",)).lastrowid for i in range(people)]
        reg0, idx0 = registry_bytes(ws), du(ws.home) - registry_bytes(ws)
        vectors = unit_vectors(n, dim, dim)
        t0 = time.perf_counter()
        for s in range(0, n, 50_000):
            ws.enroll_batch(space, [{"subject_id": sids[i % people], "vector": vectors[i], "sha256": f"{i:064x}",
                                     "source_uri": f"calls/2026/11/{i:09d}.wav"}
                                    for i in range(s, min(n, s + 50_000))])
        secs = time.perf_counter() - t0
        index_type = ws.stats()[0]["index_type"]
        ws.close()
        ws = Workspace(Path(tmp) / "ws", **kwargs)
        reg = registry_bytes(ws) - reg0
        index = du(ws.home) - registry_bytes(ws) - idx0
        ws.close()
        return {"store": spec, "dim": dim, "n": n, "index_type": index_type,
                "registry_bytes_per_sample": round(reg / n), "index_bytes_per_vector": round(index / n),
                "enrol_per_s": round(n / secs)}


def complaints(n: int) -> dict:
    from xiaobao.complaints_engine.synth import generate, write_records
    records, _truth = generate(n, rings=max(1, n // 250), seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.jsonl"
        write_records(records, path)
        ws = Workspace(Path(tmp) / "ws")
        base = registry_bytes(ws)
        t0 = time.perf_counter()
        xiaobao.ingest(ws, path)
        t1 = time.perf_counter()
        after_ingest = registry_bytes(ws)
        xiaobao.screen(ws)
        t2 = time.perf_counter()
        after_screen = du(ws.home)
        ws.close()
        return {"n": n, "input_bytes_per_complaint": round(path.stat().st_size / n),
                "registry_bytes_per_complaint_ingested": round((after_ingest - base) / n),
                "workspace_bytes_per_complaint_screened": round((after_screen - base) / n),
                "ingest_per_s": round(n / (t1 - t0)), "screen_per_s": round(n / (t2 - t1))}


def interactions(n: int) -> dict:
    from xiaobao.insight.ingest import ingest_interactions
    from xiaobao.insight.synth import SynthParams, synth_interactions
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "interactions.csv"
        synth_interactions(data, SynthParams(n_interactions=n, seed=5))
        ws = Workspace(Path(tmp) / "ws")
        base = registry_bytes(ws)
        t0 = time.perf_counter()
        rep = ingest_interactions(ws, data)
        secs = time.perf_counter() - t0
        grown = registry_bytes(ws) - base
        ws.close()
        return {"n": rep.rows, "input_bytes_per_interaction": round(data.stat().st_size / rep.rows),
                "registry_bytes_per_interaction": round(grown / rep.rows), "ingest_per_s": round(rep.rows / secs)}


MODEL_PROBE = """
import os, sys, psutil, numpy as np
me = psutil.Process()
base = me.memory_info().rss
which = sys.argv[1]
if which == "voice/resemblyzer":
    from xiaobao.voiceprint.embedders import get_embedder
    e = get_embedder("resemblyzer")
    e.embed([np.random.default_rng(0).standard_normal(16000 * 5).astype(np.float32) * 0.1])
elif which == "face/dlib-resnet":
    from xiaobao.video.embedder import DlibFaceEmbedder
    e = DlibFaceEmbedder()
    from skimage import data  # a real face photo shipped in the wheel
    e.embed([data.astronaut()])
elif which == "text/char-ngram":
    from xiaobao.text_fingerprint.embedders import CharNgramEmbedder
    CharNgramEmbedder().embed(["本人因债务问题委托律师事务所协商还款"] * 8)
print(round((me.memory_info().rss - base) / 2**20), round(me.memory_info().rss / 2**20))
"""


def model_memory() -> list[dict]:
    """Resident memory a worker adds by loading each model once (what a Ray actor costs)."""
    import subprocess
    out = []
    for which in ("voice/resemblyzer", "face/dlib-resnet", "text/char-ngram"):
        res = subprocess.run([sys.executable, "-c", MODEL_PROBE, which], capture_output=True, text=True,
                             cwd=str(Path(__file__).resolve().parents[1]))
        if res.returncode:
            out.append({"model": which, "error": res.stderr.strip().splitlines()[-1:]})
            continue
        added, total = res.stdout.split()[-2:]
        out.append({"model": which, "rss_added_mib": int(added), "process_rss_mib": int(total)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--complaints", type=int, default=5_000)
    ap.add_argument("--interactions", type=int, default=50_000)
    ap.add_argument("--skip-milvus", action="store_true")
    args = ap.parse_args()
    out: dict = {"samples": [], "complaints": None, "interactions": None}
    for dim in (128, 192, 256, 384, 4096):  # 4096: the hashed character n-gram space of letters
        out["samples"].append(samples(args.samples if dim < 1000 else args.samples // 5, dim, "faiss"))
        print(out["samples"][-1], file=sys.stderr, flush=True)
    # The IVF index a big watchlist gets (threshold lowered so this sample size builds one).
    out["samples"].append(samples(args.samples, 256, "faiss", approx_threshold=args.samples // 2))
    print(out["samples"][-1], file=sys.stderr, flush=True)
    if not args.skip_milvus:
        out["samples"].append(samples(args.samples, 256, "milvus-lite:milvus.db"))
        print(out["samples"][-1], file=sys.stderr, flush=True)
    out["complaints"] = complaints(args.complaints)
    print(out["complaints"], file=sys.stderr, flush=True)
    out["interactions"] = interactions(args.interactions)
    out["models"] = model_memory()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
