"""Text fingerprints of complaint letters: templates, shared contact artifacts and writing style.

Public API (stable; other packages build on it):

* :func:`normalize` - canonical text (NFKC, half-width, simplified Chinese, folded punctuation).
* :func:`extract_artifacts` -> ``list[Artifact]`` (``kind, value, raw, start, end``): phones,
  landlines, e-mails, WeChat/QQ ids, resident ID numbers, bank cards, URLs, amounts, dates,
  organisation names and proxy-ring phrases; ``value`` is the validated join key.
* :func:`simhash64`, :class:`SimHashIndex` - near-duplicates via FAISS binary indexes, verified by
  n-gram overlap.
* :func:`template_clusters` - template groups over a batch, largest first.
* :class:`CharNgramEmbedder`, :class:`SentenceEmbedder` - dense spaces for the workspace.
* :func:`load_lexicon` - the proxy-ring lexicon (a YAML data file users extend).
"""
from xiaobao.text_fingerprint.artifacts import KINDS, Artifact, artifact_keys, extract_artifacts
from xiaobao.text_fingerprint.embedders import (CHAR_NGRAM_SPACE, MINILM_SPACE, MODEL_DIR_ENV, CharNgramEmbedder,
                                                Embedder, SentenceEmbedder, embedder_for)
from xiaobao.text_fingerprint.lexicon import Lexicon, load_lexicon
from xiaobao.text_fingerprint.normalize import normalize
from xiaobao.text_fingerprint.simhash import SimHashIndex, fingerprint, hamming, overlap, shingles, simhash64
from xiaobao.text_fingerprint.templates import template_clusters, template_edges

__all__ = [
    "normalize",
    "extract_artifacts", "Artifact", "artifact_keys", "KINDS",
    "simhash64", "fingerprint", "shingles", "hamming", "overlap", "SimHashIndex",
    "template_clusters", "template_edges",
    "CharNgramEmbedder", "SentenceEmbedder", "Embedder", "embedder_for",
    "CHAR_NGRAM_SPACE", "MINILM_SPACE", "MODEL_DIR_ENV",
    "load_lexicon", "Lexicon",
]
