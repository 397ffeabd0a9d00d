"""Voiceprint benchmarks, each against off-the-shelf resemblyzer in the same run.

    .venv/bin/python benchmarks/bench_voice.py                      # all parts, JSON on stdout
    .venv/bin/python benchmarks/bench_voice.py --part fsdd|telephone|speed

(a) fsdd: ``evaluate`` (what ``xiaobao eval voice`` runs) on ../shared/data/voice/fsdd with
    --enroll 5 --test-concat 3; the reference is method="concat": the enrolment files
    concatenated, resemblyzer's ``preprocess_wav`` + ``embed_utterance``. Prints both and the ratio.
(b) telephone: telephone conditions built from the shared recordings (FSDD speakers plus the
    Mandarin speakers with two clips): one enrolment recording per speaker (FSDD: ten digits
    joined, index 0 of each digit), test clips of 3 s (other digits joined / the speaker's other
    clip), all turned into 8 kHz mu-law with white noise at 15 dB SNR. Same two methods.
(c) speed: 200 recordings (FSDD digits joined into 3-6 s "calls", 8 kHz) embedded by
    ``read_speech`` + the batched embedder, against the naive loop of resemblyzer's own
    ``preprocess_wav(path)`` + ``embed_utterance`` per file; seconds of audio per wall second.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

from xiaobao.voiceprint import evaluate, get_embedder, read_speech  # noqa: E402
from xiaobao.voiceprint.audio import resample  # noqa: E402
from xiaobao.voiceprint.scoring import as_norm, eer  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "voice"
FSDD = DATA / "fsdd"
MANDARIN = DATA / "mandarin_misc"


def part_fsdd() -> dict:
    args = dict(enroll=5, test_concat=3)
    ours = evaluate(FSDD, FSDD / "labels.csv", "speaker", **args)
    ref = evaluate(FSDD, FSDD / "labels.csv", "speaker", method="concat", **args)
    return {"ours": ours, "reference_concat": ref, "eer_ratio": round(ours["eer"] / max(ref["eer"], 1e-9), 3),
            "top1_ours_minus_ref": round(ours["top1"] - ref["top1"], 4)}


def _telephone(x: np.ndarray, sr: int, rng, snr_db: float = 15.0) -> np.ndarray:
    """8 kHz, mu-law companded (8 bit), white noise at ``snr_db``."""
    y = resample(x, sr, 8000)
    y = 0.5 * y / (np.abs(y).max() + 1e-9)
    p = np.mean(y ** 2)
    y = y + rng.standard_normal(len(y)).astype(np.float32) * np.sqrt(p / 10 ** (snr_db / 10))
    mu = 255.0
    enc = np.sign(y) * np.log1p(mu * np.clip(np.abs(y), 0, 1)) / np.log1p(mu)
    enc = np.round((enc + 1) / 2 * mu) / mu * 2 - 1            # 8-bit codes
    return (np.sign(enc) * np.expm1(np.abs(enc) * np.log1p(mu)) / mu).astype(np.float32)


def _build_telephone(out: Path, rng) -> tuple[list, list]:
    """Write the telephone clips; returns ([(speaker, enrol path)], [(speaker, test path)])."""
    rows = list(csv.DictReader(open(FSDD / "labels.csv")))
    enrol, tests = [], []
    by = {}
    for r in rows:
        by.setdefault(r["speaker"], []).append(r)
    for spk, rs in sorted(by.items()):
        rs.sort(key=lambda r: (int(r["index"]), int(r["digit"])))
        def audio(rr):
            return np.concatenate([sf.read(str(FSDD / r["file"]), dtype="float32")[0] for r in rr])
        e = out / f"{spk}_enrol.wav"
        sf.write(str(e), _telephone(audio(rs[:10]), 8000, rng), 8000)
        enrol.append((spk, e))
        rest = rs[10:]
        for i in range(0, len(rest) - 8, 8):
            clip = audio(rest[i:i + 8])[: 3 * 8000]
            if len(clip) < 3 * 8000:
                continue
            p = out / f"{spk}_test{i // 8}.wav"
            sf.write(str(p), _telephone(clip, 8000, rng), 8000)
            tests.append((spk, p))
    mrows = list(csv.DictReader(open(MANDARIN / "labels.csv")))
    mby = {}
    for r in mrows:
        mby.setdefault(r["speaker_label"], []).append(r)
    for spk, rs in sorted(mby.items()):
        x = [sf.read(str(MANDARIN / r["file"]), dtype="float32") for r in sorted(rs, key=lambda r: r["file"])]
        x = [(a.mean(axis=1) if a.ndim > 1 else a, s) for a, s in x]
        e = out / f"{spk}_enrol.wav"
        sf.write(str(e), _telephone(*x[0], rng), 8000)
        enrol.append((spk, e))
        for j, (a, s) in enumerate(x[1:]):
            a = a[: 3 * s]
            p = out / f"{spk}_test{j}.wav"
            sf.write(str(p), _telephone(a, s, rng), 8000)
            tests.append((spk, p))
    return enrol, tests


def _metrics(ev, tv, labels, test_labels) -> dict:
    s = ev @ tv.T
    truth = np.array(labels)[:, None] == np.array(test_labels)[None, :]
    top1 = float(np.mean(np.array(labels)[s.argmax(axis=0)] == np.array(test_labels)))
    return {"eer": round(eer(s[truth], s[~truth])[0], 4), "top1": round(top1, 4), "n_trials": int(s.size)}


def part_telephone() -> dict:
    from resemblyzer import VoiceEncoder, preprocess_wav
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as d:
        enrol, tests = _build_telephone(Path(d), rng)
        labels, test_labels = [s for s, _ in enrol], [s for s, _ in tests]
        enc = VoiceEncoder(device="cpu", verbose=False)
        ref_e = np.stack([enc.embed_utterance(preprocess_wav(p)) for _, p in enrol])
        ref_t = np.stack([enc.embed_utterance(preprocess_wav(p)) for _, p in tests])
        emb = get_embedder()
        ev = emb.embed([read_speech(p).samples for _, p in enrol])
        tv = emb.embed([read_speech(p).samples for _, p in tests])
        ours = _metrics(ev, tv, labels, test_labels)
        s = as_norm(ev @ tv.T, ev, tv, ev, top=len(ev) - 1)
        truth = np.array(labels)[:, None] == np.array(test_labels)[None, :]
        ours_as = {"eer": round(eer(s[truth], s[~truth])[0], 4),
                   "top1": round(float(np.mean(np.array(labels)[s.argmax(axis=0)] == np.array(test_labels))), 4)}
        return {"n_speakers": len(enrol), "n_tests": len(tests), "reference": _metrics(ref_e, ref_t, labels, test_labels),
                "ours_raw": ours, "ours_asnorm": ours_as}


def part_speed(n: int = 200) -> dict:
    from resemblyzer import VoiceEncoder, preprocess_wav
    files = sorted((FSDD / "recordings").glob("*.wav"))
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as d:
        paths, total = [], 0.0
        for i in range(n):
            pick = rng.choice(len(files), size=int(rng.integers(8, 14)), replace=False)
            x = np.concatenate([sf.read(str(files[j]), dtype="float32")[0] for j in pick])
            p = Path(d) / f"call{i}.wav"
            sf.write(str(p), x, 8000)
            paths.append(p)
            total += len(x) / 8000
        emb = get_embedder()
        enc = VoiceEncoder(device="cpu", verbose=False)
        emb.embed([read_speech(paths[0]).samples]); enc.embed_utterance(preprocess_wav(paths[0]))  # warm up
        t = time.perf_counter()
        ours = emb.embed([read_speech(p).samples for p in paths])
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        naive = np.stack([enc.embed_utterance(preprocess_wav(p)) for p in paths])
        t_naive = time.perf_counter() - t
    return {"files": n, "audio_seconds": round(total, 1), "ours_seconds": round(t_ours, 2),
            "naive_seconds": round(t_naive, 2), "ours_x_realtime": round(total / t_ours, 1),
            "naive_x_realtime": round(total / t_naive, 1), "ratio_ours_over_naive": round(t_naive / t_ours, 2),
            "shape": list(ours.shape) + list(naive.shape[1:])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["fsdd", "telephone", "speed", "all"], default="all")
    a = ap.parse_args()
    out = {}
    for name, fn in (("fsdd", part_fsdd), ("telephone", part_telephone), ("speed", part_speed)):
        if a.part in (name, "all"):
            out[name] = fn()
            print(json.dumps({name: out[name]}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
