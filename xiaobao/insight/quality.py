"""Service-quality inspection: run a rule set over stored interactions, keep findings, score.

One pass streams the interactions in batches. Per batch, prohibited language is found with one
compiled alternation of every rule's phrases (a pre-filter on the agent's text, then the rule's
own pattern on the sentences of the few records that hit) plus one sparse product of the
batch's sentences against all example sentences (:mod:`xiaobao.insight.similarity`); hours and
disclosures are plain checks, and too-many-contacts-per-day is one SQL window query. Each
finding quotes the sentence and its time (the interaction's start plus the turn's offset).

Scores: an interaction starts at 100 and loses each finding's penalty (never below 0); an
agent's, team's or period's score is the mean over its interactions in the range.
"""
from __future__ import annotations

import re
import time
from functools import lru_cache
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterator

import numpy as np

from xiaobao.errors import UserError
from xiaobao.insight import store
from xiaobao.insight.records import format_offset, parse_turns
from xiaobao.insight.rules import Rule, RuleSet, load_rules
from xiaobao.insight.similarity import ExampleMatcher
from xiaobao.text_fingerprint.normalize import normalize

BATCH = 5000
_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]*")


@dataclass
class Finding:
    interaction_id: int
    rule: str
    category: str
    severity: str
    penalty: float
    method: str          # phrase | similarity | hours | frequency | disclosure
    score: float | None
    quote: str
    offset_s: float | None
    at: str
    agent_id: str | None
    team: str | None
    customer_id: str | None

    @property
    def quote_time(self) -> str:
        """When the quoted words were said: the interaction start plus the turn's offset."""
        if self.offset_s is None:
            return self.at
        return (datetime.fromisoformat(self.at) + timedelta(seconds=self.offset_s)).isoformat()

    def row(self, run_id: int) -> tuple:
        return (run_id, self.interaction_id, self.rule, self.category, self.severity, self.penalty, self.method,
                self.score, self.quote, self.offset_s, self.at, self.agent_id, self.team, self.customer_id)


def _alternation(phrases) -> re.Pattern | None:
    """One pattern for many literal phrases, shaped as a prefix tree: Python's ``re`` tries the
    branches of a flat ``a|b|c`` one after another at every position, while a tree rejects a
    position after its first character in most cases (hundreds of phrases stay cheap)."""
    phrases = {p for p in phrases if p}
    if not phrases:
        return None
    trie: dict = {}
    for p in phrases:
        node = trie
        for ch in p:
            node = node.setdefault(ch, {})
        node[""] = True
    return re.compile(_trie_pattern(trie))


def _trie_pattern(node: dict) -> str:
    ends = "" in node
    branches = [re.escape(ch) + _trie_pattern(child) for ch, child in sorted(node.items()) if ch != ""]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    # a phrase may end here: the longer continuation is optional (greedy, so the longest wins)
    return f"(?:{body})?" if ends else body


def _fold(text: str) -> str:
    """The normalised text (text_fingerprint.normalize) where it would differ; plain simplified
    Chinese and ASCII, the common case, skip the per-character fold (it costs ~10 us a sentence)."""
    if _SIMPLE.fullmatch(text) and not _traditional().search(text):
        return text
    return normalize(text)


# Characters normalisation leaves alone unless they are traditional: ASCII letters are folded to
# lower case, so upper case is excluded; CJK punctuation, CJK ideographs.
_SIMPLE = re.compile(r"[\x00-\x40\x5b-\x7f\u3000-\u303f\u4e00-\u9fff\uff0c\uff01\uff1f\uff1a\uff1b]*")


@lru_cache(maxsize=1)
def _traditional() -> re.Pattern:
    """One character class of every ideograph that traditional-to-simplified conversion changes."""
    from opencc import OpenCC
    block = "".join(chr(c) for c in range(0x4E00, 0xA000))
    out = OpenCC("t2s").convert(block)
    changed = [a for a, b in zip(block, out) if a != b] if len(out) == len(block) else \
        [c for c in block if OpenCC("t2s").convert(c) != c]
    return re.compile("[" + "".join(changed) + "]")


