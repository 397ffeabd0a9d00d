"""Touchpoint policies in YAML, evaluated with rule-engine (never eval).

A policies file is compiled once per process and kept (:func:`cached_policies`): it is read
again only when its mtime or size changes, and an edit that no longer validates is logged while
the last good version stays in force, so a bad edit never turns every check into an error.
``xiaobao policies check FILE`` (:func:`load_policies`) is the strict validation.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import yaml

from xiaobao.errors import InputError, UserError
from xiaobao.prevention.facts import FACT_DEFAULTS

LEVELS = ("none", "notice", "warn", "intercept")
#: The example policies shipped with the package (the default everywhere).
DEFAULT_POLICIES = Path(__file__).with_name("policies.yaml")

log = logging.getLogger("xiaobao.prevention")


class UnknownTouchpointError(UserError):
    """A touchpoint the policies do not name; ``touchpoints`` lists the ones they do."""

    def __init__(self, touchpoint: str, touchpoints):
        self.touchpoint = touchpoint
        self.touchpoints = sorted(touchpoints)
        super().__init__(f"unknown touchpoint {touchpoint!r} (known: {', '.join(self.touchpoints) or 'none'})")


def load_policies(path) -> dict:
    """Parse and validate a policies file -> {touchpoint: [(level, Rule, actions, reason)]}."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(path, f"cannot read policies: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("touchpoints"), dict):
        raise InputError(path, "expected a mapping with 'touchpoints'")
    import rule_engine  # here, not at import: building its parser costs ~0.35 s of every CLI start

    out = {}
    for tp, rules in raw["touchpoints"].items():
        if rules is not None and not isinstance(rules, list):
            raise InputError(path, f"touchpoint {tp}: expected a list of rules")
        parsed = []
        for i, r in enumerate(rules or []):
            level = r.get("level") if isinstance(r, dict) else None
            if level not in LEVELS:
                raise InputError(path, f"touchpoint {tp} rule {i}: level must be one of {LEVELS}")
            actions = r.get("actions") or []
            if not isinstance(actions, list):
                raise InputError(path, f"touchpoint {tp} rule {i}: actions must be a list")
            try:
                # one context per rule, so its .symbols are the facts this rule reads
                rule = rule_engine.Rule(str(r.get("when", "true")), context=rule_engine.Context(default_value=None))
            except rule_engine.errors.EngineError as exc:
                raise InputError(path, f"touchpoint {tp} rule {i}: bad condition {r.get('when')!r}: "
                                       f"{getattr(exc, 'message', exc)}") from None
            parsed.append((level, rule, [str(a) for a in actions], str(r.get("reason", ""))))
        out[str(tp)] = parsed
    return out


def context_facts(policies: dict) -> list[tuple[str, int, list[str]]]:
    """(touchpoint, rule number, names) of rules that read facts the workspace does not store.

    Such a name must come in every caller's ``context``; without it the check fails, so
    ``xiaobao policies check`` lists them (a misspelt fact shows up here too).
    """
    out = []
    for tp, rules in policies.items():
        for i, (_level, rule, _actions, _reason) in enumerate(rules):
            names = sorted(set(rule.context.symbols) - set(FACT_DEFAULTS))
            if names:
                out.append((tp, i, names))
    return out


def evaluate(policies: dict, touchpoint: str, facts: dict) -> dict:
    """Highest level among matching rules, with all their actions and reasons.

    A documented fact missing from ``facts`` takes its empty value (0, [], false or null).
    """
    if touchpoint not in policies:
        raise UnknownTouchpointError(touchpoint, policies)
    import rule_engine

    facts = {**FACT_DEFAULTS, **facts}
    level, actions, reasons = "none", [], []
    for i, (lvl, rule, acts, reason) in enumerate(policies[touchpoint]):
        try:
            hit = rule.matches(facts)
        except rule_engine.errors.EngineError as exc:  # e.g. a context value of the wrong type
            raise InputError("context", f"touchpoint {touchpoint} rule {i} ({rule.text}): "
                                        f"cannot evaluate: {exc}") from None
        if hit:
            if LEVELS.index(lvl) > LEVELS.index(level):
                level = lvl
            actions += [a for a in acts if a not in actions]
            reasons.append(reason)
    return {"touchpoint": touchpoint, "level": level, "actions": actions, "reasons": reasons}


class PolicyCache:
    """Compiled policies of one file, reloaded when its mtime or size changes (keep-last-good)."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp = None
        self._policies = None
        self.get()  # a file that is bad from the start is the caller's error, raised here

    def _stat(self):
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size

    def get(self) -> dict:
        try:
            stamp = self._stat()
        except OSError:
            if self._policies is None:
                raise InputError(self.path, "cannot read policies: no such file") from None
            stamp = self._stamp  # file moved away: keep serving what we have
        if stamp == self._stamp and self._policies is not None:
            return self._policies
        with self._lock:
            if stamp != self._stamp or self._policies is None:
                try:
                    self._policies = load_policies(self.path)
                except InputError:
                    if self._policies is None:
                        raise
                    log.error("policies file %s no longer validates; keeping the last good version",
                              self.path, exc_info=True)
                self._stamp = stamp
        return self._policies


_caches: dict[Path, PolicyCache] = {}
_caches_lock = threading.Lock()


def policy_cache(path=None) -> PolicyCache:
    """The process-wide cache of one policies file (default: the shipped example), by resolved path."""
    key = Path(path or DEFAULT_POLICIES).resolve()
    cache = _caches.get(key)
    if cache is None:
        with _caches_lock:
            cache = _caches.get(key)
            if cache is None:
                cache = _caches[key] = PolicyCache(key)  # raises (and is not kept) if the file is bad
    return cache


def cached_policies(path=None) -> dict:
    """Compiled policies of ``path``, re-read only when the file changes; a broken edit keeps the last good."""
    return policy_cache(path).get()
