"""Real processes: concurrent writers lose nothing; SIGKILL mid-enrolment leaves a repairable workspace."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from xiaobao import Workspace

SPACE = "voice/test-model@1"

WRITER = textwrap.dedent("""
    import sys, numpy as np
    from xiaobao import Workspace
    home, tag, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ws = Workspace(home)
    ws.ensure_space("voice/test-model@1", 64)
    sid = ws.add_subject("writer " + tag, "agent")
    rng = np.random.default_rng(abs(hash(tag)) % 2**32)
    for b in range(batches):
        v = rng.standard_normal((size, 64)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        ids = ws.enroll(sid, "voice/test-model@1", v, sha256=[f"{tag}-{b}-{i}" for i in range(size)])
        print(len(ids), flush=True)
""")


def _spawn(home, tag, batches, size):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(home), tag, str(batches), str(size)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_processes_enrolling_at_once_lose_nothing(tmp_path):
    # FAISS files only: Milvus Lite serves one process at a time; concurrent writers against
    # Milvus use a Milvus server, where the registry's transactions order the writes the same way.
    home = tmp_path / "ws"
    Workspace(home).ensure_space(SPACE, 64)
    procs = [_spawn(home, tag, 15, 40) for tag in ("left", "right")]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert sum(int(x) for x in out.split()) == 600
    ws = Workspace(home)
    assert ws.stats()[0]["samples"] == 1200
    assert ws.verify() == [], "the FAISS file holds exactly the registry's rows"
    assert ws.stats()[0]["indexed"] == 1200


@pytest.mark.slow
def test_sigkill_during_enrolment_is_repairable(tmp_path, make_ws, backend):
    home = tmp_path / "ws"
    ws = make_ws("ws")
    ws.ensure_space(SPACE, 64)
    # A large index makes every enrolment spend time writing the file, where the kill lands.
    seed = ws.add_subject("seed", "agent")
    rng = np.random.default_rng(0)
    base = rng.standard_normal((60000 if backend == "faiss" else 2000, 64)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    ws.enroll(seed, SPACE, base, sha256=[f"seed-{i}" for i in range(len(base))])
    ws.close()  # Milvus Lite serves one process at a time: hand the file to the writer
    for attempt in range(3):
        proc = _spawn(home, f"victim{attempt}", 1000, 5)
        committed = 0
        deadline = time.time() + 60
        while committed < 10 and time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed += int(line)
        time.sleep(0.05 * attempt)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert committed >= 10, proc.stderr.read()
        fresh = Workspace(home)
        n_rows = fresh.conn.execute("SELECT COUNT(*) FROM samples WHERE sha256 LIKE ?",
                                    (f"victim{attempt}-%",)).fetchone()[0]
        assert n_rows >= committed, "every enrolment reported done is in the registry"
        problems = fresh.verify()
        if problems:
            fresh.rebuild()
        assert fresh.verify() == []
        assert fresh.stats()[0]["indexed"] == fresh.stats()[0]["samples"]
        # and the workspace goes on working
        hits = fresh.search(SPACE, base[:1], k=1, log=False)
        assert hits[0][0].subject_id == seed
        fresh.close()
