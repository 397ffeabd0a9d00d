"""The proxy-ring lexicon: phrases and organisation-name endings, kept in a YAML data file.

Users extend it without code: pass another file (``load_lexicon(path)``, ``--lexicon``, or
``$XIAOBAO_TEXT_LEXICON``). Entries are normalised on load, so traditional or full-width
spellings in the file still match.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


from xiaobao.errors import InputError
from xiaobao.yamlfile import read_yaml_mapping
from xiaobao.text_fingerprint.normalize import normalize

DEFAULT_LEXICON = Path(__file__).with_name("data") / "lexicon.yaml"
LEXICON_ENV = "XIAOBAO_TEXT_LEXICON"


@dataclass(frozen=True)
class Lexicon:
    """``phrases`` maps every normalised spelling to (canonical phrase, category)."""

    phrases: dict[str, tuple[str, str]]
    org_suffixes: tuple[str, ...]
    source: str

    @property
    def pattern(self) -> re.Pattern:
        """One alternation, longest spelling first, so 银保监会 wins over 银保监."""
        return _alternation(tuple(self.phrases))

    @property
    def org_pattern(self) -> re.Pattern:
        return _alternation(self.org_suffixes)


@lru_cache(maxsize=64)
def _alternation(words: tuple[str, ...]) -> re.Pattern:
    ordered = sorted(set(words), key=lambda w: (-len(w), w))
    if not ordered:
        return re.compile(r"(?!x)x")  # matches nothing
    return re.compile("|".join(re.escape(w) for w in ordered))


def _fail(path, message: str):
    raise InputError(path, message)


def load_lexicon(path: str | os.PathLike | None = None) -> Lexicon:
    """Read a lexicon file; default: ``$XIAOBAO_TEXT_LEXICON`` or the packaged ``data/lexicon.yaml``."""
    path = Path(path or os.environ.get(LEXICON_ENV) or DEFAULT_LEXICON)
    return _load(str(path.resolve()) if path.exists() else str(path), _mtime(path))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


@lru_cache(maxsize=8)
def _load(path: str, _mtime_key: float) -> Lexicon:
    p = Path(path)
    data = read_yaml_mapping(p, "lexicon")
    phrases: dict[str, tuple[str, str]] = {}
    for i, entry in enumerate(data.get("phrases") or [], 1):
        if isinstance(entry, str):
            entry = {"phrase": entry}
        if not isinstance(entry, dict) or not str(entry.get("phrase") or "").strip():
            _fail(p, f"phrases entry {i} has no 'phrase'")
        canonical = normalize(str(entry["phrase"]))
        category = str(entry.get("category") or "phrase")
        variants = entry.get("variants") or []
        if not isinstance(variants, list):
            _fail(p, f"phrases entry {i} ({canonical}): 'variants' must be a list")
        for spelling in [canonical, *(normalize(str(v)) for v in variants)]:
            if spelling:
                phrases.setdefault(spelling, (canonical, category))
    suffixes = data.get("org_suffixes") or []
    if not isinstance(suffixes, list):
        _fail(p, "'org_suffixes' must be a list")
    orgs = tuple(sorted({normalize(str(s)) for s in suffixes if str(s).strip()}, key=len, reverse=True))
    return Lexicon(phrases=phrases, org_suffixes=orgs, source=str(p))
