"""Routing: ordered rules in YAML, evaluated safely with ``rule-engine``; first match wins.

A rules file (see ``data/rules.yaml``)::

    default: {queue: general, team: 客服中心, priority: P3}
    rules:
      - name: regulator-high-risk
        when: 'channel in ["监管转办", "12378"] and risk_tier == "high"'
        queue: regulator-special
        team: 消保专班
        priority: P1
        add_tags: [监管转办件]

``when`` is a rule-engine expression over the fields in :data:`FIELDS` (no ``eval``: the
expression is parsed and type-checked against those fields when the file is loaded). A rule
that fails on one complaint at run time (e.g. ``risk_score > 0.5`` on an unscreened
complaint whose score is null) does not match it and is counted in the report.

Speed: a rule's text equalities and list memberships (joined by ``and``, or alternatives
of them joined by ``or``) are necessary conditions, so rules are indexed by them (bitsets
per field value); for a complaint only the rules that pass are evaluated, in file order,
so the first match is exactly the one a plain loop over all rules finds (:meth:`RuleSet.decide_naive`, kept for checks
and the benchmark).
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import rule_engine
from rule_engine import DataType as T

from xiaobao.errors import InputError, UserError
from xiaobao.yamlfile import read_yaml_with_digest
from xiaobao.complaints_engine import records
from xiaobao.complaints_engine.classify import classify, load_lexicon
from xiaobao.complaints_engine.handling_tables import ensure_handling_tables, iso, now_local

DEFAULT_RULES_FILE = Path(__file__).resolve().parent / "data" / "rules.yaml"

#: The fields a rule can use, with their types (documented in data/rules.yaml).
FIELDS = {
    "id": T.STRING, "channel": T.STRING, "customer_id": T.STRING, "business_line": T.STRING,
    "business_source": T.STRING, "institution": T.STRING, "merchant": T.STRING, "level": T.STRING,
    "category": T.STRING, "category_confidence": T.FLOAT, "text": T.STRING,
    "representative": T.STRING, "representative_count": T.FLOAT, "has_authorisation": T.BOOLEAN,
    "attachment_count": T.FLOAT, "risk_score": T.FLOAT, "risk_tier": T.STRING,
    "received_at": T.STRING, "tags": T.ARRAY(T.STRING), "customer_tags": T.ARRAY(T.STRING),
    "match_kinds": T.ARRAY(T.STRING), "possible_kinds": T.ARRAY(T.STRING),
    "max_match_score": T.FLOAT, "has_match": T.BOOLEAN,
}
RULE_KEYS = {"name", "when", "queue", "team", "priority", "add_tags", "sla", "note"}
DEFAULT_PRIORITIES = ("P1", "P2", "P3", "P4")
_REP_SPLIT = re.compile(r"[、,，;；/|]+|\s+和\s+|\s+and\s+")


def _context() -> rule_engine.Context:
    """Typed context: used to check a rule (unknown fields, type mismatches) when it is loaded."""
    return rule_engine.Context(type_resolver=rule_engine.type_resolver_from_dict(FIELDS), default_value=None)


def _runtime_context() -> rule_engine.Context:
    """Untyped context for evaluation: the rule was already type-checked, and skipping the
    per-value type checks makes evaluation about 1.5x faster (benchmarks/bench_route.py)."""
    return rule_engine.Context(default_value=None)


@dataclass(frozen=True)
class RoutingRule:
    name: str
    when: str
    queue: str
    team: str | None = None
    priority: str | None = None
    add_tags: tuple[str, ...] = ()
    index: int | None = None  # 1-based position in the file; None for the default
    sla: str | None = None    # the SLA policy to open the case with; None: chosen by channel
    compiled: object = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("compiled")
        d["add_tags"] = list(self.add_tags)
        return d


@dataclass
class Decision:
    complaint_id: str
    rule: str
    rule_index: int | None
    queue: str
    team: str | None
    priority: str | None
    tags_added: list[str]
    category: str | None
    category_confidence: float | None
    category_source: str
    category_terms: list[str]
    sla_policy: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class RuleSet:
    """An ordered, checked list of routing rules with a default."""

    def __init__(self, rules: list[RoutingRule], default: RoutingRule, path: str = "<memory>", sha256: str = ""):
        self.rules = rules
        self.default = default
        self.path = path
        self.sha256 = sha256
        self.runtime_errors: dict[str, int] = {}
        self._build_index()

    # -- guard index -------------------------------------------------------------------
    def _build_index(self) -> None:
        """Bitsets of the rule clauses each field value lets through, to skip rules that cannot match.

        A rule's necessary condition (:func:`_necessary`) is read from its expression: text
        equalities (``channel == "12378"``, ``category in [...]``) and list memberships
        (``"疑似代理投诉" in tags``) joined by ``and``; an ``or`` of such conditions gives one
        clause per alternative. Per complaint, the clause bitsets of each field are ANDed and
        a rule is a candidate when any of its clauses passes. The filter only ever lets
        through more rules than can match, never fewer, and rule-engine decides.
        """
        clauses: list[tuple[int, list]] = []
        for i, rule in enumerate(self.rules):
            for alt in (_necessary(rule.compiled.statement.expression) or [[]]):
                clauses.append((i, alt))
        every = (1 << len(clauses)) - 1
        tables: dict[str, dict] = {}
        guarded_on: dict[str, int] = {}
        for j, (_, atoms) in enumerate(clauses):
            for kind, name, values in atoms:
                guarded_on[name] = guarded_on.get(name, 0) | (1 << j)
                table = tables.setdefault(name, {})
                for v in values:
                    table[v] = table.get(v, 0) | (1 << j)
        self._index = tuple((name, every & ~guarded_on[name], table, FIELDS.get(name) is not None
                             and FIELDS[name].name == "ARRAY") for name, table in tables.items())
        self._owner = tuple(i for i, _ in clauses)
        self._every = every
        self._cache: dict[tuple, tuple[int, ...]] = {}

    def _candidates(self, ctx: dict) -> tuple[int, ...]:
        try:
            key = tuple(ctx.get(name) for name, *_ in self._index)
            got = self._cache.get(key)
        except TypeError:  # an unhashable value (e.g. a list): no caching for this one
            key, got = None, None
        if got is None:
            mask = self._every
            for name, free, table, is_array in self._index:
                value = ctx.get(name)
                allowed = 0
                if is_array and isinstance(value, (tuple, list)):
                    for v in value:
                        if isinstance(v, str):
                            allowed |= table.get(v, 0)
                elif isinstance(value, str):
                    allowed = table.get(value, 0)
                mask &= free | allowed
            owner, out, last = self._owner, [], -1
            while mask:
                low = mask & -mask
                i = owner[low.bit_length() - 1]
                if i != last:
                    out.append(i)
                    last = i
                mask ^= low
            got = tuple(out)
            if key is not None and len(self._cache) < 200_000:
                self._cache[key] = got
        return got

    def _matches(self, rule: RoutingRule, ctx: dict) -> bool:
        try:
            return rule.compiled.matches(ctx)
        except rule_engine.EngineError:
            self.runtime_errors[rule.name] = self.runtime_errors.get(rule.name, 0) + 1
            return False

    def decide(self, ctx: dict) -> RoutingRule:
        """The first rule (in file order) whose expression is true for ``ctx``, else the default."""
        rules = self.rules
        for i in self._candidates(ctx):
            if self._matches(rules[i], ctx):
                return rules[i]
        return self.default

    def decide_naive(self, ctx: dict) -> RoutingRule:
        """Same answer as :meth:`decide`, by evaluating every rule in order (the baseline)."""
        for rule in self.rules:
            if self._matches(rule, ctx):
                return rule
        return self.default


_MAX_ALTERNATIVES = 8


def _atom(expr):
    """('eq', field, values) for ``field == "x"`` / ``field in ["x", ...]``; ('has', field, (x,))
    for ``"x" in field`` on a list field; else None. Text literals only (numbers are Decimals
    in rule-engine and would not compare equal to a float by dictionary lookup)."""
    from rule_engine import ast

    if isinstance(expr, ast.ComparisonExpression) and expr.type == "eq":
        for sym, lit in ((expr.left, expr.right), (expr.right, expr.left)):
            if isinstance(sym, ast.SymbolExpression) and isinstance(lit, ast.StringExpression) and sym.scope is None:
                return ("eq", sym.name, (lit.value,))
    if isinstance(expr, ast.ContainsExpression):
        member, container = expr.member, expr.container
        if isinstance(member, ast.SymbolExpression) and member.scope is None \
                and isinstance(container, ast.ArrayExpression) and container.value \
                and all(isinstance(x, ast.StringExpression) for x in container.value):
            return ("eq", member.name, tuple(x.value for x in container.value))
        if isinstance(member, ast.StringExpression) and isinstance(container, ast.SymbolExpression) \
                and container.scope is None and FIELDS.get(container.name) is not None \
                and FIELDS[container.name].name == "ARRAY":
            return ("has", container.name, (member.value,))
    return None


def _necessary(expr):
    """A necessary condition of a rule: a list of alternatives, each a list of atoms that
    must all hold; [] when nothing cheap can be said (the rule is always evaluated)."""
    from rule_engine import ast

    if isinstance(expr, ast.LogicExpression):
        left, right = _necessary(expr.left), _necessary(expr.right)
        if expr.type == "and":
            if not left or not right:
                return left or right
            if len(left) == 1 and len(right) == 1:
                return [left[0] + right[0]]
            return left if len(left) <= len(right) else right  # a weaker condition is still necessary
        if expr.type == "or":
            if not left or not right or len(left) + len(right) > _MAX_ALTERNATIVES:
                return []
            return left + right
        return []
    atom = _atom(expr)
    return [[atom]] if atom else []


# -- loading and checking -------------------------------------------------------------------
def _tag_problem(tag: str) -> str | None:
    """Why a tag is not in the declared vocabulary (part 1's tags module), or None."""
    try:
        from xiaobao.complaints_engine.tags import check_tags
    except ImportError:  # vocabulary module not installed: nothing to check against
        return None
    try:
        check_tags([tag])
    except UserError as exc:
        return str(exc)
    return None


def check_rules(path: str | Path) -> tuple[list[str], RuleSet | None]:
    """All problems of a rules file, each naming the rule and why; and the rule set if none."""
    path = Path(path)
    try:
        doc, digest = read_yaml_with_digest(path, "rules file")
    except InputError as exc:
        return [exc.reason + (f" (line {exc.line})" if exc.line else "")], None
    if not isinstance(doc.get("rules"), list):
        return ["expected a mapping with a 'rules' list (and optionally 'default', 'priorities')"], None
    stray = set(doc) - {"default", "rules", "priorities"}
    if stray:
        return [f"unknown top-level key(s) {', '.join(sorted(map(str, stray)))} (allowed: default, priorities, rules)"], None
    priorities = tuple(doc.get("priorities") or DEFAULT_PRIORITIES)
    ctx, runtime = _context(), _runtime_context()
    problems: list[str] = []
    rules: list[RoutingRule] = []
    seen: dict[str, int] = {}
    always_true_at = None
    for i, item in enumerate(doc["rules"], start=1):
        label = f"rule {i}"
        if not isinstance(item, dict):
            problems.append(f"{label}: expected a mapping with name, when, queue")
            continue
        name = item.get("name")
        if name:
            label = f"rule {i} {name!r}"
        bad = len(problems)
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{label}: missing 'name'")
        elif name in seen:
            problems.append(f"{label}: name already used by rule {seen[name]}")
        else:
            seen[name] = i
        unknown = set(item) - RULE_KEYS
        if unknown:
            problems.append(f"{label}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                            f"(allowed: {', '.join(sorted(RULE_KEYS))})")
        if not isinstance(item.get("queue"), str) or not item["queue"].strip():
            problems.append(f"{label}: missing 'queue' (the queue or team the rule routes to)")
        if item.get("priority") is not None and str(item["priority"]) not in priorities:
            problems.append(f"{label}: priority {item['priority']!r} is not one of {', '.join(priorities)}")
        tags = item.get("add_tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            problems.append(f"{label}: add_tags must be a list of tag names")
            tags = []
        else:
            for t in tags:
                why = _tag_problem(t)
                if why:
                    problems.append(f"{label}: add_tags {t!r}: {why}")
        if item.get("sla") is not None and (not isinstance(item["sla"], str) or not item["sla"].strip()):
            problems.append(f"{label}: sla must be the name of a policy in the SLA file")
        when = item.get("when")
        compiled = None
        if not isinstance(when, str) or not when.strip():
            problems.append(f"{label}: missing 'when' (a rule-engine expression)")
        else:
            try:
                compiled = rule_engine.Rule(when, context=ctx)
            except rule_engine.RuleSyntaxError as exc:
                tok = getattr(exc, "token", None)
                where = f" near {tok.value!r}" if tok is not None and getattr(tok, "value", None) else (
                    " (expression ends too early)" if tok is None else "")
                problems.append(f"{label}: syntax error in 'when'{where}: {when}")
            except rule_engine.SymbolResolutionError as exc:
                suggestion = f" (did you mean {exc.suggestion!r}?)" if getattr(exc, "suggestion", None) else ""
                problems.append(f"{label}: unknown field {exc.symbol_name!r}{suggestion}; "
                                f"known fields: {', '.join(sorted(FIELDS))}")
            except rule_engine.EngineError as exc:
                problems.append(f"{label}: type error in 'when': {exc.message if hasattr(exc, 'message') else exc}")
        if compiled is not None and always_true_at is None and when.strip().lower() == "true":
            always_true_at = i
        elif compiled is not None and always_true_at is not None:
            problems.append(f"{label}: can never match, rule {always_true_at} before it matches everything")
        if len(problems) == bad and compiled is not None:
            rules.append(RoutingRule(name=name, when=when, queue=item["queue"], team=item.get("team"),
                                     priority=str(item["priority"]) if item.get("priority") is not None else None,
                                     add_tags=tuple(tags), index=i, sla=item.get("sla"),
                                     compiled=rule_engine.Rule(when, context=runtime)))
    default = doc.get("default") or {}
    if not isinstance(default, dict) or not isinstance(default.get("queue"), str):
        problems.append("default: needs a 'queue' for complaints no rule matches")
        default = {"queue": "unrouted"}
    if problems:
        return problems, None
    dflt = RoutingRule(name="default", when="true", queue=default["queue"], team=default.get("team"),
                       priority=str(default["priority"]) if default.get("priority") else None,
                       add_tags=tuple(default.get("add_tags") or ()), index=None, sla=default.get("sla"))
    return [], RuleSet(rules, dflt, str(path), digest)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Load and check a rules file; the first problem is raised as an InputError."""
    path = Path(path) if path else DEFAULT_RULES_FILE
    problems, ruleset = check_rules(path)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s); run 'xiaobao rules check {path}')" if len(problems) > 1 else ""
        raise InputError(path, problems[0] + more)
    return ruleset


# -- complaint context ----------------------------------------------------------------------
def representatives(value: str | None) -> list[str]:
    """Names in a representative field ('张三、李四, 王五')."""
    return [p.strip() for p in _REP_SPLIT.split(value or "") if p.strip()]


def complaint_context(row: dict, tags=(), matches=(), customer_tags=(), category=None,
                      category_confidence=None) -> dict:
    """The dict a rule sees for one complaint (keys = :data:`FIELDS`)."""
    atts = row.get("attachments") or []
    if isinstance(atts, str):
        try:
            atts = json.loads(atts)
        except ValueError:
            atts = [atts]
    ha = row.get("has_authorisation")
    score = row.get("risk_score")
    hit = [m for m in matches if m.get("decision") == "match"]
    return {
        "id": row.get("id"), "channel": row.get("channel"), "customer_id": row.get("customer_id"),
        "business_line": row.get("business_line"), "business_source": row.get("business_line"),
        "institution": row.get("institution"), "merchant": row.get("merchant"), "level": row.get("level"),
        "category": category if category is not None else (row.get("category") or None),
        "category_confidence": float(category_confidence) if category_confidence is not None else (
            float(row["category_confidence"]) if row.get("category_confidence") is not None else None),
        "text": row.get("text") or "",
        "representative": row.get("representative"),
        "representative_count": float(len(representatives(row.get("representative")))),
        "has_authorisation": None if ha is None else bool(ha),
        "attachment_count": float(len(atts)),
        "risk_score": float(score) if score is not None else None,
        "risk_tier": row.get("risk_tier"),
        "received_at": row.get("received_at"),
        "tags": tuple(tags), "customer_tags": tuple(customer_tags),
        "match_kinds": tuple(sorted({m.get("kind") for m in hit if m.get("kind")})),
        "possible_kinds": tuple(sorted({m.get("kind") for m in matches if m.get("decision") == "possible"})),
        "max_match_score": max((float(m["score"]) for m in matches if m.get("score") is not None), default=0.0),
        "has_match": bool(hit),
    }


def _customer_tags(ws) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if ws.db["customer_tags"].exists():
        for r in ws.db.query("SELECT customer_id, tag FROM customer_tags"):
            out.setdefault(r["customer_id"], []).append(r["tag"])
    return out


def decide_complaint(ruleset: RuleSet, row: dict, tags=(), matches=(), customer_tags=(), lexicon=None) -> Decision:
    """Route one complaint (classifying its category from text when it has none)."""
    given = (row.get("category") or "").strip()
    if given:
        cat, conf, source, terms = given, row.get("category_confidence"), "given", []
        conf = float(conf) if conf is not None else 1.0
    else:
        c = classify(row.get("text") or "", lexicon)
        cat, conf, source, terms = c.category, c.confidence, "classifier", list(c.terms)
    ctx = complaint_context(row, tags, matches, customer_tags, cat, conf)
    rule = ruleset.decide(ctx)
    return Decision(row["id"], rule.name, rule.index, rule.queue, rule.team, rule.priority,
                    [t for t in rule.add_tags if t not in tags], cat, conf, source, terms, rule.sla)


@dataclass
class RouteReport:
    decisions: list[Decision]
    dry_run: bool
    rule_errors: dict[str, int]
    cases_opened: int = 0
    problems: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"routed": len(self.decisions), "dry_run": self.dry_run, "rule_errors": self.rule_errors,
                "cases_opened": self.cases_opened, "problems": self.problems, "decisions": [d.to_dict() for d in self.decisions]}


def route_pending(ws, rules: str | Path | RuleSet | None = None, *, dry_run: bool = False,
                  ids=None, open_cases: bool = True, policies=None, command: str | None = None) -> RouteReport:
    """Route every complaint that has no routing decision yet (or only ``ids``).

    Each decision is stored in ``routes`` with the rule that made it (name, position and the
    expression as written), its tags are added (source ``rule:<name>``), an audit event is
    written, and the SLA case is opened. ``dry_run`` decides without storing anything.
    """
    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
    ruleset.runtime_errors = {}
    ensure_handling_tables(ws)
    rows = records.unrouted(ws)
    if ids is not None:
        wanted = set(ids)
        rows = [r for r in rows if r["id"] in wanted]
    row_ids = {r["id"] for r in rows}
    tags = records.tags_by_complaint(ws, row_ids)
    matches = records.matches_by_complaint(ws, row_ids)
    ctags = _customer_tags(ws)
    lexicon = load_lexicon()
    decisions = [decide_complaint(ruleset, r, tags.get(r["id"], ()), matches.get(r["id"], ()),
                                  ctags.get(r.get("customer_id"), ()), lexicon) for r in rows]
    report = RouteReport(decisions, dry_run, dict(ruleset.runtime_errors))
    if dry_run or not decisions:
        return report
    exprs = {r.name: r.when for r in ruleset.rules}
    at = iso(now_local())
    with ws.transaction() as conn:
        conn.executemany(
            "INSERT INTO routes (complaint_id, rule, rule_index, rule_expr, queue, team, priority, tags_added,"
            " category, category_confidence, category_source, category_terms, rules_file, rules_sha256, routed_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(d.complaint_id, d.rule, d.rule_index, exprs.get(d.rule, "true"), d.queue, d.team, d.priority,
              json.dumps(d.tags_added, ensure_ascii=False), d.category, d.category_confidence,
              d.category_source, json.dumps(d.category_terms, ensure_ascii=False), ruleset.path,
              ruleset.sha256, at) for d in decisions])
        for d in decisions:
            ws.log_event("complaint.routed", ids=[d.complaint_id], command=command,
                         detail={"rule": d.rule, "queue": d.queue, "team": d.team, "priority": d.priority,
                                 "category": d.category, "category_source": d.category_source})
    # after the routes are committed: the store manages its own commits for tags
    for d in decisions:
        if d.tags_added:
            records.add_tags(ws, d.complaint_id, d.tags_added, source=f"rule:{d.rule}")
    if open_cases:
        from xiaobao.complaints_engine.sla import open_cases as _open

        chosen = {d.complaint_id: d.sla_policy for d in decisions if d.sla_policy}
        report.cases_opened, report.problems = _open(ws, rows, policies=policies, command=command,
                                                     policy_names=chosen)
    return report


def latest_route(ws, complaint_id: str) -> dict | None:
    if not ws.db["routes"].exists():
        return None
    rows = list(ws.db.query("SELECT * FROM routes WHERE complaint_id = ? ORDER BY id DESC LIMIT 1", [complaint_id]))
    if not rows:
        return None
    r = dict(rows[0])
    for k in ("tags_added", "category_terms"):
        r[k] = json.loads(r[k]) if r.get(k) else []
    return r
