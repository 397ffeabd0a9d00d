"""Same-author linkage evaluation: for every letter whose author wrote at least ``min_per_label``
letters, rank all other letters and check whether the nearest one has the same author.

Spaces: ``text/char-ngram@1``, ``text/minilm@1`` (or any sentence-transformers folder),
``simhash`` (64-bit Hamming distance), and ``fusion``: per-query z-scored similarities of the
char n-gram space and the sentence model, summed. Z-scoring first matters because the spaces'
cosines live on different scales; a raw sum lets the flattest space drown the others.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from xiaobao.errors import UserError
from xiaobao.text_fingerprint.csvio import read_text_csv
from xiaobao.text_fingerprint.embedders import CHAR_NGRAM_SPACE, MINILM_SPACE, CharNgramEmbedder, _space_for, embedder_for
from xiaobao.text_fingerprint.simhash import simhash64

FUSION = "fusion"
SIMHASH = "simhash"
SPACES = (CHAR_NGRAM_SPACE, MINILM_SPACE, SIMHASH, FUSION)
FUSION_WEIGHTS = {CHAR_NGRAM_SPACE: 1.0, MINILM_SPACE: 0.35}


def read_labelled_csv(path: str | Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Texts and labels of a UTF-8 CSV; rows with an empty text or label are skipped."""
    rows, _ = read_text_csv(path, text_column, label_column)
    return [r[text_column] for r in rows], [r[label_column] for r in rows]


def _zscore(s: np.ndarray, self_idx: np.ndarray) -> np.ndarray:
    s = s.astype(np.float64).copy()
    s[np.arange(len(s)), self_idx] = np.nan
    z = (s - np.nanmean(s, axis=1, keepdims=True)) / (np.nanstd(s, axis=1, keepdims=True) + 1e-9)
    return np.nan_to_num(z, nan=-np.inf)


def similarity_rows(texts: Sequence[str], rows: np.ndarray, space: str, model_dir=None) -> np.ndarray:
    """Similarities of the query ``rows`` to every text (higher = more alike)."""
    if space == SIMHASH:
        codes = np.array([simhash64(t) for t in texts], dtype=np.uint64)
        x = codes[rows][:, None] ^ codes[None, :]
        bits = np.unpackbits(x.view(np.uint8).reshape(len(rows), len(texts), 8), axis=2).sum(axis=2)
        return -bits.astype(np.float32)
    if space == FUSION:
        total = np.zeros((len(rows), len(texts)))
        for sub, w in FUSION_WEIGHTS.items():
            total += w * _zscore(similarity_rows(texts, rows, sub, model_dir if sub != CHAR_NGRAM_SPACE else None), rows)
        return total
    v = _embeddings(tuple(texts), space, model_dir)
    return v[rows] @ v.T


_CACHE: dict[tuple, np.ndarray] = {}


def _embeddings(texts: tuple[str, ...], space: str, model_dir) -> np.ndarray:
    """Embeddings of a corpus, kept for the last corpus so per-space and fused runs embed it once."""
    key = (hash(texts), len(texts), space, str(model_dir))
    if key not in _CACHE:
        emb = CharNgramEmbedder() if space == CHAR_NGRAM_SPACE else embedder_for(space, model_dir)
        if len(_CACHE) >= 4:
            _CACHE.clear()
        _CACHE[key] = emb.embed(list(texts))
    return _CACHE[key]


def evaluate_authors(texts: Sequence[str], labels: Sequence[str], *, min_per_label: int = 3,
                     space: str = CHAR_NGRAM_SPACE, model_dir=None) -> dict:
    """``top1`` (nearest other text has the same label), ``recall_at_5`` and ``n_queries``."""
    if len(texts) != len(labels):
        raise UserError(f"{len(texts)} texts for {len(labels)} labels")
    if min_per_label < 2:
        raise UserError("--min-per-label must be at least 2 (a query needs another text of its author)")
    if model_dir and space == CHAR_NGRAM_SPACE:
        # a model folder means its sentence-transformers space, as in `text enroll` and `text search`
        space = _space_for(Path(model_dir).expanduser())
    counts = Counter(labels)
    rows = np.array([i for i, lab in enumerate(labels) if counts[lab] >= min_per_label], dtype=np.int64)
    if not len(rows):
        raise UserError(f"no label has {min_per_label} or more texts; nothing to evaluate")
    lab = np.asarray(labels)
    sims = similarity_rows(texts, rows, space, model_dir).astype(np.float64)
    sims[np.arange(len(rows)), rows] = -np.inf  # a text never ranks itself
    top5 = np.argsort(-sims, axis=1, kind="stable")[:, :5]
    same = lab[top5] == lab[rows][:, None]
    return {
        "space": space if space != MINILM_SPACE or not model_dir else f"{space}:{model_dir}",
        "top1": round(float(same[:, 0].mean()), 4),
        "recall_at_5": round(float(same.any(axis=1).mean()), 4),
        "n_queries": int(len(rows)),
        "n_texts": len(texts),
        "n_labels": len(counts),
        "chance_top1": round(float(np.mean([(counts[lab[r]] - 1) / (len(texts) - 1) for r in rows])), 4),
    }
