"""What screening keeps of a complaint's text: SimHash, linking artifacts, coaching phrases.

A thin layer over :mod:`xiaobao.text_fingerprint` so the rest of the engine sees one small
record per complaint, computed once and stored (the first, resumable phase of a batch).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xiaobao.text_fingerprint import extract_artifacts, fingerprint, load_lexicon, normalize

#: Artifact kinds that are phrases of the proxy lexicon, not identifiers.
PHRASE_KINDS = ("phrase", "lexicon", "proxy_phrase")


@dataclass
class TextFeatures:
    complaint_id: str
    simhash: int | None
    n_chars: int
    artifacts: list[tuple[str, str, str]] = field(default_factory=list)   # (kind, value, raw)
    phrases: list[str] = field(default_factory=list)
    shingles: bytes | None = None   # sorted distinct n-gram hashes (uint32), for overlap checks


def featurize(complaint_id: str, text: str | None, representative: str | None = None) -> TextFeatures:
    text = text or ""
    # The claimed representative links complaints like a phone number does.
    rep = normalize(representative).strip() if representative else ""
    rep_art = [("representative", rep, representative)] if rep else []
    if not text.strip():
        return TextFeatures(complaint_id, None, 0, rep_art)
    arts, phrases, seen = list(rep_art), [], set()
    for a in extract_artifacts(text, _lexicon()):
        if a.kind in PHRASE_KINDS:
            if a.value not in phrases:
                phrases.append(a.value)
            continue
        key = (a.kind, str(a.value))
        if key not in seen:
            seen.add(key)
            arts.append((a.kind, str(a.value), str(a.raw)))
    code, sh = fingerprint(text)
    sh32 = np.unique(np.asarray(sh, dtype=np.uint64).astype(np.uint32))
    # Length in letters, CJK characters and digits: punctuation and
    # spacing do not make a note long enough to call a template.
    return TextFeatures(complaint_id, _signed(code), sum(ch.isalnum() for ch in text), arts, phrases, sh32.tobytes())


_LEXICON = None


def _lexicon():
    """Loaded once per process (the lookup checks the file's mtime on every call)."""
    global _LEXICON
    if _LEXICON is None:
        _LEXICON = load_lexicon()
    return _LEXICON


def featurize_many(items: list[tuple]) -> list[TextFeatures]:
    """(complaint id, text, representative) rows; top-level so a process pool can run it."""
    return [featurize(*item) for item in items]


def _signed(h: int) -> int:
    """SQLite integers are signed 64-bit: store the SimHash's bit pattern as such."""
    h = int(h) & 0xFFFFFFFFFFFFFFFF
    return h - (1 << 64) if h >= 1 << 63 else h


def unsigned(h: int) -> int:
    return int(h) & 0xFFFFFFFFFFFFFFFF


def phrase_categories() -> dict[str, str]:
    """Canonical lexicon phrase -> its category (debt_relief, paid_agent, regulator_threat ...)."""
    lex = load_lexicon()
    return {canonical: category for canonical, category in lex.phrases.values()}
