"""Voice and face enrolment on a local Ray: the same rows and vectors as in-process, a bad file
handled the same way, and a rerun that works on nothing already enrolled."""
import json
import shutil
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from face_video_helpers import astronaut, canvas, grace, save_rgb
from xiaobao import Workspace
from xiaobao.cli import app

pytestmark = pytest.mark.slow

assert shutil.which("espeak-ng"), "espeak-ng is missing: run `make system-packages`"


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting it costs tens of seconds on two cores)."""
    import ray

    from xiaobao.distributed import ray_init

    started = not ray.is_initialized()
    ray_init(None, num_cpus=2)
    yield
    if started:
        ray.shutdown()


def _vectors(ws: Workspace, space: str) -> np.ndarray:
    return np.vstack([np.frombuffer(b, np.float32) for (b,) in
                      ws.conn.execute("SELECT vector FROM samples WHERE space = ? ORDER BY id", (space,))])


def _speak(voice: str, text: str, path):
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return path


def test_voice_enrol_on_ray_matches_in_process(tmp_path, local_ray):
    from xiaobao.voiceprint import RESEMBLYZER_SPACE, enroll_files

    lines = ["Hello, I am calling about the loan on my account, the interest is far too high.",
             "Please stop the collection calls to my mother, I will complain to the regulator.",
             "I represent several customers and we want every fee refunded this week."]
    files = [_speak(v, t, tmp_path / f"call{i}.wav") for i, (v, t) in enumerate(zip(["en+f2", "en+f2", "en+m3"], lines))]
    late = _speak("en+f2", "One more recording of the same caller, talking about the refund again.", tmp_path / "late.wav")
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really audio" * 20)

    rows, vectors = {}, {}
    for mode in (None, True):
        ws = Workspace(tmp_path / f"ws-{bool(mode)}")
        sid = ws.add_subject("agent Li", kind="agent")
        rows[mode] = enroll_files(ws, sid, [bad, *files], ray=mode)     # reported and skipped, both ways
        assert rows[mode][0]["status"] == "error" and "cannot be decoded" in rows[mode][0]["reason"]
        rows[mode] = rows[mode][1:]
        vectors[mode] = _vectors(ws, RESEMBLYZER_SPACE)
        if mode:
            # A rerun (as after a kill) decodes only the new file; the rest are reported as already there.
            again = enroll_files(ws, sid, [*files, late], ray=mode)
            assert [r["status"] for r in again] == ["skipped"] * 3 + ["enrolled"]
            assert all("already enrolled" in r["reason"] and r["speech_seconds"] is None for r in again[:3])
            assert len(ws.subject_samples(sid)) == 4
        ws.close()
    assert rows[None] == rows[True]
    assert [r["status"] for r in rows[True]] == ["enrolled"] * 3 and all(r["speech_seconds"] > 3 for r in rows[True])
    assert np.allclose(vectors[None], vectors[True][:3], atol=1e-4)


def test_face_enrol_on_ray_matches_in_process(tmp_path, local_ray):
    from xiaobao.video import SPACE, enroll_faces

    files = [save_rgb(tmp_path / "astro.jpg", astronaut()), tmp_path / "corrupt.jpg",
             save_rgb(tmp_path / "empty.png", canvas(320, 240)), save_rgb(tmp_path / "grace.jpg", grace())]
    files[1].write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 20)
    rows, vectors = {}, {}
    for mode in (None, True):
        ws = Workspace(tmp_path / f"ws-{bool(mode)}")
        sid = ws.add_subject("Collins", kind="agent")
        rows[mode] = enroll_faces(ws, sid, files, ray=mode)
        vectors[mode] = _vectors(ws, SPACE)
        ws.close()
    assert [r["status"] for r in rows[True]] == ["enrolled", "error", "skipped", "enrolled"]
    assert "cannot decode image" in rows[True][1]["reason"] and rows[True][2]["reason"] == "no face found"
    assert rows[None] == rows[True]
    assert np.allclose(vectors[None], vectors[True], atol=1e-5)

    # The command line, run again on the Ray workspace: nothing new is analysed or enrolled.
    good = [files[0], files[3]]
    r = CliRunner().invoke(app, ["--home", str(tmp_path / "ws-True"), "face", "enroll", "--subject", "1",
                                 *map(str, good), "--ray", "local", "--json"])
    assert r.exit_code == 0, r.output
    again = json.loads(r.stdout)
    assert [x["status"] for x in again] == ["skipped", "skipped"]
    assert all("already enrolled" in x["reason"] and x["faces"] == 0 for x in again)   # faces 0: not analysed
    ws = Workspace(tmp_path / "ws-True")
    assert len(ws.subject_samples(1)) == 2
    ws.close()
