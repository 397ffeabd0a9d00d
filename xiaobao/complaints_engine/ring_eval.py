"""Ring discovery scored against planted truth (the synthetic generator's truth file).

Each discovered ring is assigned to the planted ring it shares most complaints with; a member
is correct when it belongs to that planted ring. Precision = correct members / members of
discovered rings; recall = planted-ring complaints found in a ring assigned to their own
planted ring / all planted-ring complaints. Genuine complaints pulled into any ring are
counted separately (they must stay near zero).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path


def load_truth(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def score_components(components: list[list[str]], truth: dict) -> dict:
    planted = {c: r["ring"] for r in truth["rings"] for c in r["complaints"]}
    total_planted = len(planted)
    correct = members = 0
    found: set[str] = set()
    genuine_in_rings = 0
    merged = 0
    for comp in components:
        labels = Counter(planted.get(c) for c in comp if c in planted)
        members += len(comp)
        genuine_in_rings += sum(1 for c in comp if c not in planted)
        if not labels:
            continue
        best, n = labels.most_common(1)[0]
        merged += len(labels) > 1
        correct += n
        found.update(c for c in comp if planted.get(c) == best)
    precision = correct / members if members else 1.0
    recall = len(found) / total_planted if total_planted else 1.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "discovered_rings": len(components),
            "planted_rings": len(truth["rings"]), "members": members, "planted_members": total_planted,
            "genuine_in_rings": genuine_in_rings, "rings_merging_planted": merged}


def evaluate_rings(ws, truth: dict) -> dict:
    """Score the rings stored in a workspace (candidate and promoted) against the truth."""
    rows = ws.db.conn.execute("SELECT m.ring_id, m.complaint_id FROM ring_members m JOIN rings r ON r.id = m.ring_id "
                              "WHERE r.status != 'dissolved'").fetchall()
    comps: dict[int, list[str]] = {}
    for rid, cid in rows:
        comps.setdefault(rid, []).append(cid)
    return score_components(list(comps.values()), truth)
