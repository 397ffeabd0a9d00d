"""Vector spaces: FAISS files over the SQLite registry, matches and their decisions."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from xiaobao.errors import SpaceError

#: Used when neither a calibration nor a modality default exists for a space.
GENERIC_THRESHOLDS = (0.80, 0.65)
_DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {}

DECISIONS = ("match", "possible", "none", "insufficient")


def register_default_thresholds(space: str, match: float, possible: float) -> None:
    """Declare a space's documented default thresholds (used until it is calibrated)."""
    if not possible <= match:
        raise ValueError(f"{space}: possible threshold {possible} is above match threshold {match}")
    _DEFAULT_THRESHOLDS[space] = (float(match), float(possible))


def default_thresholds(space: str) -> tuple[float, float]:
    return _DEFAULT_THRESHOLDS.get(space, GENERIC_THRESHOLDS)


def decide(score: float, match: float, possible: float) -> str:
    """Two-tier decision, as on call-centre watchlists."""
    if score >= match:
        return "match"
    if score >= possible:
        return "possible"
    return "none"


def parse_space(space: str) -> tuple[str, str, str]:
    """Split ``modality/model@version``; a malformed name is a user error."""
    if "/" not in space or "@" not in space.split("/", 1)[1]:
        raise SpaceError(f"space {space!r} is not of the form modality/model@version")
    modality, rest = space.split("/", 1)
    model, version = rest.rsplit("@", 1)
    if not (modality and model and version):
        raise SpaceError(f"space {space!r} is not of the form modality/model@version")
    return modality, model, version


@dataclass(frozen=True)
class Match:
    """One hit of a search: the subject, the sample that scored best, and the decision."""

    subject_id: int
    sample_id: int
    space: str
    score: float
    decision: str
    subject_name: str | None = None
    subject_kind: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


__all__ = [
    "Match",
    "DECISIONS",
    "register_default_thresholds",
    "default_thresholds",
    "decide",
    "parse_space",
]
