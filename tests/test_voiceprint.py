"""Voiceprint tests on audio made here: espeak-ng voices and generated signals."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from xiaobao import Workspace
from xiaobao.cli import app
from xiaobao.errors import InputError, UserError
from xiaobao.voiceprint import (RESEMBLYZER_SPACE, enroll_files, enroll_voice, get_embedder, keep_speech, load_audio,
                                read_speech, search_files, search_speech, search_voice, verify_voice)
from xiaobao.voiceprint.audio import resample

# espeak-ng comes from the Makefile's SYSTEM_PACKAGES; without it these tests fail rather than skip.
assert shutil.which("espeak-ng"), "espeak-ng is missing: run `make system-packages`"

LINES = ["Hello, I am calling about the loan on my account, the interest is far too high and I want it refunded.",
         "My card number ends in four five six, please stop the collection calls to my mother today."]
VOICES = {"staff": "en+m3", "li": "en+f2", "wang": "en-us+m7", "zhao": "en+f4"}


def speak(voice, text, path):
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    x, sr = sf.read(str(path), dtype="float32")
    return x, sr


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    d = tmp_path_factory.mktemp("voices")
    out = {}
    for name, v in VOICES.items():
        out[name] = [d / f"{name}_{i}.wav" for i in range(2)]
        for i, text in enumerate(LINES):
            speak(v, text, out[name][i])
    return out


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path / "ws")
    # Thresholds as `voice calibrate` sets them for these voices (tested below).
    w.set_thresholds(RESEMBLYZER_SPACE, 0.91, 0.89)
    yield w
    w.close()


def test_stereo_channels_are_picked(voices, tmp_path):
    a, sr = sf.read(str(voices["li"][0]), dtype="float32")
    b, _ = sf.read(str(voices["wang"][0]), dtype="float32")
    n = min(len(a), len(b))
    path = tmp_path / "call.flac"
    sf.write(str(path), np.stack([a[:n], b[:n]], axis=1), sr)
    left, right, mix = (load_audio(path, c) for c in ("left", "right", "mix"))
    assert left.source_channels == 2 and left.source_rate == sr
    ref_a, ref_b = resample(a[:n], sr), resample(b[:n], sr)
    assert np.allclose(left.samples, ref_a, atol=1e-4) and np.allclose(right.samples, ref_b, atol=1e-4)
    assert np.allclose(mix.samples, (ref_a + ref_b) / 2, atol=1e-4)
    emb = get_embedder()
    v = emb.embed([read_speech(path, "left").samples, read_speech(path, "right").samples,
                   read_speech(voices["li"][1]).samples])
    assert v[0] @ v[2] > v[1] @ v[2] + 0.1        # the left channel is li's voice


def test_8khz_and_mp3_input(voices, tmp_path):
    x, sr = sf.read(str(voices["zhao"][0]), dtype="float32")
    tel = tmp_path / "tel.wav"
    sf.write(str(tel), resample(x, sr, 8000), 8000, subtype="PCM_16")
    a = load_audio(tel)
    assert a.source_rate == 8000 and abs(a.seconds - len(x) / sr) < 0.05
    assert read_speech(tel).source_rate == 8000             # kept for the search result and the sample's meta
    # Nothing above the 4 kHz band edge is invented by the resampler.
    spec = np.abs(np.fft.rfft(a.samples)) ** 2
    assert spec[int(len(spec) * 4200 / 8000):].sum() < 1e-3 * spec.sum()
    mp3 = tmp_path / "zhao.mp3"
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(voices["zhao"][1]), str(mp3)], check=True)
    m = load_audio(mp3)
    assert m.source_rate == sr and m.seconds > 4
    # What call centres store: AMR-NB (8 kHz) and AAC in M4A, both through ffmpeg.
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    for name, codec in (("zhao.amr", ["-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb", "-b:a", "12.2k"]),
                        ("zhao.m4a", ["-c:a", "aac"])):
        subprocess.run([ffmpeg, "-v", "error", "-i", str(voices["zhao"][1]), *codec, str(tmp_path / name)], check=True)
        got = load_audio(tmp_path / name)
        assert abs(got.seconds - m.seconds) < 0.3 and got.source_rate == (8000 if name.endswith("amr") else sr)
    v = get_embedder().embed([read_speech(tel).samples, read_speech(mp3).samples, read_speech(voices["li"][1]).samples])
    assert v[0] @ v[1] > 0.8 and v[0] @ v[1] > v[0] @ v[2] + 0.05


def test_undecodable_file_is_a_one_line_error(voices, ws, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really audio" * 20)
    with pytest.raises(InputError, match="broken.wav"):
        load_audio(bad)
    sid = ws.add_subject("agent Li", kind="agent")
    rows = enroll_files(ws, sid, [bad, voices["li"][0]])       # the bad file is reported, the good one enrolled
    assert [r["status"] for r in rows] == ["error", "enrolled"] and "cannot be decoded" in rows[0]["reason"]
    assert len(ws.subject_samples(sid)) == 1
    rows = list(search_files(ws, [bad, voices["li"][1]]))          # a batch reports the bad file and goes on
    assert rows[0]["decision"] == "error" and "broken.wav" in rows[0]["error"] and rows[1]["decision"] != "error"
    r = subprocess.run([sys.executable, "-m", "xiaobao.cli", "--home", str(tmp_path / "ws"), "voice", "verify",
                        str(bad), str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "broken.wav" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_silence_tones_and_short_speech_are_insufficient(voices, ws, tmp_path):
    sr = 16000
    t = np.arange(sr * 4) / sr
    tone = (0.3 * np.sin(2 * np.pi * 425 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.float32)  # ring-back
    assert keep_speech(tone)[0].size < 0.2 * sr
    x, rate = sf.read(str(voices["li"][0]), dtype="float32")
    short = tmp_path / "short.wav"
    sf.write(str(short), np.concatenate([np.zeros(rate), x[int(0.2 * rate):int(1.2 * rate)], tone[: 2 * rate]]), rate)
    sid = ws.add_subject("agent Li", kind="agent")
    enroll_voice(ws, sid, voices["li"][:1])
    r = search_speech(ws, read_speech(short))
    assert r["decision"] == "insufficient" and r["speech_seconds"] < 1.5 and r["matches"] == []
    assert search_speech(ws, read_speech(short), min_speech=0.5)["decision"] != "insufficient"


def hold_music(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Chords of three harmonic-rich notes, 0.5 s each with a decay: what a queue plays."""
    rng = np.random.default_rng(seed)
    notes = [261.6, 293.7, 329.6, 349.2, 392.0, 440.0, 523.3]
    t = np.arange(int(0.5 * sr)) / sr
    out = []
    for _ in range(int(seconds / 0.5)):
        chord = rng.choice(notes, 3, replace=False)
        out.append(sum(0.5 ** k * np.sin(2 * np.pi * f * (k + 1) * t) for f in chord for k in range(5)) * np.exp(-3 * t))
    x = np.concatenate(out)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def test_hold_music_is_not_speech(voices, ws, tmp_path):
    music = hold_music(20)
    assert keep_speech(music)[0].size < 0.5 * 16000        # was taken for ~20 s of speech
    sid = ws.add_subject("wang", kind="agent")
    enroll_files(ws, sid, voices["wang"][:1])
    sf.write(str(tmp_path / "queue.wav"), music, 16000)
    assert search_voice(ws, tmp_path / "queue.wav")["decision"] == "insufficient"
    # 20 s on hold, then 3 s of the caller: the caller is what gets searched
    c, sr = sf.read(str(voices["wang"][1]), dtype="float32")
    call = tmp_path / "held_call.wav"
    sf.write(str(call), np.concatenate([music, resample(c, sr)[: 3 * 16000]]), 16000)
    r = search_voice(ws, call)
    assert r["decision"] in ("match", "possible") and r["matches"][0]["subject"] == "wang" and r["speech_seconds"] < 3.5
    assert r["time_ranges"][0][0] >= 19.5


