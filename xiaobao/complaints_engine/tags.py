"""The 消保 tag vocabulary (data/tags.yaml) and the rules that apply tags during screening.

Rules are rule-engine expressions, evaluated safely over a complaint's fields and the
facts screening found; no Python eval.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import rule_engine

from xiaobao.errors import InputError, UserError
from xiaobao.yamlfile import read_yaml_mapping

TAGS_FILE = Path(__file__).with_name("data") / "tags.yaml"


@dataclass(frozen=True)
class TagRule:
    name: str
    tag: str
    target: str  # complaint | customer
    rule: rule_engine.Rule


@dataclass(frozen=True)
class Vocabulary:
    tags: dict[str, dict]
    rules: tuple[TagRule, ...]


@lru_cache(maxsize=8)
def load_vocabulary(path: str | None = None) -> Vocabulary:
    """Read and check the vocabulary file; a bad file names the entry at fault."""
    path = Path(path) if path else TAGS_FILE
    data = read_yaml_mapping(path, "tag vocabulary")
    tags = {}
    for entry in data.get("tags") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            raise InputError(path, f"tag entry without a name: {entry!r}")
        tags[str(entry["name"])] = entry
    rules = []
    for entry in data.get("rules") or []:
        name = entry.get("name") or entry.get("tag")
        if entry.get("tag") not in tags:
            raise InputError(path, f"rule {name!r} applies undeclared tag {entry.get('tag')!r}")
        target = entry.get("target", "complaint")
        if target not in ("complaint", "customer"):
            raise InputError(path, f"rule {name!r}: target must be complaint or customer")
        try:
            rule = rule_engine.Rule(str(entry["when"]))
        except (KeyError, rule_engine.errors.EngineError) as exc:
            raise InputError(path, f"rule {name!r}: bad 'when' expression: {exc}") from None
        rules.append(TagRule(str(name), str(entry["tag"]), target, rule))
    return Vocabulary(tags, tuple(rules))


def check_tags(tags: Iterable[str], path: str | None = None) -> list[str]:
    """The tags, after refusing any not in the vocabulary."""
    vocab = load_vocabulary(path)
    out = []
    for tag in tags:
        if tag not in vocab.tags:
            raise UserError(f"unknown tag {tag!r}; known tags: {', '.join(vocab.tags)}")
        out.append(tag)
    return out


def apply_rules(facts: dict, path: str | None = None) -> list[tuple[str, str, str]]:
    """(tag, target, rule name) for every rule whose expression holds for these facts."""
    hits = []
    for r in load_vocabulary(path).rules:
        try:
            ok = r.rule.matches(facts)
        except rule_engine.errors.EngineError:
            ok = False  # a rule over a missing/mistyped fact simply does not fire
        if ok:
            hits.append((r.tag, r.target, r.name))
    return hits