class Inspector:
    """A compiled rule set; ``inspect(records)`` returns the findings of a batch (frequency aside)."""

    def __init__(self, rules: RuleSet, sentence_embedder=None, semantic_model: str | None = None):
        self.rules = rules
        self._embedder, self._semantic_model = sentence_embedder, semantic_model
        self._example_vectors: dict[str, np.ndarray] = {}
        self.phrase_rules = rules.of_kind("phrases")
        self.prefilter = _alternation(normalize(p) for r in self.phrase_rules for p in r.phrases)
        self.rule_pattern = {r.name: _alternation(normalize(p) for p in r.phrases) for r in self.phrase_rules}
        self.rule_exclude = {r.name: _alternation(normalize(p) for p in r.exclude) for r in self.phrase_rules}
        examples, owner = [], []
        for r in self.phrase_rules:
            for e in r.examples:
                examples.append(normalize(e))
                owner.append(r)
        self.example_owner = owner
        self.matcher = ExampleMatcher(examples)
        self.hours = rules.of_kind("hours")
        self.disclosures = rules.of_kind("disclosure")

    def _finding(self, rec, rule: Rule, method, score, quote, offset) -> Finding:
        return Finding(rec["id"], rule.name, rule.category, rule.severity, rule.penalty, method, score,
                       quote, offset, rec["at"], rec["agent_id"], rec["team"], rec["customer_id"])

    def inspect(self, records: list[dict]) -> list[Finding]:
        findings: list[Finding] = []
        sentences: list[str] = []          # folded, for the similarity product
        where: list[tuple[int, str, float | None, str | None]] = []   # (record index, raw sentence, offset, speaker)
        for i, rec in enumerate(records):
            turns = parse_turns(rec["text"])
            hhmm = rec["at"][11:16]
            for rule in self.hours:
                a, b = rule.allowed
                if rule.applies(rec["direction"], rec["channel"]) and not (a <= hhmm < b):
                    findings.append(self._finding(rec, rule, "hours", None,
                                                  f"contact at {hhmm}, allowed {a}-{b}", None))
            for rule in self.disclosures:
                if rule.applies(rec["direction"], rec["channel"]):
                    said = " ".join(t.text for t in turns if t.speaker in ("agent", None))
                    first = [t.text for t in turns if t.speaker in ("agent", None)][:rule.within_turns]
                    head = _fold(" ".join(first))
                    missing = [g for g in rule.required if not any(p in head for p in g)]
                    if missing:
                        findings.append(self._finding(
                            rec, rule, "disclosure", None,
                            "missing: " + "; ".join("/".join(g) for g in missing) + f" — opening: {said[:60]}",
                            turns[0].offset_s if turns else None))
            for t in turns:
                if t.speaker == "customer":
                    continue
                for s in _SENTENCE.findall(t.text):
                    s = s.strip()
                    if len(s) >= 2:
                        sentences.append(_fold(s))
                        where.append((i, s, t.offset_s, t.speaker))
        if not sentences or not self.phrase_rules:
            return findings
        # phrases: one alternation over the whole batch, rule patterns only on hit sentences
        hit_keys: set[tuple[int, str]] = set()
        if self.prefilter is not None:
            for k, s in enumerate(sentences):
                if self.prefilter.search(s):
                    i, raw, offset, speaker = where[k]
                    for rule in self.phrase_rules:
                        if rule.speaker == "customer" and speaker != "customer":
                            continue
                        pat, exc = self.rule_pattern[rule.name], self.rule_exclude[rule.name]
                        if pat is not None and pat.search(s) and not (exc is not None and exc.search(s)):
                            key = (k, rule.name)
                            hit_keys.add(key)
                            findings.append(self._finding(records[i], rule, "phrase", 1.0, raw, offset))
        # similarity to the example sentences, vectorised over the batch
        if self.example_owner:
            scores = self.matcher.scores(sentences)
            thresholds = np.asarray([r.similarity for r in self.example_owner], np.float32)
            ks, js = np.nonzero(scores >= thresholds)
            best: dict[tuple[int, str], float] = {}
            for k, j in zip(ks.tolist(), js.tolist()):
                rule = self.example_owner[j]
                key = (k, rule.name)
                if key in hit_keys:
                    continue
                exc = self.rule_exclude[rule.name]
                if exc is not None and exc.search(sentences[k]):
                    continue
                best[key] = max(best.get(key, 0.0), float(scores[k, j]))
            by_name = {r.name: r for r in self.phrase_rules}
            for (k, name), sc in best.items():
                i, raw, offset, _ = where[k]
                findings.append(self._finding(records[i], by_name[name], "similarity", round(sc, 3), raw, offset))
            findings += self._semantic(records, sentences, where, scores, hit_keys | set(best))
        return findings


    # ------------------------------------------------------------ optional sentence-embedding stage
    def _semantic(self, records, sentences, where, scores, done: set) -> list[Finding]:
        """Rules with ``semantic:`` get a second look at sentences whose bigram containment reached
        ``semantic_screen`` but not ``similarity``: cosine of sentence embeddings against the
        rule's examples. Only these few candidates are embedded, so the batch stays fast."""
        rules = [r for r in self.phrase_rules if r.semantic is not None and r.examples]
        if not rules:
            return []
        cols = {r.name: [j for j, o in enumerate(self.example_owner) if o.name == r.name] for r in rules}
        candidates: dict[int, list] = {}
        for r in rules:
            best = scores[:, cols[r.name]].max(axis=1)
            for k in np.nonzero(best >= r.semantic_screen)[0].tolist():
                if (k, r.name) not in done and not (self.rule_exclude[r.name] is not None
                                                    and self.rule_exclude[r.name].search(sentences[k])):
                    candidates.setdefault(k, []).append(r)
        if not candidates:
            return []
        embedder = self._sentence_embedder()
        ks = sorted(candidates)
        vectors = embedder.embed([where[k][1] for k in ks])
        out = []
        for row, k in enumerate(ks):
            for r in candidates[k]:
                if r.name not in self._example_vectors:
                    self._example_vectors[r.name] = embedder.embed(list(r.examples))
                cos = float((self._example_vectors[r.name] @ vectors[row]).max())
                if cos >= r.semantic:
                    i, raw, offset, _ = where[k]
                    out.append(self._finding(records[i], r, "semantic", round(cos, 3), raw, offset))
        return out

    def _sentence_embedder(self):
        if self._embedder is None:
            # a sentence-transformers folder (a Chinese or multilingual model for Chinese calls);
            # the packaged all-MiniLM-L6-v2 is English-only
            from xiaobao.text_fingerprint.embedders import MINILM_SPACE, embedder_for
            self._embedder = embedder_for(None if self._semantic_model else MINILM_SPACE, self._semantic_model)
        return self._embedder


