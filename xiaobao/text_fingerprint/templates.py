"""Template clusters: letters of a batch that are variants of one another.

Edges come from the SimHash index (nearest fingerprints within ``max_hamming`` bits) and are
kept only when the n-gram overlap confirms them; clusters are the connected components.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from xiaobao.text_fingerprint.simhash import NGRAM, SimHashIndex, fingerprint

DEFAULT_MAX_HAMMING = 22
DEFAULT_MIN_OVERLAP = 0.5


class _UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        p = self.parent
        while p[i] != i:
            p[i] = p[p[i]]
            i = p[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def template_edges(texts: Sequence[str], *, k: int = 50, max_hamming: int = DEFAULT_MAX_HAMMING,
                   min_overlap: float = DEFAULT_MIN_OVERLAP, n: int = NGRAM) -> list[tuple[int, int, int, float]]:
    """Verified near-duplicate pairs ``(i, j, hamming, overlap)`` with ``i < j``."""
    fps = [fingerprint(t, n) for t in texts]
    index = SimHashIndex(n)
    index.add_fingerprints(list(range(len(texts))), [f[0] for f in fps], [f[1] for f in fps])
    hits = index.search_fingerprints([f[0] for f in fps], [f[1] for f in fps], k=k, max_hamming=max_hamming,
                                     min_overlap=min_overlap, candidates=k + 1, exclude_self=list(range(len(texts))))
    edges = {}
    for i, row in enumerate(hits):
        for j, d, ov in row:
            a, b = min(i, j), max(i, j)
            edges[(a, b)] = (a, b, d, ov)
    return sorted(edges.values())


def template_clusters(texts: Sequence[str], *, k: int = 50, max_hamming: int = DEFAULT_MAX_HAMMING,
                      min_overlap: float = DEFAULT_MIN_OVERLAP, min_size: int = 2, n: int = NGRAM) -> list[list[int]]:
    """Groups of letter indices that share a template, largest first (ties: earliest letter first).

    Letters with a too short text (under ``n`` characters after normalisation) never join a group.
    """
    uf = _UnionFind(len(texts))
    for a, b, _, _ in template_edges(texts, k=k, max_hamming=max_hamming, min_overlap=min_overlap, n=n):
        uf.union(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(texts)):
        groups.setdefault(uf.find(i), []).append(i)
    clusters = [g for g in groups.values() if len(g) >= min_size]
    clusters.sort(key=lambda g: (-len(g), g[0]))
    return clusters
