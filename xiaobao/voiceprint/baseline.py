"""Off-the-shelf resemblyzer, used only as the reference in evaluation and benchmarks:
``preprocess_wav`` + ``embed_utterance`` one recording at a time."""
from __future__ import annotations

import warnings

import numpy as np

from .audio import load_audio


class NaiveResemblyzer:
    def __init__(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from resemblyzer import VoiceEncoder
        self.encoder = VoiceEncoder(device="cpu", verbose=False)

    def embed_raw(self, files) -> np.ndarray:
        """Concatenate the files' 16 kHz audio, then resemblyzer's own preprocessing and embedding."""
        from resemblyzer import preprocess_wav
        wav = np.concatenate([load_audio(f).samples for f in files])
        return self.encoder.embed_utterance(preprocess_wav(wav, source_sr=16000))