def check_day(value: str | None, option: str) -> str | None:
    """``value`` if it is a date (YYYY-MM-DD), else a UserError naming the option."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value)[:10]).date().isoformat() if len(str(value)) >= 10 else \
            datetime.fromisoformat(str(value)).date().isoformat()
    except ValueError:
        raise UserError(f"{option} {value!r} is not a date like 2026-03-31") from None


def _range_sql(date_from: str | None, date_to: str | None, col: str = "at") -> tuple[str, list]:
    where, params = [], []
    date_from, date_to = check_day(date_from, "--from"), check_day(date_to, "--to")
    if date_from:
        where.append(f"{col} >= ?")
        params.append(str(date_from))
    if date_to:  # inclusive day: everything before the next day
        where.append(f"{col} < ?")
        params.append(_day_after(date_to))
    return (" WHERE " + " AND ".join(where)) if where else "", params


def _day_after(d: str) -> str:
    try:
        day = datetime.fromisoformat(str(d)[:10])
    except ValueError:
        raise UserError(f"--to {d!r} is not a date like 2026-03-31") from None
    return (day + timedelta(days=1)).date().isoformat()


def iter_interactions(ws, date_from=None, date_to=None, batch: int = BATCH,
                      columns: str = "id, at, channel, direction, agent_id, team, customer_id, text") -> Iterator[list[dict]]:
    """Stored interactions in the date range, in batches of dicts (never the whole table at once)."""
    where, params = _range_sql(date_from, date_to)
    cur = ws.db.conn.execute(f"SELECT {columns} FROM interactions{where} ORDER BY id", params)
    names = [d[0] for d in cur.description]
    while True:
        rows = cur.fetchmany(batch)
        if not rows:
            return
        yield [dict(zip(names, r)) for r in rows]


def frequency_findings(ws, rule: Rule, date_from=None, date_to=None) -> Iterator[Finding]:
    """Every contact past ``max_per_day`` for one customer on one day."""
    where, params = _range_sql(date_from, date_to)
    conds = [where[7:]] if where else []
    if rule.directions:
        conds.append(f"direction IN ({','.join('?' * len(rule.directions))})")
        params += list(rule.directions)
    if rule.channels:
        conds.append(f"channel IN ({','.join('?' * len(rule.channels))})")
        params += list(rule.channels)
    sql = ("SELECT id, at, agent_id, team, customer_id, n FROM (SELECT id, at, agent_id, team, customer_id, "
           "ROW_NUMBER() OVER (PARTITION BY customer_id, substr(at, 1, 10) ORDER BY at, id) AS n "
           f"FROM interactions{' WHERE ' + ' AND '.join(conds) if conds else ''}) WHERE n > ?")
    for iid, at, agent, team, cid, n in ws.db.conn.execute(sql, params + [rule.max_per_day]):
        yield Finding(iid, rule.name, rule.category, rule.severity, rule.penalty, "frequency", float(n),
                      f"contact #{n} with customer {cid} on {at[:10]} (limit {rule.max_per_day} a day)",
                      None, at, agent, team, cid)


@dataclass
class RunReport:
    run_id: int
    interactions: int
    findings: int
    seconds: float
    by_rule: dict

    @property
    def per_second(self) -> float:
        return self.interactions / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "interactions": self.interactions, "findings": self.findings,
                "seconds": round(self.seconds, 3), "per_second": round(self.per_second, 1), "by_rule": self.by_rule}


_INSERT = ("INSERT INTO quality_findings (run_id, interaction_id, rule, category, severity, penalty, method, score, "
           "quote, offset_s, at, agent_id, team, customer_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)")


def run_quality(ws, rules: str | RuleSet | None = None, date_from: str | None = None, date_to: str | None = None,
                batch: int = BATCH, progress: Callable[[int], None] | None = None,
                semantic_model: str | None = None) -> RunReport:
    """Inspect the stored interactions in the range with a rule set (default: the shipped example set).

    Findings of an earlier run over the same range are replaced, so a re-run never double counts.
    ``semantic_model``: a sentence-transformers folder for rules with ``semantic:`` (default: the
    packaged all-MiniLM-L6-v2, which suits English rules only).
    """
    store.ensure_tables(ws)
    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
    inspector = Inspector(ruleset, semantic_model=semantic_model)
    conn = ws.db.conn
    t0 = time.perf_counter()
    started = datetime.now().isoformat(timespec="seconds")
    with ws.transaction():
        run_id = conn.execute(
            "INSERT INTO quality_runs (started_at, rules_file, rules_sha256, date_from, date_to) VALUES (?,?,?,?,?)",
            (started, ruleset.path, ruleset.sha256, date_from, date_to)).lastrowid
        where, params = _range_sql(date_from, date_to)
        conn.execute(f"DELETE FROM quality_findings{where}", params)
    n = n_found = 0
    by_rule: dict[str, int] = {}

    def save(found: list[Finding]) -> None:
        nonlocal n_found
        with ws.transaction():
            conn.executemany(_INSERT, [f.row(run_id) for f in found])
        n_found += len(found)
        for f in found:
            by_rule[f.rule] = by_rule.get(f.rule, 0) + 1

    for records in iter_interactions(ws, date_from, date_to, batch):
        save(inspector.inspect(records))
        n += len(records)
        if progress:
            progress(n)
    for rule in ruleset.of_kind("frequency"):
        save(list(frequency_findings(ws, rule, date_from, date_to)))
    seconds = time.perf_counter() - t0
    with ws.transaction():
        conn.execute("UPDATE quality_runs SET finished_at=?, interactions=?, findings=?, seconds=? WHERE id=?",
                     (datetime.now().isoformat(timespec="seconds"), n, n_found, seconds, run_id))
        ws.log_event("quality.run", ids=[run_id], detail={"interactions": n, "findings": n_found,
                                                          "rules": ruleset.path, "by_rule": by_rule})
    return RunReport(run_id, n, n_found, seconds, by_rule)


PERIODS = {"day": 10, "month": 7, "year": 4}


def _group_expr(by: str, period: str) -> str:
    if by == "agent":
        return "COALESCE(agent_id, '')"
    if by == "team":
        return "COALESCE(team, '')"
    if by == "period":
        if period == "week":
            return "strftime('%Y-W%W', at)"
        if period not in PERIODS:
            raise UserError(f"--period must be day, week, month or year, not {period!r}")
        return f"substr(at, 1, {PERIODS[period]})"
    raise UserError(f"--by must be agent, team or period, not {by!r}")


def quality_report(ws, by: str = "agent", period: str = "month", date_from: str | None = None,
                   date_to: str | None = None, worst_first: bool = True) -> list[dict]:
    """Per agent, team or period: interactions, flagged ones, findings per category, mean score (0-100)."""
    store.ensure_tables(ws)
    key = _group_expr(by, period)
    where, params = _range_sql(date_from, date_to)
    conn = ws.db.conn
    totals = {g: n for g, n in conn.execute(f"SELECT {key}, COUNT(*) FROM interactions{where} GROUP BY 1", params)}
    penalties = conn.execute(
        f"SELECT {key}, COUNT(*), SUM(MIN(100.0, p)) FROM (SELECT interaction_id, MAX(at) AS at, MAX(agent_id) AS agent_id, "
        f"MAX(team) AS team, SUM(penalty) AS p FROM quality_findings{where} GROUP BY interaction_id) GROUP BY 1",
        params).fetchall()
    lost = {g: (flagged, pen) for g, flagged, pen in penalties}
    cats: dict[str, dict[str, int]] = {}
    for g, cat, n in conn.execute(f"SELECT {key}, category, COUNT(*) FROM quality_findings{where} GROUP BY 1, 2",
                                  params):
        cats.setdefault(g, {})[cat] = n
    rows = []
    for g, n in totals.items():
        flagged, pen = lost.get(g, (0, 0.0))
        rows.append({by: g, "interactions": n, "flagged": flagged,
                     "flagged_share": round(flagged / n, 4) if n else 0.0,
                     "findings": sum(cats.get(g, {}).values()),
                     "score": round(100.0 - (pen or 0.0) / n, 2) if n else 100.0,
                     "by_category": cats.get(g, {})})
    rows.sort(key=(lambda r: (r["score"], str(r[by]))) if worst_first and by != "period" else (lambda r: str(r[by])))
    return rows


def list_findings(ws, *, agent: str | None = None, rule: str | None = None, interaction_id: int | None = None,
                  date_from: str | None = None, date_to: str | None = None, limit: int | None = 50) -> list[dict]:
    """Stored findings with their quotes and times, newest first."""
    store.ensure_tables(ws)
    where, params = _range_sql(date_from, date_to, "f.at")
    conds = [where[7:]] if where else []
    for col, val in (("f.agent_id", agent), ("f.rule", rule), ("f.interaction_id", interaction_id)):
        if val is not None:
            conds.append(f"{col} = ?")
            params.append(val)
    sql = ("SELECT f.*, i.source_id FROM quality_findings f JOIN interactions i ON i.id = f.interaction_id"
           + (" WHERE " + " AND ".join(conds) if conds else "") + " ORDER BY f.at DESC, f.id")
    if limit:
        sql += f" LIMIT {int(limit)}"
    cur = ws.db.conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        d = dict(zip(names, r))
        d["quote_time"] = (d["at"] if d["offset_s"] is None else
                           (datetime.fromisoformat(d["at"]) + timedelta(seconds=d["offset_s"])).isoformat())
        d["offset"] = format_offset(d["offset_s"])
        out.append(d)
    return out
