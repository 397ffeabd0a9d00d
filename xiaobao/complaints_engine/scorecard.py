"""The proxy-risk scorecard (data/scorecard.yaml) and the fusion of evidence into a score.

Fusion is a noisy-or over weighted evidence, chosen because a person can check it: each
reason carries its weight, strength and the points it added, and the score is
``1 - prod(1 - weight * strength)``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


from xiaobao.errors import InputError
from xiaobao.yamlfile import read_yaml_mapping

SCORECARD_FILE = Path(__file__).with_name("data") / "scorecard.yaml"
TIERS = ("high", "medium", "low")


@dataclass
class Reason:
    """One piece of evidence, as a sentence with what supports it."""

    kind: str                 # scorecard evidence key, e.g. shared_artifact, style, voice
    text: str
    strength: float = 1.0
    evidence: dict = field(default_factory=dict)
    weight: float = 0.0       # filled in by fuse()
    points: float = 0.0       # score added by this reason, filled in by fuse()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "weight": round(self.weight, 4),
                "strength": round(self.strength, 4), "points": round(self.points, 4),
                "evidence": self.evidence}


@dataclass(frozen=True)
class Scorecard:
    path: str
    raw: dict

    @property
    def high(self) -> float:
        return float(self.raw["tiers"]["high"])

    @property
    def medium(self) -> float:
        return float(self.raw["tiers"]["medium"])

    def section(self, name: str) -> dict:
        return self.raw.get(name) or {}

    def evidence(self, kind: str) -> dict:
        return self.raw["evidence"].get(kind) or {}

    def weight(self, kind: str, decision: str | None = None) -> float:
        spec = self.evidence(kind)
        if decision is not None and decision in spec:
            return float(spec[decision])
        return float(spec.get("weight", 0.0))

    def tier(self, score: float) -> str:
        return "high" if score >= self.high else "medium" if score >= self.medium else "low"

    @property
    def service_number(self) -> re.Pattern:
        return re.compile(self.section("artifacts").get("service_number_pattern") or r"^$")


@lru_cache(maxsize=8)
def load_scorecard(path: str | None = None) -> Scorecard:
    """Read and check a scorecard; a bad file is one clear error naming the entry."""
    p = Path(path) if path else SCORECARD_FILE
    raw = read_yaml_mapping(p, "scorecard")
    tiers = raw.get("tiers") or {}
    try:
        high, medium = float(tiers["high"]), float(tiers["medium"])
    except (KeyError, TypeError, ValueError):
        raise InputError(p, "tiers: need numeric 'high' and 'medium'") from None
    if not 0 <= medium <= high <= 1:
        raise InputError(p, f"tiers: need 0 <= medium ({medium}) <= high ({high}) <= 1")
    if not isinstance(raw.get("evidence"), dict):
        raise InputError(p, "missing 'evidence' section")
    for kind, spec in raw["evidence"].items():
        for key, value in (spec or {}).items():
            if key in ("weight", "match", "possible") and not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise InputError(p, f"evidence.{kind}.{key}: {value!r} is not a number in [0, 1]")
    try:
        re.compile((raw.get("artifacts") or {}).get("service_number_pattern") or "")
    except re.error as exc:
        raise InputError(p, f"artifacts.service_number_pattern: {exc}") from None
    return Scorecard(str(p), raw)


def fuse(reasons: list[Reason], card: Scorecard) -> tuple[float, str, list[Reason]]:
    """Score, tier and the reasons (weights and points filled in, strongest first)."""
    remaining = 1.0
    for r in reasons:
        if not r.weight:
            r.weight = card.weight(r.kind, r.evidence.get("decision"))
        r.strength = max(0.0, min(1.0, r.strength))
        contribution = r.weight * r.strength
        r.points = remaining * contribution   # share of the score this reason added
        remaining *= 1.0 - contribution
    score = round(1.0 - remaining, 4)
    ordered = sorted(reasons, key=lambda r: -r.weight * r.strength)
    return score, card.tier(score), ordered


def mask(kind: str, value: str) -> str:
    """Phone, ID and card numbers shown masked in sentences (full value stays in evidence)."""
    if kind in ("phone", "mobile", "landline") and len(value) >= 7:
        return value[:3] + "****" + value[-4:]
    if kind in ("id_number", "bank_card") and len(value) >= 8:
        return value[:4] + "*" * (len(value) - 8) + value[-4:]
    return value
