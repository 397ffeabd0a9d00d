"""Voiceprints: whose voice is on a call recording.

Public API::

    load_audio(path, channel="mix") -> Audio          # any format, 16 kHz mono float32
    keep_speech(samples) -> (speech, segments)         # silence, tones and hold music dropped
    get_embedder("resemblyzer" | "ecapa", model_dir)   # .space, .dim, .embed(list of arrays)
    enroll_voice(ws, subject_id, files)                # = enroll_files: one sample per recording
    search_voice(ws, path) / search_files(ws, files)   # staff windows set aside, caller matched
    verify_voice(ws, a, b)                             # = verify_files: score + decision
    calibrate(ws, data, labels, label_column)          # EER, minDCF, thresholds saved
    evaluate(data, labels, label_column, enroll=5, test_concat=3)
"""
from .audio import Audio, load_audio
from .embedders import ECAPA_SPACE, RESEMBLYZER_SPACE, get_embedder
from .evaluation import evaluate
from .service import (calibrate, enroll_files, enroll_voice, read_speech, search_files, search_speech, search_voice,
                      verify_files, verify_voice)
from .speech import keep_speech, speech_segments

__all__ = ["Audio", "load_audio", "keep_speech", "speech_segments", "get_embedder", "RESEMBLYZER_SPACE",
           "ECAPA_SPACE", "enroll_files", "enroll_voice", "read_speech", "search_speech", "search_voice",
           "search_files", "verify_files", "verify_voice", "calibrate", "evaluate"]
