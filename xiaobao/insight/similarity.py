"""Character-bigram similarity of many sentences to a few example sentences, in one matrix product.

For a prohibited-language rule the question is "does this sentence say what an example says",
where the sentence may add words around it. The score is therefore *containment*: the share of
an example's distinct character pairs that also occur in the sentence (1.0 = every pair found).
Only the examples' pairs are looked up, so a batch of tens of thousands of sentences costs a
few numpy passes and one sparse product, whatever the vocabulary of the sentences.
"""
from __future__ import annotations

import re

import numpy as np
from scipy import sparse

# Punctuation and spaces carry no meaning for the pairs; dropped before pairing.
_STRIP = re.compile(r"[\s\.,!?;:，。！？；：、\"'“”‘’（）()\[\]【】…~～-]+")
_SEP = "\x00"


def _pairs(text: str) -> set[int]:
    cps = [ord(c) for c in _STRIP.sub("", text)]
    return {(a << 21) | b for a, b in zip(cps, cps[1:])}


class ExampleMatcher:
    """Scores sentences against example sentences; ``scores(sentences)`` -> float32 [n, n_examples]."""

    def __init__(self, examples: list[str]):
        self.examples = list(examples)
        sets = [_pairs(e) for e in self.examples]
        vocab = sorted(set().union(*sets)) if sets else []
        self.vocab = np.asarray(vocab, dtype=np.int64)
        col = {k: i for i, k in enumerate(vocab)}
        rows, cols = [], []
        for j, s in enumerate(sets):
            for k in s:
                rows.append(col[k])
                cols.append(j)
        self.E = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                                   shape=(len(vocab), len(self.examples)))
        self.sizes = np.asarray([max(1, len(s)) for s in sets], dtype=np.float32)

    def scores(self, sentences: list[str]) -> np.ndarray:
        n = len(sentences)
        if n == 0 or not self.examples:
            return np.zeros((n, len(self.examples)), np.float32)
        joined = _STRIP.sub("", _SEP.join(sentences))
        cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        sent = np.cumsum(cps == 0)              # sentence index of each character
        keys = (cps[:-1] << 21) | cps[1:]
        ok = (cps[:-1] != 0) & (cps[1:] != 0)
        keys, rows = keys[ok], sent[:-1][ok]
        pos = np.searchsorted(self.vocab, keys)
        pos[pos == len(self.vocab)] = 0
        hit = self.vocab[pos] == keys
        rows, cols = rows[hit], pos[hit]
        # distinct (sentence, pair): binary presence
        flat = np.unique(rows * len(self.vocab) + cols)
        S = sparse.csr_matrix((np.ones(len(flat), np.float32), (flat // len(self.vocab), flat % len(self.vocab))),
                              shape=(n, len(self.vocab)))
        return (S @ self.E).toarray() / self.sizes
