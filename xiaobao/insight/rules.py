"""Inspection rule sets: the YAML a compliance team edits (see data/quality_rules.yaml).

Loading checks every rule and names the one at fault, so a typo never silently disables a check.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


from xiaobao.errors import InputError
from xiaobao.yamlfile import read_yaml_with_digest

DEFAULT_RULES = Path(__file__).with_name("data") / "quality_rules.yaml"
KINDS = ("phrases", "hours", "frequency", "disclosure")
SEVERITIES = ("high", "medium", "low")
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    category: str
    severity: str
    penalty: float
    directions: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    speaker: str | None = None
    phrases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    similarity: float = 0.6
    semantic: float | None = None           # cosine for the optional sentence-embedding stage
    semantic_screen: float = 0.3            # bigram containment a sentence needs to reach that stage
    allowed: tuple[str, str] | None = None      # ("08:00", "21:00")
    max_per_day: int = 0
    required: tuple[tuple[str, ...], ...] = ()
    within_turns: int = 2

    def applies(self, direction: str | None, channel: str) -> bool:
        return ((not self.directions or direction in self.directions)
                and (not self.channels or channel in self.channels))


@dataclass(frozen=True)
class RuleSet:
    path: str
    sha256: str
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def of_kind(self, kind: str) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind]


def _strings(path, name, value, key) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and str(v).strip() for v in value):
        raise InputError(path, f"rule {name!r}: {key} must be a list of non-empty strings")
    return tuple(str(v).strip() for v in value)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and check a rule file (default: the shipped example set)."""
    path = Path(path) if path else DEFAULT_RULES
    data, digest = read_yaml_with_digest(path, "rule file")
    entries = data.get("rules")
    if not isinstance(entries, list) or not entries:
        raise InputError(path, "no 'rules:' list")
    rules, seen = [], set()
    for i, e in enumerate(entries, 1):
        if not isinstance(e, dict) or not e.get("name"):
            raise InputError(path, f"rule #{i} has no name")
        name = str(e["name"])
        if name in seen:
            raise InputError(path, f"rule {name!r} appears twice")
        seen.add(name)
        kind = e.get("kind")
        if kind not in KINDS:
            raise InputError(path, f"rule {name!r}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
        severity = e.get("severity", "medium")
        if severity not in SEVERITIES:
            raise InputError(path, f"rule {name!r}: severity must be high, medium or low")
        try:
            penalty = float(e.get("penalty", 10))
            similarity = float(e.get("similarity", 0.6))
            max_per_day = int(e.get("max_per_day", 0))
            within = int(e.get("within_turns", 2))
        except (TypeError, ValueError):
            raise InputError(path, f"rule {name!r}: penalty, similarity, max_per_day and within_turns "
                                   "must be numbers") from None
        if not 0 < similarity <= 1:
            raise InputError(path, f"rule {name!r}: similarity must be in (0, 1]")
        semantic = e.get("semantic")
        try:
            semantic = None if semantic is None else float(semantic)
            screen = float(e.get("semantic_screen", 0.3))
        except (TypeError, ValueError):
            raise InputError(path, f"rule {name!r}: semantic and semantic_screen must be numbers") from None
        if semantic is not None and not (0 < semantic <= 1 and 0 <= screen <= 1):
            raise InputError(path, f"rule {name!r}: semantic and semantic_screen must be in (0, 1]")
        kw = dict(name=name, kind=kind, category=str(e.get("category") or name), severity=severity,
                  penalty=penalty, directions=_strings(path, name, e.get("directions"), "directions"),
                  channels=_strings(path, name, e.get("channels"), "channels"),
                  speaker=e.get("speaker"), similarity=similarity, max_per_day=max_per_day, within_turns=within,
                  semantic=semantic, semantic_screen=screen)
        if kw["speaker"] not in (None, "agent", "customer"):
            raise InputError(path, f"rule {name!r}: speaker must be agent or customer")
        if kind == "phrases":
            kw["phrases"] = _strings(path, name, e.get("phrases"), "phrases")
            kw["exclude"] = _strings(path, name, e.get("exclude"), "exclude")
            kw["examples"] = _strings(path, name, e.get("examples"), "examples")
            if not kw["phrases"] and not kw["examples"]:
                raise InputError(path, f"rule {name!r}: a phrases rule needs phrases or examples")
            if any(len(x) < 3 for x in kw["examples"]):
                raise InputError(path, f"rule {name!r}: examples must be sentences of 3+ characters")
        elif kind == "hours":
            m = _HOURS.match(str(e.get("allowed", "")).replace(" ", ""))
            if not m:
                raise InputError(path, f"rule {name!r}: allowed must look like 08:00-21:00")
            a, b = f"{int(m[1]):02d}:{m[2]}", f"{int(m[3]):02d}:{m[4]}"
            kw["allowed"] = (a, b)
        elif kind == "frequency":
            if max_per_day < 1:
                raise InputError(path, f"rule {name!r}: max_per_day must be 1 or more")
        elif kind == "disclosure":
            groups = e.get("required")
            if not isinstance(groups, list) or not groups:
                raise InputError(path, f"rule {name!r}: required must be a list of phrase lists")
            kw["required"] = tuple(_strings(path, name, g, "required") for g in groups)
        rules.append(Rule(**kw))
    return RuleSet(str(path), digest, tuple(rules))
