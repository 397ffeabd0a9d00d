"""Validity checks (投诉有效性): stated checks, each with its grounds and result.

Checks (grounds text and thresholds in ``data/validity.yaml``, responsibility rules in
``data/responsibility.yaml``):

* ``authorisation``: a representative acts without the original 授权委托书 or the agent's identity;
* ``group_representatives``: a group complaint naming more than 5 representatives;
* ``duplicate``: the same customer's earlier complaint (open or closed) on the same matter
  (character-trigram Jaccard similarity of the texts at or above ``min_similarity``);
* ``agent_voice``: the caller's voice matches an enrolled known agent, not the customer;
* ``responsibility`` (主体判定): ours / partner_merchant / collection_agency / outside_remit.

The verdict is the most serious finding, but ``answer_required`` is always true: a proxy or
duplicate complaint is still a customer's matter to answer, never silently dropped.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import rule_engine

from xiaobao.errors import InputError
from xiaobao.yamlfile import read_yaml_mapping
from xiaobao.complaints_engine import records
from xiaobao.complaints_engine.handling_tables import ensure_handling_tables, iso, now_local
from xiaobao.complaints_engine.routing import _context, complaint_context, latest_route, representatives

DATA = Path(__file__).resolve().parent / "data"
OUTCOMES = ("ours", "partner_merchant", "collection_agency", "outside_remit")
#: verdicts from most to least serious
VERDICTS = ("duplicate", "outside_remit", "proxy_suspected", "pending_documents", "valid")
VERDICT_LABELS = {"duplicate": "重复投诉", "outside_remit": "非本机构职责范围", "proxy_suspected": "疑似代理投诉",
                  "pending_documents": "待补充材料", "valid": "有效投诉"}


@dataclass(frozen=True)
class ResponsibilityRule:
    name: str
    outcome: str
    note: str
    compiled: object


def _load_yaml(path: Path) -> dict:
    doc = read_yaml_mapping(path, "validity rules")
    return doc


def load_responsibility(path: str | Path | None = None) -> tuple[list[ResponsibilityRule], dict]:
    path = Path(path) if path else DATA / "responsibility.yaml"
    doc = _load_yaml(path)
    ctx = _context()
    rules = []
    for i, item in enumerate(doc.get("rules") or [], start=1):
        label = f"rule {i} {item.get('name')!r}" if isinstance(item, dict) else f"rule {i}"
        if not isinstance(item, dict) or item.get("outcome") not in OUTCOMES:
            raise InputError(path, f"{label}: 'outcome' must be one of {', '.join(OUTCOMES)}")
        try:
            compiled = rule_engine.Rule(str(item.get("when", "")), context=ctx)
        except rule_engine.EngineError as exc:
            raise InputError(path, f"{label}: bad 'when': {getattr(exc, 'message', exc)}") from None
        rules.append(ResponsibilityRule(str(item.get("name")), item["outcome"], str(item.get("note", "")), compiled))
    default = doc.get("default") or {"outcome": "ours"}
    if default.get("outcome") not in OUTCOMES:
        raise InputError(path, f"default: 'outcome' must be one of {', '.join(OUTCOMES)}")
    return rules, default


def trigram_similarity(a: str, b: str) -> float:
    """Jaccard similarity of character trigrams (whitespace removed)."""
    a, b = "".join((a or "").split()), "".join((b or "").split())
    ga = {a[i:i + 3] for i in range(max(len(a) - 2, 1))} if a else set()
    gb = {b[i:i + 3] for i in range(max(len(b) - 2, 1))} if b else set()
    if not ga or not gb:
        return 0.0
    return len(ga & gb) / len(ga | gb)


_CJK = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"


def _one_line(text) -> str:
    """Grounds as one line. A YAML folded block joins its lines with a space, which is right for
    English and wrong inside Chinese (“材料外， 还需”): drop a space between Chinese characters."""
    return re.sub(rf"(?<={_CJK}) (?={_CJK})", "", " ".join(str(text).split()))


def _check(name, flagged, grounds, detail, verdict=None) -> dict:
    return {"check": name, "result": "flag" if flagged else "pass", "grounds": _one_line(grounds),
            "detail": detail, "verdict": verdict if flagged else None}


def _names(atts, patterns) -> list[str]:
    out = []
    for a in atts or []:
        name = Path(str(a)).name.lower()
        if any(p.lower() in name for p in patterns):
            out.append(str(a))
    return out


def check_validity(ws, complaint_id: str, config: str | Path | None = None, responsibility: str | Path | None = None,
                   store: bool = True, command: str | None = None) -> dict:
    """Run every check on one complaint; store the verdict with its reasons (unless ``store=False``)."""
    cfg_path = Path(config) if config else DATA / "validity.yaml"
    cfg = _load_yaml(cfg_path).get("checks") or {}
    row = records.get_complaint(ws, complaint_id)
    tags = records.tags_by_complaint(ws, {complaint_id}).get(complaint_id, [])
    matches = records.matches_by_complaint(ws, {complaint_id}).get(complaint_id, [])
    route = latest_route(ws, complaint_id) if ws.db["routes"].exists() else None
    category = row.get("category") or (route or {}).get("category")
    reasons = []

    # 1. representative without authorisation documents
    c = cfg.get("authorisation", {})
    reps = representatives(row.get("representative"))
    atts = row.get("attachments") if isinstance(row.get("attachments"), list) else []
    if not reps:
        reasons.append(_check("authorisation", False, c.get("grounds", ""), "no representative: the customer complains in person"))
    else:
        auth_files = _names(atts, c.get("authorisation_patterns", []))
        id_files = _names(atts, c.get("identity_patterns", []))
        ha = row.get("has_authorisation")
        if ha is not None:
            ok = bool(ha)
            detail = (f"representative {', '.join(reps)}: authorisation recorded as "
                      f"{'provided' if ok else 'NOT provided'} (has_authorisation={ha})")
        else:
            ok = bool(auth_files) and bool(id_files)
            detail = (f"representative {', '.join(reps)}: authorisation document "
                      f"{'found: ' + ', '.join(auth_files) if auth_files else 'not among the attachments'}; agent identity "
                      f"{'found: ' + ', '.join(id_files) if id_files else 'not among the attachments'}")
        reasons.append(_check("authorisation", not ok, c.get("grounds", ""), detail, "pending_documents"))

    # 2. group complaint with too many representatives
    c = cfg.get("group_representatives", {})
    limit = int(c.get("max_representatives", 5))
    reasons.append(_check("group_representatives", len(reps) > limit, c.get("grounds", ""),
                          f"{len(reps)} representative(s) named (limit {limit})", "pending_documents"))

    # 3. duplicate of the same customer's earlier complaint on the same matter
    c = cfg.get("duplicate", {})
    t = float(c.get("min_similarity", 0.6))
    dups = []
    if row.get("customer_id"):
        for other in records.complaints(ws, where="customer_id = ? AND id != ? AND received_at <= ?",
                                        params=(row["customer_id"], complaint_id, row.get("received_at") or "")):
            sim = trigram_similarity(row.get("text"), other.get("text"))
            if sim >= t:
                dups.append({"complaint_id": other["id"], "received_at": other.get("received_at"),
                             "status": other.get("status") or "open", "similarity": round(sim, 3)})
    # screening's template links to an earlier complaint of the same customer count too
    seen = {d["complaint_id"] for d in dups}
    for m in matches:
        other_id = m.get("other_complaint_id")
        if m.get("kind") != "template" or m.get("decision") != "match" or not other_id or other_id in seen:
            continue
        other = records.complaints(ws, ids=[other_id])
        if other and row.get("customer_id") and other[0].get("customer_id") == row["customer_id"] \
                and (other[0].get("received_at") or "") <= (row.get("received_at") or ""):
            dups.append({"complaint_id": other_id, "received_at": other[0].get("received_at"),
                         "status": other[0].get("status") or "open",
                         "similarity": round(float(m.get("score") or 0), 3), "via": "template match"})
    detail = ("; ".join(f"same customer {row['customer_id']}, complaint {d['complaint_id']} of {d['received_at']} "
                        f"({d['status']}), text similarity {d['similarity']}" for d in dups)
              if dups else f"no earlier complaint of this customer with text similarity >= {t}")
    reasons.append(_check("duplicate", bool(dups), c.get("grounds", ""), detail, "duplicate"))

    # 4. caller's voice is a known agent's
    c = cfg.get("agent_voice", {})
    decisions = set(c.get("decisions", ["match"]))
    agents = []
    for m in matches:
        if m.get("kind") != "voice" or m.get("decision") not in decisions or m.get("subject_id") is None:
            continue
        subj = list(ws.db.query("SELECT name, kind FROM subjects WHERE id = ?", [m["subject_id"]]))
        if subj and subj[0]["kind"] == "agent":
            agents.append(f"{subj[0]['name']} (subject {m['subject_id']}, sample {m.get('sample_id')}, "
                          f"score {float(m['score']):.3f}, {m['decision']})")
    reasons.append(_check("agent_voice", bool(agents), c.get("grounds", ""),
                          "voice matches known agent " + "; ".join(agents) if agents
                          else "no voice match to a known agent", "proxy_suspected"))

    # 5. responsibility
    rules, default = load_responsibility(responsibility)
    ctx = complaint_context(row, tags, matches, (), category, None)
    outcome, note, rule_name = default["outcome"], default.get("note", ""), "default"
    for r in rules:
        try:
            hit = r.compiled.matches(ctx)
        except rule_engine.EngineError:
            hit = False
        if hit:
            outcome, note, rule_name = r.outcome, r.note, r.name
            break
    c = cfg.get("responsibility", {})
    reasons.append(_check("responsibility", outcome == "outside_remit", c.get("grounds", ""),
                          f"{outcome} by rule {rule_name}: {note} (business_line={row.get('business_line')!r}, "
                          f"merchant={row.get('merchant')!r})", "outside_remit"))
    reasons[-1]["outcome"] = outcome

    flagged = {r["verdict"] for r in reasons if r["result"] == "flag"}
    verdict = next((v for v in VERDICTS if v in flagged), "valid")
    result = {"complaint_id": complaint_id, "verdict": verdict, "responsibility": outcome,
              "answer_required": True, "reasons": reasons, "checked_at": iso(now_local())}
    if store:
        ensure_handling_tables(ws)
        with ws.transaction() as conn:
            conn.execute("INSERT INTO validity (complaint_id, verdict, responsibility, reasons, checked_at) VALUES (?,?,?,?,?)",
                         (complaint_id, verdict, outcome, json.dumps(reasons, ensure_ascii=False), result["checked_at"]))
            ws.log_event("complaint.validity", ids=[complaint_id], command=command,
                         detail={"verdict": verdict, "responsibility": outcome,
                                 "flags": [r["check"] for r in reasons if r["result"] == "flag"]})
    return result


def latest_validity(ws, complaint_id: str) -> dict | None:
    if not ws.db["validity"].exists():
        return None
    rows = list(ws.db.query("SELECT * FROM validity WHERE complaint_id = ? ORDER BY id DESC LIMIT 1", [complaint_id]))
    if not rows:
        return None
    r = dict(rows[0])
    r["reasons"] = json.loads(r["reasons"])
    return r
