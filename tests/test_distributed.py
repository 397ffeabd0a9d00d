"""Batch mapping in-process and on a local Ray: same results, same order, bad items skipped."""
import os

import pytest

from xiaobao.distributed import ItemError, map_items
from xiaobao.errors import InputError


class SquareWorker:
    """Stands in for a model: 'loading' it is recorded once per process."""

    def __init__(self, offset: int = 0):
        self.offset = offset
        self.pid = os.getpid()

    def __call__(self, item):
        if item == 13:
            raise InputError(f"item-{item}.wav", "cannot decode")
        if item == 17:
            raise RuntimeError("model blew up")
        return {"value": item * item + self.offset, "pid": self.pid}


def _collect(it):
    return [(i, r) for i, r in it]


def test_in_process_order_and_errors():
    out = _collect(map_items(list(range(20)), SquareWorker))
    assert [i for i, _ in out] == list(range(20))
    assert isinstance(out[13][1], ItemError) and "item-13.wav: cannot decode" in out[13][1].message
    assert isinstance(out[17][1], ItemError) and "RuntimeError" in out[17][1].message
    assert out[5][1]["value"] == 25


@pytest.mark.slow
def test_local_ray_matches_in_process():
    import functools
    import sys

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # test module is not importable on workers
    items = list(range(60))
    factory = functools.partial(SquareWorker, offset=1)
    local = _collect(map_items(items, factory))
    on_ray = _collect(map_items(items, factory, ray=True, workers=2, batch_size=4))
    assert [i for i, _ in on_ray] == list(range(60)), "results come back in input order"
    for (_, a), (_, b) in zip(local, on_ray):
        if isinstance(a, ItemError):
            assert isinstance(b, ItemError) and a.message == b.message
        else:
            assert a["value"] == b["value"]
    pids = {r["pid"] for _, r in on_ray if not isinstance(r, ItemError)}
    assert os.getpid() not in pids, "the work ran in Ray worker processes"
    assert 1 <= len(pids) <= 2, "one model load per actor, reused across batches"


def test_bare_ray_flag_means_local():
    from xiaobao.cli import _bare_ray_flag

    assert _bare_ray_flag(["screen", "--ray"]) == ["screen", "--ray", "local"]
    assert _bare_ray_flag(["screen", "--ray", "--json"]) == ["screen", "--ray", "local", "--json"]
    assert _bare_ray_flag(["screen", "--ray", "ray://head:10001"]) == ["screen", "--ray", "ray://head:10001"]
    assert _bare_ray_flag(["screen", "--ray", "10.0.0.5:6379"]) == ["screen", "--ray", "10.0.0.5:6379"]
    assert _bare_ray_flag(["voice", "enroll", "--ray", "a.wav"]) == ["voice", "enroll", "--ray", "local", "a.wav"]


@pytest.mark.slow
def test_screen_on_ray_is_identical_to_in_process(tmp_path):
    import xiaobao
    from xiaobao import Workspace
    from xiaobao.complaints_engine.synth import synth_complaints

    batch = tmp_path / "batch.jsonl"
    synth_complaints(batch, n=400, rings=4, seed=5)
    outcomes = []
    for mode in (None, True):
        ws = Workspace(tmp_path / f"ws-{bool(mode)}")
        xiaobao.ingest(ws, [batch])
        report = xiaobao.screen(ws, ray=mode)
        assert report.screened == 400
        conn = ws.db.conn
        outcomes.append((
            conn.execute("SELECT id, risk_score, risk_tier, reasons FROM complaints ORDER BY id").fetchall(),
            conn.execute("SELECT complaint_id, kind, value FROM complaint_artifacts ORDER BY 1, 2, 3").fetchall(),
            conn.execute("SELECT ring_id, complaint_id FROM ring_members ORDER BY 1, 2").fetchall(),
        ))
        ws.close()
    assert outcomes[0] == outcomes[1]


@pytest.mark.slow
def test_text_enroll_on_ray_matches_in_process(tmp_path):
    import json
    import os
    import subprocess
    import sys

    import numpy as np

    from xiaobao import Workspace

    letters = []
    for i in range(6):
        p = tmp_path / f"letter{i}.txt"
        p.write_text(f"本人因贵公司第{i}次暴力催收，要求停息挂账，联系电话13800138{i:03d}，否则投诉到12378。", encoding="utf-8")
        letters.append(str(p))
    vectors = {}
    for mode in ("plain", "ray"):
        home = tmp_path / mode
        env = {**os.environ, "XIAOBAO_HOME": str(home)}
        sid = subprocess.run([sys.executable, "-m", "xiaobao.cli", "subject", "add", "agent", "--kind", "agent"],
                             capture_output=True, text=True, env=env, check=True).stdout.strip()
        args = [sys.executable, "-m", "xiaobao.cli", "text", "enroll", "--subject", sid, *letters, "--json"]
        if mode == "ray":
            args.insert(-1, "--ray")
        p = subprocess.run(args, capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr
        assert sum(r["status"] == "enrolled" for r in json.loads(p.stdout)) == 6
        ws = Workspace(home)
        vectors[mode] = np.vstack([np.frombuffer(b, np.float32) for (b,) in
                                   ws.conn.execute("SELECT vector FROM samples ORDER BY id")])
        ws.close()
    assert np.allclose(vectors["plain"], vectors["ray"], atol=1e-6)
