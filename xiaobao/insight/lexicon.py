"""The customer-experience lexicons (data/lexicon.yaml), compiled for fast matching.

Every phrase is normalised (traditional/full-width folded) when loaded; each labelled group is
one compiled alternation, longest phrase first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


from xiaobao.errors import InputError
from xiaobao.yamlfile import read_yaml_with_digest
from xiaobao.text_fingerprint.normalize import normalize

DEFAULT_LEXICON = Path(__file__).with_name("data") / "lexicon.yaml"
LABELLED = ("demands", "willingness", "reasons")
FLAT = ("escalation", "negative")


def _alternation(phrases) -> re.Pattern:
    phrases = sorted({normalize(str(p)) for p in phrases if str(p).strip()}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, phrases))) if phrases else re.compile(r"(?!x)x")


@dataclass(frozen=True)
class Lexicon:
    path: str
    sha256: str
    groups: dict[str, dict[str, re.Pattern]]      # field -> label -> pattern
    escalation: re.Pattern
    negative: re.Pattern

    def labels(self, field: str) -> list[str]:
        return list(self.groups[field])


@lru_cache(maxsize=8)
def load_lexicon(path: str | None = None) -> Lexicon:
    """Read and compile a lexicon file (default: the shipped one)."""
    p = Path(path) if path else DEFAULT_LEXICON
    data, digest = read_yaml_with_digest(p, "lexicon")
    groups = {}
    for field in LABELLED:
        entry = data.get(field)
        if not isinstance(entry, dict) or not entry:
            raise InputError(p, f"lexicon needs a '{field}:' mapping of label -> phrases")
        for label, phrases in entry.items():
            if not isinstance(phrases, list) or not phrases:
                raise InputError(p, f"{field}.{label}: needs a list of phrases")
        groups[field] = {str(label): _alternation(phrases) for label, phrases in entry.items()}
    for field in FLAT:
        if not isinstance(data.get(field), list) or not data[field]:
            raise InputError(p, f"lexicon needs a '{field}:' list of phrases")
    return Lexicon(str(p), digest, groups,
                   _alternation(data["escalation"]), _alternation(data["negative"]))
