"""64-bit SimHash over weighted character n-grams, a FAISS binary (Hamming) index, and the
set-overlap score that verifies a candidate.

Why both: SimHash finds near-duplicates in sub-linear memory and FAISS compares 64-bit codes at
memory speed, but a Hamming distance means little to an investigator. Every candidate is
therefore re-scored by *overlap*: the share of the shorter letter's character n-grams that also
occur in the other letter (1.0 = one letter is contained in the other).

Digits are folded to ``0`` before shingling, so a template re-used with another borrower's
amounts and phone numbers keeps its fingerprint.
"""
from __future__ import annotations

import re
from typing import Hashable, Iterable, Sequence

import faiss
import numpy as np

from xiaobao.text_fingerprint.normalize import normalize

NGRAM = 3
_KEEP = re.compile(r"[^0-9a-z\u3400-\u9fff]+")
_DIGITS = re.compile(r"[0-9]+")
_SHIFTS = np.arange(64, dtype=np.uint64)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_PRIMES = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9),
           np.uint64(0xD6E8FEB86659FD93), np.uint64(0xFF51AFD7ED558CCD))


def fingerprint_text(text: str, *, normalized: bool = False) -> str:
    """The characters a fingerprint sees: normalised letters, CJK and digits (digit runs as ``0``)."""
    t = text if normalized else normalize(text)
    return _DIGITS.sub("0", _KEEP.sub("", t))


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads n-gram codes over all 64 bits."""
    h = (h ^ (h >> np.uint64(30))) * _M1
    h = (h ^ (h >> np.uint64(27))) * _M2
    return h ^ (h >> np.uint64(31))


def _ngram_codes(codes: np.ndarray, n: int, salt: int = 0) -> np.ndarray:
    """Hash every n-gram of a code-point array: a polynomial over the code points, then one mix."""
    m = len(codes) - n + 1
    with np.errstate(over="ignore"):
        h = np.full(m, np.uint64(salt), dtype=np.uint64)
        for i in range(n):
            h += codes[i:i + m] * _PRIMES[i]
        return _mix(h)


def ngram_hashes(text: str, n: int = NGRAM, *, normalized: bool = False) -> np.ndarray:
    """64-bit hashes of the character n-grams of a letter, in order (repeats kept)."""
    s = fingerprint_text(text, normalized=normalized)
    codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < n:  # a very short letter is one feature
        return _ngram_codes(codes, len(codes)) if len(codes) else np.zeros(0, np.uint64)
    return _ngram_codes(codes, n)


def shingles(text: str, n: int = NGRAM, *, normalized: bool = False) -> np.ndarray:
    """Sorted distinct n-gram hashes (uint64): the set the overlap score compares."""
    return np.unique(ngram_hashes(text, n, normalized=normalized))


def _simhash_from_hashes(h: np.ndarray) -> tuple[int, np.ndarray]:
    """SimHash and distinct n-grams: each bit is the sign of the weighted vote of the n-grams' bits."""
    if not len(h):
        return 0, h
    uniq, counts = np.unique(h, return_counts=True)
    weights = (1.0 + np.log(counts)).astype(np.float32)  # sublinear: a repeated phrase must not own it
    bits = np.unpackbits(uniq.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    score = 2.0 * (weights @ bits) - weights.sum()
    code = np.packbits(score > 0, bitorder="little").view("<u8")[0]
    return int(code), uniq


def simhash64(text: str, n: int = NGRAM) -> int:
    """64-bit SimHash of a letter over its sublinearly weighted character n-grams (an unsigned int)."""
    return _simhash_from_hashes(ngram_hashes(text, n))[0]


def fingerprint(text: str, n: int = NGRAM) -> tuple[int, np.ndarray]:
    """SimHash and shingle set of one letter from one pass over its n-grams."""
    return _simhash_from_hashes(ngram_hashes(text, n))


def hamming(a: int, b: int) -> int:
    return int(a ^ b).bit_count()


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the smaller shingle set found in the other (containment of the shorter letter)."""
    if not len(a) or not len(b):
        return 0.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / min(len(a), len(b))


def codes_to_bytes(codes: Iterable[int]) -> np.ndarray:
    """Unsigned 64-bit SimHashes as the uint8[n, 8] rows FAISS binary indexes take."""
    arr = np.fromiter((int(c) for c in codes), dtype=np.uint64)
    return np.ascontiguousarray(arr.astype("<u8").view(np.uint8).reshape(-1, 8))


class SimHashIndex:
    """Near-duplicate search: a FAISS binary index over 64-bit SimHashes, verified by overlap.

    ``add(ids, texts)`` takes any hashable ids. ``search(texts, k, max_hamming)`` returns, per
    query, up to ``k`` ``(id, hamming, overlap)`` tuples, highest overlap first, among the
    stored letters within ``max_hamming`` bits (and at least ``min_overlap``).

    Up to ``approx_from`` letters the index is exact (``IndexBinaryFlat``); from there on it is
    an inverted file over binary k-means cells (``IndexBinaryIVF``, ``nprobe`` cells visited),
    because a flat scan of 100,000 codes per query costs more than fingerprinting the letter.
    """

    def __init__(self, n: int = NGRAM, approx_from: int = 20000, nprobe: int = 24):
        self.n = n
        self.approx_from = approx_from
        self.nprobe = nprobe
        self.index = faiss.IndexBinaryFlat(64)
        self.ids: list[Hashable] = []
        self._codes: list[np.ndarray] = []
        self._built = 0  # letters the FAISS index holds
        # shingles per letter (32-bit is plenty to compare two letters)
        self._sh: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, ids: Sequence[Hashable], texts: Sequence[str]) -> None:
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        fps = [fingerprint(t, self.n) for t in texts]
        self.add_fingerprints(ids, [f[0] for f in fps], [f[1] for f in fps])

    def add_fingerprints(self, ids, codes, shingle_sets) -> None:
        """Add letters already fingerprinted (e.g. codes and shingles kept in a database)."""
        if not (len(ids) == len(codes) == len(shingle_sets)):
            raise ValueError("ids, codes and shingle sets differ in length")
        self._codes.append(codes_to_bytes(codes))
        self.ids.extend(ids)
        self._sh.extend(np.unique(np.asarray(s, dtype=np.uint64).astype(np.uint32)) for s in shingle_sets)

    def _sync(self) -> None:
        """Bring the FAISS index up to date; switch to the inverted file once the index is large."""
        n = len(self.ids)
        if self._built == n:
            return
        codes = np.concatenate(self._codes) if len(self._codes) > 1 else self._codes[0]
        self._codes = [codes]
        if n >= self.approx_from and not isinstance(self.index, faiss.IndexBinaryIVF):
            nlist = int(2 ** round(np.log2(4 * np.sqrt(n))))
            quantizer = faiss.IndexBinaryFlat(64)
            index = faiss.IndexBinaryIVF(quantizer, 64, nlist)
            index.train(codes)
            index.nprobe = self.nprobe
            index.add(codes)
            self._quantizer, self.index = quantizer, index  # the IVF index does not own its quantizer
        else:
            self.index.add(codes[self._built:])
        self._built = n

    def search(self, texts: Sequence[str], k: int = 10, max_hamming: int = 20, min_overlap: float = 0.0,
               candidates: int | None = None) -> list[list[tuple[Hashable, int, float]]]:
        fps = [fingerprint(t, self.n) for t in texts]
        return self.search_fingerprints([f[0] for f in fps], [f[1] for f in fps], k, max_hamming, min_overlap,
                                        candidates)

    def search_fingerprints(self, codes, shingle_sets, k: int = 10, max_hamming: int = 20, min_overlap: float = 0.0,
                            candidates: int | None = None, exclude_self: Sequence[int] | None = None):
        """Like :meth:`search`; ``exclude_self[i]`` = a row position of this index to leave out for query i."""
        out: list[list[tuple[Hashable, int, float]]] = [[] for _ in codes]
        if not len(self.ids) or not len(codes):
            return out
        self._sync()
        fetch = min(len(self.ids), candidates or max(2 * k, k + 8))
        dist, pos = self.index.search(codes_to_bytes(codes), fetch)
        for qi, (drow, prow) in enumerate(zip(dist, pos)):
            q = np.unique(np.asarray(shingle_sets[qi], dtype=np.uint64).astype(np.uint32))
            hits = []
            for d, p in zip(drow, prow):
                if p < 0 or d > max_hamming:
                    break  # FAISS returns candidates nearest first
                if exclude_self is not None and p == exclude_self[qi]:
                    continue
                ov = overlap(q, self._sh[p])
                if ov >= min_overlap:
                    hits.append((self.ids[p], int(d), round(float(ov), 4)))
            hits.sort(key=lambda h: (-h[2], h[1]))
            out[qi] = hits[:k]
        return out
