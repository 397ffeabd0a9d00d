"""Touchpoint policies in YAML, evaluated with rule-engine (never eval)."""
from __future__ import annotations

from pathlib import Path

import rule_engine
import yaml

from xiaobao.errors import InputError

LEVELS = ("none", "notice", "warn", "intercept")


def load_policies(path) -> dict:
    """Parse and validate a policies file -> {touchpoint: [(level, Rule, actions, reason)]}."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(path, f"cannot read policies: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("touchpoints"), dict):
        raise InputError(path, "expected a mapping with 'touchpoints'")
    ctx = rule_engine.Context(default_value=None)
    out = {}
    for tp, rules in raw["touchpoints"].items():
        parsed = []
        for i, r in enumerate(rules or []):
            level = r.get("level") if isinstance(r, dict) else None
            if level not in LEVELS:
                raise InputError(path, f"touchpoint {tp} rule {i}: level must be one of {LEVELS}")
            try:
                rule = rule_engine.Rule(str(r.get("when", "true")), context=ctx)
            except rule_engine.errors.EngineError as exc:
                raise InputError(path, f"touchpoint {tp} rule {i}: bad condition: {exc}") from None
            parsed.append((level, rule, list(r.get("actions") or []), str(r.get("reason", ""))))
        out[tp] = parsed
    return out


def evaluate(policies: dict, touchpoint: str, facts: dict) -> dict:
    """Highest level among matching rules, with all their actions and reasons."""
    if touchpoint not in policies:
        raise InputError("touchpoint", f"unknown touchpoint {touchpoint!r}")
    level, actions, reasons = "none", [], []
    for lvl, rule, acts, reason in policies[touchpoint]:
        if rule.matches(facts):
            if LEVELS.index(lvl) > LEVELS.index(level):
                level = lvl
            actions += [a for a in acts if a not in actions]
            reasons.append(reason)
    return {"touchpoint": touchpoint, "level": level, "actions": actions, "reasons": reasons}
