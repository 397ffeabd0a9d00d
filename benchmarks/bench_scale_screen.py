"""Screening in-process against screening with ``--ray`` on a local Ray, same batch, same run.

Used by ``bench_scale.py``; runnable on its own:

    .venv/bin/python benchmarks/bench_scale_screen.py [--complaints 20000]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xiaobao  # noqa: E402
from xiaobao import Workspace  # noqa: E402
from xiaobao.complaints_engine.synth import synth_complaints  # noqa: E402


def _outcome(ws) -> dict:
    conn = ws.db.conn
    scores = conn.execute("SELECT id, round(risk_score, 6), risk_tier, reasons FROM complaints ORDER BY id").fetchall()
    rings = conn.execute("SELECT ring_id, complaint_id FROM ring_members ORDER BY ring_id, complaint_id").fetchall()
    return {"scores": scores, "rings": rings}


def bench_screen(n: int, seed: int = 11) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        batch = Path(tmp) / "batch.jsonl"
        synth_complaints(batch, n=n, rings=max(1, n // 500), seed=seed)
        timings, outcomes = {}, {}
        for mode in ("in_process", "ray"):
            ws = Workspace(Path(tmp) / mode)
            xiaobao.ingest(ws, [batch])
            if mode == "ray":
                from xiaobao.distributed import ray_init

                ray_init(None)  # start the local cluster outside the timed part, as a running cluster would be
            t0 = time.perf_counter()
            xiaobao.screen(ws, ray=(mode == "ray"))
            timings[mode] = time.perf_counter() - t0
            outcomes[mode] = _outcome(ws)
            ws.close()
    same = outcomes["in_process"] == outcomes["ray"]
    return {
        "complaints": n,
        "in_process_s": round(timings["in_process"], 1),
        "ray_s": round(timings["ray"], 1),
        "in_process_per_s": round(n / timings["in_process"]),
        "ray_per_s": round(n / timings["ray"]),
        "ratio_ray_vs_in_process_throughput": round(timings["in_process"] / timings["ray"], 3),
        "identical_results": same,
        "floor": "ray >= 0.8x in-process throughput, identical results",
        "floor_met": bool(same and timings["in_process"] / timings["ray"] >= 0.8),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--complaints", type=int, default=20_000)
    print(json.dumps(bench_screen(ap.parse_args().complaints), indent=2))
