"""Near-duplicate letters across a batch, through the text fingerprint package's SimHash index.

Every letter is searched against all letters (FAISS binary k-NN over 64-bit SimHashes, digits
folded so another borrower's amounts keep the fingerprint) and each candidate is verified by
n-gram overlap, so "same template" is something a person would agree with. k nearest per
letter is enough to connect a template cluster of any size (clusters are unions of pairs).
"""
from __future__ import annotations

import numpy as np

from xiaobao.text_fingerprint import SimHashIndex, fingerprint

NEIGHBOURS = 12


def fingerprints(texts):
    """(codes, shingle sets) of letters, for callers holding only the text."""
    fps = [fingerprint(t) for t in texts]
    return [f[0] for f in fps], [f[1] for f in fps]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Shared n-grams over all n-grams of both letters. Stricter than containment: a short
    genuine note inside a long letter on the same topic is not a template."""
    if not len(a) or not len(b):
        return 0.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


def near_duplicates(ids, codes, shingle_sets, max_hamming: int = 12, min_overlap: float = 0.6,
                    k: int = NEIGHBOURS, block: int = 4096):
    """[(id_a, id_b, hamming, jaccard)] with id_a < id_b, each pair once, jaccard >= min_overlap.

    ``codes``: unsigned 64-bit SimHashes; ``shingle_sets``: sorted distinct n-gram hashes per
    letter (both from :func:`xiaobao.text_fingerprint.fingerprint`, computed once at featurizing).
    """
    index = SimHashIndex()
    index.add_fingerprints(list(ids), list(codes), list(shingle_sets))
    fps = list(zip(codes, shingle_sets))
    pos = {cid: i for i, cid in enumerate(ids)}
    seen: set[tuple] = set()
    out = []
    for start in range(0, len(fps), block):
        part = fps[start:start + block]
        hits = index.search_fingerprints([f[0] for f in part], [f[1] for f in part], k=k, max_hamming=max_hamming,
                                         min_overlap=min_overlap, candidates=k + 4,
                                         exclude_self=list(range(start, start + len(part))))
        for qi, row in enumerate(hits):
            a = ids[start + qi]
            for b, h, o in row:
                if a == b:
                    continue
                key = (a, b) if a < b else (b, a)
                if key in seen:
                    continue
                seen.add(key)
                j = jaccard(part[qi][1], fps[pos[b]][1])
                if j >= min_overlap:
                    out.append((key[0], key[1], h, round(j, 4)))
    out.sort()  # same input, same order, whatever order FAISS returned ties in
    return out