def test_staff_windows_are_set_aside(voices, ws, tmp_path):
    staff = ws.add_subject("agent desk 7", kind="staff")
    ids = {n: ws.add_subject(n, kind="agent") for n in ("li", "wang", "zhao")}
    enroll_files(ws, staff, voices["staff"][:1])
    for n, sid in ids.items():
        enroll_files(ws, sid, voices[n][:1])
    s, sr = sf.read(str(voices["staff"][1]), dtype="float32")
    c, _ = sf.read(str(voices["wang"][1]), dtype="float32")
    call = tmp_path / "call.wav"
    sf.write(str(call), np.concatenate([s, np.zeros(sr // 2, np.float32), c]), sr)
    r = search_speech(ws, read_speech(call))
    assert r["matches"][0]["subject"] == "wang" and r["decision"] in ("match", "possible")
    assert all(m["kind"] != "staff" for m in r["matches"])
    staff_end = len(s) / sr
    assert r["staff_ranges"] and r["staff_ranges"][0][0] < 1.0 and r["staff_ranges"][-1][1] <= staff_end + 1.6
    assert r["ranges"][-1][1] > staff_end + 3
    assert search_voice(ws, call, kinds=["agent", "staff"])["matches"][0]["subject"] == "wang"   # staff never answers
    assert search_voice(ws, call, exclude_kinds=["agent"])["matches"] == []


def test_cli_enroll_search_verify_calibrate(voices, tmp_path):
    home = str(tmp_path / "ws")
    run = CliRunner().invoke
    assert run(app, ["--home", home, "subject", "add", "agent Li", "--kind", "agent"]).exit_code == 0
    assert run(app, ["--home", home, "subject", "add", "agent Zhao", "--kind", "agent"]).exit_code == 0
    labels = tmp_path / "labels.csv"
    labels.write_text("file,speaker\n" + "".join(f"{p.name},{n}\n" for n, ps in voices.items() for p in ps))
    r = run(app, ["--home", home, "voice", "calibrate", "--data", str(voices["li"][0].parent), "--labels",
                  str(labels), "--label-column", "speaker", "--json"])
    assert r.exit_code == 0, r.output
    cal = json.loads(r.output)
    assert cal["eer"] == 0.0 and cal["possible"] <= cal["match"] and {"min_dcf", "n_target"} <= set(cal)
    r = run(app, ["--home", home, "voice", "enroll", "--subject", "1", str(voices["li"][0])])
    assert r.exit_code == 0, r.output
    r = run(app, ["--home", home, "voice", "enroll", "--subject", "2", str(voices["li"][0])])
    assert isinstance(r.exception, UserError) and "agent Li" in str(r.exception)   # same recording, other subject
    assert run(app, ["--home", home, "voice", "enroll", "--subject", "2", str(voices["zhao"][0])]).exit_code == 0
    out = tmp_path / "out.jsonl"
    r = run(app, ["--home", home, "voice", "search", str(voices["li"][1]), str(voices["zhao"][1]),
                  "--top", "2", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert r.stdout.startswith("[") and json.loads(r.stdout) == rows   # nothing but the JSON on stdout
    assert [x["matches"][0]["subject"] for x in rows] == ["agent Li", "agent Zhao"]
    assert rows[0]["decision"] == "match" and rows[0]["ranges"] and rows[0]["speech_seconds"] > 4
    assert rows[0]["time_ranges"] == rows[0]["ranges"]
    assert rows[0]["source_rate"] == sf.info(str(voices["li"][1])).samplerate
    r = run(app, ["--home", home, "voice", "verify", str(voices["li"][0]), str(voices["zhao"][1]), "--json"])
    assert json.loads(r.output)["decision"] == "none"


def test_eval_voice_command(voices, tmp_path):
    d = voices["li"][0].parent
    labels = tmp_path / "labels.csv"
    labels.write_text("file,speaker\n" + "".join(f"{p.name},{n}\n" for n, ps in voices.items() for p in ps))
    r = CliRunner().invoke(app, ["eval", "voice", "--data", str(d), "--labels", str(labels), "--label-column",
                                 "speaker", "--enroll", "1", "--test-concat", "1", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["n_identities"] == 4 and res["n_trials"] == 16 and res["top1"] == 1.0 and res["eer"] < 0.1


def test_verify_uses_workspace_thresholds(voices, ws):
    same = verify_voice(ws, voices["zhao"][0], voices["zhao"][1])
    diff = verify_voice(ws, voices["zhao"][0], voices["wang"][0])
    assert same["decision"] == "match" and diff["decision"] == "none" and same["score"] > diff["score"]


def test_watchlisted_caller_resembling_staff_is_not_set_aside(voices, tmp_path):
    # Default (uncalibrated) thresholds: wang's synthetic voice reaches `possible` against the staff
    # voice, but it is closer to wang's own enrolment, so his windows stay the caller's.
    w = Workspace(tmp_path / "ws_default")
    try:
        staff = w.add_subject("agent desk 7", kind="staff")
        wang = w.add_subject("wang", kind="agent")
        enroll_files(w, staff, voices["staff"][:1])
        enroll_files(w, wang, voices["wang"][:1])
        _, possible = w.thresholds(RESEMBLYZER_SPACE)
        c, sr = sf.read(str(voices["wang"][1]), dtype="float32")
        v = get_embedder().embed([read_speech(voices["staff"][0]).samples, read_speech(voices["wang"][1]).samples])
        assert v[0] @ v[1] >= possible          # the case this guards: caller resembles staff
        s, _ = sf.read(str(voices["staff"][1]), dtype="float32")
        call = tmp_path / "call.wav"
        sf.write(str(call), np.concatenate([s, np.zeros(sr // 2, np.float32), c]), sr)
        r = search_voice(w, call)
        assert r["decision"] == "match" and r["matches"][0]["subject"] == "wang"
        assert r["staff_ranges"] and r["staff_ranges"][0][0] < 1.0
        assert r["time_ranges"][-1][1] > len(s) / sr + 3
    finally:
        w.close()


def test_enrolment_refuses_a_recording_given_twice(voices, ws, tmp_path):
    sid = ws.add_subject("li", kind="agent")
    copy = tmp_path / "li_copy.wav"
    copy.write_bytes(voices["li"][0].read_bytes())          # same recording under another name
    rows = enroll_files(ws, sid, [voices["li"][0], voices["li"][1], copy])
    assert [r["status"] for r in rows] == ["enrolled", "enrolled", "skipped"]   # two recordings, one subject
    assert "same recording as" in rows[2]["reason"] and len(ws.subject_samples(sid)) == 2
    again = enroll_files(ws, sid, [copy])                    # already enrolled: skipped, not a second sample
    assert again[0]["status"] == "skipped"
