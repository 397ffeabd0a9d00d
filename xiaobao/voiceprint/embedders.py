"""Speaker embedders, one space each.

``resemblyzer`` (GE2E, weights inside the wheel) is the default. Every clip is cut into 1.6 s
partial windows (1.3 per second, as resemblyzer does: denser windows, 2.5 and 4 per second, gave
the same FSDD EER and no better telephone scores, and cost time). A clip shorter than one window
is repeated to fill it instead of being zero-padded, so the window is all speech. The partials of
a whole batch of files run through the network together, which is what makes it faster than
resemblyzer's one-file-at-a-time ``embed_utterance``.

``ecapa`` runs a SpeechBrain ECAPA-TDNN from a local folder (``hyperparams.yaml`` plus
``embedding_model.ckpt``) through speechbrain's ``EncoderClassifier.from_hparams``; nothing is
fetched from a hub.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from xiaobao.errors import ModelUnavailableError
from xiaobao.index import register_default_thresholds

from .audio import TARGET_RATE

RESEMBLYZER_SPACE = "voice/resemblyzer@1"
ECAPA_SPACE = "voice/ecapa@1"
# Documented defaults until `xiaobao voice calibrate` runs (cosine of L2-normalised embeddings;
# resemblyzer values from FSDD + espeak calibration: EER point ~0.75, 1% FAR ~0.83).
register_default_thresholds(RESEMBLYZER_SPACE, 0.83, 0.75)
register_default_thresholds(ECAPA_SPACE, 0.55, 0.35)

PARTIAL_FRAMES = 160          # 1.6 s of 10 ms mel frames, what GE2E was trained on
PARTIAL_RATE = 1.3            # partial windows per second of speech


def _l2(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


class ResemblyzerEmbedder:
    space = RESEMBLYZER_SPACE
    dim = 256

    def __init__(self, rate: float = PARTIAL_RATE, batch: int = 64):
        import torch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from resemblyzer import VoiceEncoder
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
        self.encoder = VoiceEncoder(device="cpu", verbose=False)
        self.rate = rate
        self.batch = batch

    def _partials(self, wav: np.ndarray) -> np.ndarray:
        from resemblyzer.audio import wav_to_mel_spectrogram
        wav = _normalise_volume(_at_least(wav, 800))
        mel = wav_to_mel_spectrogram(wav)                 # [frames, 40]
        n = len(mel)
        if n <= PARTIAL_FRAMES:
            # Short clip: tile it rather than zero-pad, so the window is all speech.
            reps = int(np.ceil(PARTIAL_FRAMES / max(n, 1)))
            return np.tile(mel, (reps, 1))[None, :PARTIAL_FRAMES]
        step = max(1, int(round(100 / self.rate)))
        starts = list(range(0, n - PARTIAL_FRAMES + 1, step))
        if starts[-1] + PARTIAL_FRAMES < n:
            starts.append(n - PARTIAL_FRAMES)
        return np.stack([mel[s:s + PARTIAL_FRAMES] for s in starts])

    def embed_partials(self, wavs) -> list[np.ndarray]:
        """Per clip, its partial-window embeddings [p, 256] (each L2-normalised)."""
        import torch
        parts = [self._partials(w) for w in wavs]
        counts = [len(p) for p in parts]
        if not parts:
            return []
        allp = np.concatenate(parts).astype(np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(allp), self.batch):
                out.append(self.encoder(torch.from_numpy(allp[i:i + self.batch])).numpy())
        emb = np.concatenate(out)
        res, pos = [], 0
        for c in counts:
            res.append(emb[pos:pos + c])
            pos += c
        return res

    def embed(self, wavs) -> np.ndarray:
        """L2-normalised mean of each clip's partial embeddings: float32 [n, 256]."""
        if len(wavs) == 0:
            return np.zeros((0, self.dim), np.float32)
        return _l2(np.stack([p.mean(axis=0) for p in self.embed_partials(wavs)]))


def _at_least(w, n: int) -> np.ndarray:
    """Clips shorter than the network's receptive field are repeated (empty ones become silence)."""
    w = np.asarray(w, np.float32)
    if len(w) == 0:
        return np.zeros(n, np.float32)
    return np.tile(w, int(np.ceil(n / len(w))))[:max(n, len(w))] if len(w) < n else w


def _normalise_volume(wav: np.ndarray, target_dbfs: float = -30.0) -> np.ndarray:
    rms = np.sqrt(np.mean(wav ** 2) + 1e-12)
    gain = 10 ** ((target_dbfs - 20 * np.log10(rms)) / 20)
    return (wav * gain).astype(np.float32)


class EcapaEmbedder:
    space = ECAPA_SPACE

    def __init__(self, model_dir=None):
        model_dir = model_dir or os.environ.get("XIAOBAO_ECAPA_DIR")
        if not model_dir:
            raise ModelUnavailableError(
                "the ecapa backend needs a local SpeechBrain ECAPA-TDNN folder (hyperparams.yaml and "
                "embedding_model.ckpt): pass --model-dir DIR or set XIAOBAO_ECAPA_DIR")
        path = Path(model_dir).resolve()
        if not (path / "hyperparams.yaml").is_file() or not (path / "embedding_model.ckpt").is_file():
            raise ModelUnavailableError(
                f"{path}: expected hyperparams.yaml and embedding_model.ckpt there (an ECAPA-TDNN "
                "saved by SpeechBrain, e.g. the spkrec-ecapa-voxceleb files)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from speechbrain.inference.speaker import EncoderClassifier
            from speechbrain.utils.fetching import LocalStrategy
        self.model = EncoderClassifier.from_hparams(source=str(path), savedir=str(path),
                                                    run_opts={"device": "cpu"},
                                                    local_strategy=LocalStrategy.NO_LINK)
        self.model.eval()
        import torch
        with torch.inference_mode():
            self.dim = int(self.model.encode_batch(torch.zeros(1, TARGET_RATE)).shape[-1])

    def embed(self, wavs) -> np.ndarray:
        import torch
        if len(wavs) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = []
        with torch.inference_mode():
            for w in wavs:   # one at a time: variable lengths, and no padding bias in the stats pooling
                out.append(self.model.encode_batch(torch.from_numpy(_at_least(w, TARGET_RATE // 2))[None]).reshape(-1).numpy())
        return _l2(np.stack(out))


BACKENDS = ("resemblyzer", "ecapa")
_CACHE: dict = {}


def get_embedder(backend: str = "resemblyzer", model_dir=None):
    """The embedder for a backend name, built once per process."""
    if backend not in BACKENDS:
        raise ModelUnavailableError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    key = (backend, str(model_dir or os.environ.get("XIAOBAO_ECAPA_DIR", "")) if backend == "ecapa" else "")
    if key not in _CACHE:
        _CACHE[key] = ResemblyzerEmbedder() if backend == "resemblyzer" else EcapaEmbedder(model_dir)
    return _CACHE[key]
