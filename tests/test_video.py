"""Faces in videos: frame sampling, tracks across frames, video enrolment/search, audio track."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import soundfile as sf

from face_video_helpers import astronaut, grace, save_rgb, scene, tone_wav, write_video
from xiaobao import Workspace
from xiaobao.errors import InputError
from xiaobao.video import DlibFaceEmbedder, analyse_file, enroll_faces, sample_frames, search_faces
from xiaobao.video.audio import extract_audio, has_audio, mux_audio
from xiaobao.video.detect import FaceBox, iou
from xiaobao.video.media import Frame, probe_video

FPS = 25.0


@pytest.fixture(scope="module")
def emb():
    return DlibFaceEmbedder()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    frames, truth = scene(6.0, FPS, grace_from=(1.0, 3.2))   # Grace Hopper on screen for 2.2 s
    gray_frames, _ = scene(3.0, FPS, gray=True)
    silent = write_video(d / "call.mp4", frames, FPS)
    with_sound = mux_audio(silent, tone_wav(d / "tone.wav", 6.0), d / "call_sound.mp4")
    corrupt = d / "broken.mp4"
    corrupt.write_bytes(silent.read_bytes()[:3000])  # truncated: header but no picture data
    return {"call": silent, "call_sound": with_sound, "truth": truth, "corrupt": corrupt,
            "gray": write_video(d / "gray.avi", gray_frames, FPS, "MJPG"), "dir": d}


def test_sampling_keeps_rate_cap_and_timestamps(clips):
    info = probe_video(clips["call"])
    assert info.fps == pytest.approx(FPS) and info.frame_count == 150
    two = list(sample_frames(clips["call"], fps=2))
    assert len(two) == 12
    assert [f.index for f in two[:3]] == [0, 13, 25]  # 12.5 frames apart, rounded up
    assert [f.time_s for f in two[:3]] == pytest.approx([0.0, 0.52, 1.0], abs=0.02)
    assert len(list(sample_frames(clips["call"], fps=2, max_frames=5))) == 5
    assert len(list(sample_frames(clips["call"], fps=0))) == 150


def test_video_without_faces_gives_no_tracks(tmp_path, emb):
    from face_video_helpers import canvas
    p = write_video(tmp_path / "empty_room.mp4", [canvas(320, 240)] * 20, 10.0)
    found = analyse_file(p, emb, fps=2)
    assert found.frames_sampled == 4 and found.tracks == [] and found.dominant is None


def test_frame_cap_is_reported(clips, emb):
    capped = analyse_file(clips["call"], emb, fps=2, max_frames=3)
    assert capped.frames_sampled == 3 and capped.truncated


@pytest.mark.parametrize("ext,fourcc", [("avi", "MJPG"), ("mkv", "XVID"), ("mov", "mp4v"), ("webm", "VP80")])
def test_containers_decode(tmp_path, ext, fourcc):
    frames, _ = scene(1.0, 10.0)
    p = write_video(tmp_path / f"clip.{ext}", frames, 10.0, fourcc)
    got = list(sample_frames(p, fps=0))
    assert len(got) == 10 and got[0].image.shape == (240, 320, 3)


def test_corrupt_video_is_a_clear_error(clips, tmp_path):
    with pytest.raises(InputError, match="broken.mp4: cannot decode video"):
        list(sample_frames(clips["corrupt"]))
    with pytest.raises(InputError, match="broken.mp4: cannot decode"):
        has_audio(clips["corrupt"])
    with pytest.raises(InputError, match="missing.mp4: file not found"):
        analyse_file(tmp_path / "missing.mp4")


def test_tracks_group_people_and_keep_a_face_on_screen_for_two_seconds(clips, emb):
    found = analyse_file(clips["call"], emb, fps=2)
    assert found.kind == "video" and found.frames_sampled == 12 and not found.truncated
    assert len(found.tracks) == 2
    astro_t, grace_t = found.tracks  # longest first
    assert astro_t.start_s == 0.0 and astro_t.end_s >= 5.0 and len(astro_t.samples) == 12
    # Grace is on screen 1.0-3.2 s: every sampled frame in that span is in her track
    expected = [i for i in (25, 38, 50, 63, 75) if i < 80]
    assert sorted(s.frame_index for s in grace_t.samples) == expected
    truth = clips["truth"]
    for s in grace_t.samples:
        assert iou(s.box, FaceBox(*truth[s.frame_index]["grace"])) > 0.15  # inside the pasted picture
    assert float(astro_t.template() @ grace_t.template()) < 0.91


def test_a_person_taking_anothers_place_starts_a_new_track(emb):
    # the astronaut for 2.5 s, then Grace Hopper in the same spot (boxes overlap, IoU ~0.5): the
    # cheap position link must not carry the astronaut's track over to her
    from face_video_helpers import canvas, paste
    from xiaobao.video import build_tracks
    from xiaobao.video.media import Frame as F

    a, g = canvas(320, 240), canvas(320, 240)
    paste(a, astronaut(), 60, 20, 200)
    paste(g, grace(), 75, 25, 190)
    frames = [emb.faces(F(i, i * 0.5, a if i < 5 else g), thorough=False, describe=False) for i in range(10)]
    described = []

    def describe(samples):
        described.extend(s for s in samples if s.vector is None)
        emb.describe(samples)

    tracks = build_tracks(frames, describe)
    assert [sorted(s.frame_index for s in t.samples) for t in tracks] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert len(described) < 10  # some faces were linked on position alone


def test_video_enrol_uses_the_dominant_track_and_search_reports_frames(clips, emb, tmp_path):
    ws = Workspace(tmp_path / "ws")
    try:
        astro_id = ws.add_subject("Collins", kind="agent")
        grace_id = ws.add_subject("Hopper", kind="customer")
        row = enroll_faces(ws, astro_id, [clips["call"]], embedder=emb)[0]
        assert row["status"] == "enrolled" and len(row["sample_ids"]) == 3 and row["faces"] == 2
        metas = [json.loads(s["meta"]) if isinstance(s["meta"], str) else s["meta"] for s in ws.subject_samples(astro_id)]
        assert all(m["kind"] == "video" and 0.0 <= m["time_s"] <= 6.0 for m in metas)
        enroll_faces(ws, grace_id, [save_rgb(tmp_path / "grace.jpg", grace())], embedder=emb)

        res = search_faces(ws, clips["call"], top=2, embedder=emb, evidence_dir=tmp_path / "ev")
        faces = {f["subject_id"]: f for f in res["faces"]}
        assert set(faces) == {astro_id, grace_id}
        g = faces[grace_id]
        assert g["decision"] == "match" and g["subject_kind"] == "customer"
        assert 0.9 <= g["start_s"] <= 1.1 and 2.9 <= g["end_s"] <= 3.1 and g["n_frames"] == 5
        assert all(len(fr["box"]) == 4 and 1.0 <= fr["time_s"] <= 3.2 for fr in g["frames"])
        crops = json.loads((tmp_path / "ev" / "call_evidence.json").read_text())["crops"]
        assert {c["subject_id"] for c in crops} == {astro_id, grace_id}
        first = crops[0]
        assert f"{first['time_s']:08.2f}s" in first["crop"]
        assert cv2.imread(str(tmp_path / "ev" / first["crop"])) is not None

        only_agents = search_faces(ws, clips["call"], kinds=["agent"], embedder=emb)
        assert all(f["subject_id"] in (astro_id, None) for f in only_agents["faces"])
    finally:
        ws.close()


def test_grayscale_video(clips, emb):
    found = analyse_file(clips["gray"], emb, fps=2)
    assert found.grayscale and len(found.tracks) == 1 and len(found.tracks[0].samples) == 6
    colour = emb.faces(Frame(0, 0.0, astronaut()))[0].vector
    assert float(found.tracks[0].template() @ colour) > 0.93


def test_audio_track_is_extracted_to_16k_mono_wav(clips, tmp_path):
    assert has_audio(clips["call_sound"]) and not has_audio(clips["call"])
    wav = extract_audio(clips["call_sound"], tmp_path / "out.wav")
    audio, rate = sf.read(wav)
    assert rate == 16000 and audio.ndim == 1 and len(audio) / rate == pytest.approx(6.0, abs=0.1)
    spectrum = np.abs(np.fft.rfft(audio[: rate]))
    assert np.argmax(spectrum) == pytest.approx(440, abs=3)  # 1 s of samples: bin = Hz
    assert extract_audio(clips["call"], tmp_path / "none.wav") is None
    # the picture side of the muxed file is untouched
    assert len(list(sample_frames(clips["call_sound"], fps=0))) == 150


def test_cli_video_search_answers_for_faces_and_voice(clips, tmp_path):
    import subprocess
    import sys

    from typer.testing import CliRunner

    from xiaobao.cli import app

    run = CliRunner().invoke
    home = ["--home", str(tmp_path / "home")]
    sid = run(app, home + ["subject", "add", "Hopper", "--kind", "agent"]).stdout.strip()
    photo = save_rgb(tmp_path / "grace.png", grace())
    assert run(app, home + ["face", "enroll", "--subject", sid, str(photo)]).exit_code == 0
    out = run(app, home + ["video", "search", str(clips["call_sound"]), "--json", "--evidence", str(tmp_path / "ev")])
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert res["decision"] == "match"
    hopper = [f for f in res["faces"]["faces"] if f["subject_id"] == int(sid) and f["decision"] != "none"]
    assert len(hopper) == 1 and hopper[0]["decision"] == "match" and 0.9 <= hopper[0]["start_s"] <= 1.1
    assert {"decision", "matches"} <= set(res["voice"])
    silent = run(app, home + ["video", "search", str(clips["call"]), "--json"])
    assert json.loads(silent.stdout)["voice"] == {"decision": "insufficient", "reason": "no audio track", "matches": []}
    # the real entry point: a bad file is one line on stderr and exit code 2
    broken = subprocess.run([sys.executable, "-m", "xiaobao.cli"] + home + ["video", "search", str(clips["corrupt"])],
                            capture_output=True, text=True)
    assert broken.returncode == 2 and "broken.mp4: cannot decode video" in broken.stderr
    assert "Traceback" not in broken.stderr


@pytest.mark.slow
def test_video_search_matches_the_voice_of_the_audio_track(clips, tmp_path, emb):
    # one espeak-ng voice enrolled from one text; the call's sound track says something else
    import shutil
    import subprocess

    from xiaobao.video import search_video
    from xiaobao.voiceprint import enroll_voice

    assert shutil.which("espeak-ng"), "espeak-ng is missing: run `make system-packages`"

    def speak(text, path):
        subprocess.run(["espeak-ng", "-v", "en-us+m3", "-s", "150", "-w", str(path), text], check=True)
        return path

    ws = Workspace(tmp_path / "ws")
    try:
        sid = ws.add_subject("caller", kind="agent")
        enroll_voice(ws, sid, [speak("I am calling about the loan on my account, please stop the interest "
                                     "and send the settlement letter to my lawyer today.", tmp_path / "enrol.wav")])
        said = speak("We represent the borrower in this complaint and we demand a full refund of all fees "
                     "charged since last year.", tmp_path / "call.wav")
        video = mux_audio(clips["call"], said, tmp_path / "call_voice.mp4")
        res = search_video(ws, video, embedder=emb)
        assert res["voice"]["decision"] in ("match", "possible"), res["voice"]
        assert res["voice"]["matches"][0]["subject_id"] == sid
        assert res["voice"]["file"] == str(video) and res["voice"]["time_ranges"]   # the video, not a temp WAV
        assert res["decision"] in ("match", "possible")
    finally:
        ws.close()
