"""Text normalisation for Chinese and English letters.

Two forms come out of the same per-character folding:

* :func:`normalize` - the canonical text used for fingerprints and embeddings: NFKC (which also
  turns full-width digits, letters and punctuation into half-width), traditional to simplified
  Chinese (OpenCC), case folding, Chinese punctuation folded onto one ASCII form, whitespace
  runs collapsed, and masks inside numbers (``138××××1234``, ``138xxxx1234``) written as ``*``.
* :func:`fold_with_offsets` - the same folding without collapsing whitespace, plus a map from
  every folded character back to its position in the original, so extracted artifacts can
  point at the exact raw span.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from opencc import OpenCC

_T2S = OpenCC("t2s")

# Punctuation that NFKC leaves alone but that people type interchangeably.
_PUNCT = {
    "。": ".", "｡": ".", "、": ",", "，": ",", "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'",
    "「": '"', "」": '"', "『": '"', "』": '"', "【": "[", "】": "]", "〔": "[", "〕": "]",
    "《": "<", "》": ">", "〈": "<", "〉": ">", "—": "-", "–": "-", "―": "-", "‐": "-", "‑": "-",
    "−": "-", "～": "~", "〜": "~", "…": "...", "·": ".", "•": ".", "︰": ":", "＊": "*",
}
# Characters used to mask digits inside a number; only folded to ``*`` between/after digits.
_MASK_CHARS = "*xX×✕＊●○■□#"
_MASK_RUN = re.compile(r"(?:(?<=[0-9])|(?<=[0-9][ -]))[" + re.escape(_MASK_CHARS) + r"]{2,}")
_WS = re.compile(r"\s+")


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    """NFKC, punctuation folding, traditional->simplified and case folding of one character."""
    if ch < "\x80":
        return ch.lower()
    out = unicodedata.normalize("NFKC", ch)
    out = "".join(_PUNCT.get(c, c) for c in out)
    if any("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in out):
        out = _T2S.convert(out)
    # NFKC maps some symbols to spaces (e.g. U+3000); keep them as one space.
    return out.lower()


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """Fold ``text`` character by character; ``offsets[i]`` is the original index of folded char ``i``."""
    parts: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        f = _fold_char(ch)
        parts.append(f)
        offsets.extend([i] * len(f))
    folded = "".join(parts)
    folded = _MASK_RUN.sub(lambda m: "*" * len(m.group(0)), folded)  # same length, offsets hold
    return folded, offsets


class _FoldTable(dict):
    """``str.translate`` table filled on first sight of a character: the per-character folding in C."""

    def __missing__(self, code: int) -> str:
        value = self[code] = _fold_char(chr(code))
        return value


_TABLE = _FoldTable()
_MASK_FAST = re.compile(r"([0-9][ -]?)([" + re.escape(_MASK_CHARS) + r"]{2,})")


def normalize(text: str) -> str:
    """Canonical form of a letter for fingerprints, search and comparison (see module doc).

    Same result as folding character by character (:func:`fold_with_offsets`) with whitespace
    collapsed, but through ``str.translate`` with a cached table instead of a Python loop.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize expects str, got {type(text).__name__}")
    s = text.translate(_TABLE)
    s = _MASK_FAST.sub(lambda m: m.group(1) + "*" * len(m.group(2)), s)
    return _WS.sub(" ", s).strip()
