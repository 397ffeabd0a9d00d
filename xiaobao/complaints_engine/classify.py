"""Case category (业务问题) from a complaint's text, with a confidence.

A transparent keyword classifier over a lexicon that the team edits (``data/categories.yaml``):
the score of a category is the sum of the weights of its distinct terms found in the normalised
text; the highest score wins (ties go to the category listed first) and

    confidence = s1 / (s1 + s2 + smoothing)

with s1, s2 the best and second-best scores. No term found: the fallback category (其他) with
confidence 0. Why keywords and not a sentence model: the reasons must be readable by a
regulator ("matched 暴力催收, 通讯录"), it runs at routing speed, and the bundled sentence model
is English-only. ``classify`` returns the matched terms so the choice can be explained.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


from xiaobao.errors import InputError
from xiaobao.yamlfile import read_yaml_mapping

DEFAULT_CATEGORIES_FILE = Path(__file__).resolve().parent / "data" / "categories.yaml"
CATEGORIES = ("催收", "电销", "信息费", "利息费用", "征信", "还款", "服务态度", "其他")


@dataclass(frozen=True)
class Classification:
    category: str
    confidence: float
    terms: tuple[str, ...]
    method: str = "keyword-lexicon@1"


@dataclass(frozen=True)
class Lexicon:
    categories: tuple[str, ...]
    terms: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]  # (category, ((term, weight), ...))
    fallback: str
    smoothing: float


def _to_simplified():
    try:
        import opencc

        conv = opencc.OpenCC("t2s")
        return conv.convert
    except Exception:  # opencc is optional for this module; text is then used as given
        return lambda s: s


_T2S = None


def normalise(text: str) -> str:
    """NFKC (full-width -> half-width), traditional -> simplified, lower case."""
    global _T2S
    if _T2S is None:
        _T2S = _to_simplified()
    return _T2S(unicodedata.normalize("NFKC", text or "")).lower()


@lru_cache(maxsize=8)
def load_lexicon(path: str | Path | None = None) -> Lexicon:
    path = Path(path) if path else DEFAULT_CATEGORIES_FILE
    doc = read_yaml_mapping(path, "category lexicon")
    cats = doc.get("categories")
    if not isinstance(cats, dict) or not cats:
        raise InputError(path, "needs a 'categories' mapping of category -> {term: weight}")
    terms = []
    for cat, table in cats.items():
        pairs = []
        for term, weight in (table or {}).items():
            try:
                w = float(weight)
            except (TypeError, ValueError):
                raise InputError(path, f"category {cat}: weight of {term!r} is not a number") from None
            pairs.append((normalise(str(term)), w))
        terms.append((str(cat), tuple(pairs)))
    fallback = str(doc.get("fallback", "其他"))
    if fallback not in cats:
        raise InputError(path, f"fallback category {fallback!r} is not among the categories")
    return Lexicon(tuple(cats), tuple(terms), fallback, float(doc.get("smoothing", 1.0)))


def classify(text: str, lexicon: Lexicon | None = None) -> Classification:
    """Category of one complaint text, with confidence in [0, 1) and the terms that decided it."""
    lex = lexicon or load_lexicon()
    norm = normalise(text)
    scored = []
    for order, (cat, pairs) in enumerate(lex.terms):
        hits = [t for t, _ in pairs if t and t in norm]
        score = sum(w for t, w in pairs if t and t in norm)
        scored.append((score, -order, cat, hits))
    scored.sort(reverse=True)
    s1, _, cat, hits = scored[0]
    if s1 <= 0:
        return Classification(lex.fallback, 0.0, ())
    s2 = scored[1][0] if len(scored) > 1 else 0.0
    return Classification(cat, round(s1 / (s1 + s2 + lex.smoothing), 4), tuple(hits))
