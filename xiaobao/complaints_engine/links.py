"""The link graph over all screened-for complaints: shared artifacts, shared templates,
same voice, same face; hub detection; template clusters; candidate ring components.

Built in memory from the stored features each batch (cheap: postings lists and one
near-duplicate search), so every batch sees the whole history, not just today's letters.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from xiaobao.complaints_engine import store
from xiaobao.complaints_engine.features import unsigned
from xiaobao.complaints_engine.scorecard import Scorecard


class UnionFind:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for x in list(self.parent):
            out[self.find(x)].append(x)
        return out


@dataclass
class Hub:
    kind: str
    value: str
    customers: int
    why: str


@dataclass
class LinkGraph:
    customer_of: dict[str, str]                          # complaint -> customer key
    postings: dict[tuple[str, str], list[str]]           # linking artifact -> complaints
    artifacts_of: dict[str, list[tuple[str, str]]]       # complaint -> linking artifacts (non-hub)
    hubs: dict[tuple[str, str], Hub]
    template_pairs: list[tuple[str, str, int, float]]    # (a, b, hamming, overlap)
    template_of: dict[str, int]                          # complaint -> template id
    template_members: dict[int, list[str]]
    media_pairs: list[tuple[str, str, str, float]] = field(default_factory=list)  # (a, b, modality, score)
    nearest: dict[str, tuple[str, int, float]] = field(default_factory=dict)      # complaint -> best template neighbour
    components: list[list[str]] = field(default_factory=list)                      # candidate rings

    def customers(self, complaints) -> set[str]:
        return {self.customer_of.get(c, "c:" + c) for c in complaints}


def customer_key(complaint_id: str, customer_id: str | None) -> str:
    """A complaint without a customer id counts as its own customer."""
    return customer_id if customer_id else "c:" + complaint_id


def is_service_number(value: str, card: Scorecard) -> bool:
    return bool(card.service_number.match(re.sub(r"\D", "", value) if value[:1].isdigit() else value))


def build(ws, card: Scorecard, near_duplicates) -> LinkGraph:
    """The whole graph. ``near_duplicates(ids, codes, shingle_sets, max_hamming, min_overlap)``
    returns ``[(a, b, hamming, overlap)]``."""
    conn = ws.db.conn
    customer_of = {cid: customer_key(cid, cust) for cid, cust in
                   conn.execute("SELECT c.id, c.customer_id FROM complaints c "
                                "JOIN complaint_features f ON f.complaint_id = c.id")}
    acfg = card.section("artifacts")
    linking = set(acfg.get("linking_kinds") or [])
    known_hubs = {str(h) for h in acfg.get("known_hubs") or []}
    postings: dict[tuple[str, str], list[str]] = defaultdict(list)
    for cid, kind, value in conn.execute("SELECT complaint_id, kind, value FROM complaint_artifacts"):
        if kind in linking and cid in customer_of:
            postings[(kind, value)].append(cid)

    # Near-duplicate letters first: hub coherence needs them.
    tcfg = card.section("templates")
    rows = conn.execute(
        "SELECT complaint_id, simhash, shingles FROM complaint_features "
        "WHERE simhash IS NOT NULL AND n_chars >= ? ORDER BY complaint_id",
        (int(tcfg.get("min_chars", 60)),)).fetchall()
    pairs = near_duplicates([r[0] for r in rows], [unsigned(r[1]) for r in rows],
                            [np.frombuffer(r[2] or b"", dtype=np.uint32) for r in rows],
                            max_hamming=int(tcfg.get("max_hamming", 12)),
                            min_overlap=float(tcfg.get("min_overlap", 0.6))) if rows else []
    tuf = UnionFind()
    nearest: dict[str, tuple[str, int, float]] = {}
    for a, b, h, o in pairs:
        tuf.union(a, b)
        for x, y in ((a, b), (b, a)):
            # ties broken by id: FAISS may return equal distances in any order
            if x not in nearest or (h, -o, y) < (nearest[x][1], -nearest[x][2], nearest[x][0]):
                nearest[x] = (y, h, o)
    template_of, template_members = _stable_template_ids(ws, tuf.groups())

    # Hubs: declared, service numbers, too common, or incoherent (no shared letter).
    n_customers = len(set(customer_of.values())) or 1
    cap = max(int(acfg.get("hub_min_customers", 200)), float(acfg.get("hub_fraction", 0.02)) * n_customers)
    coh_min_cust = int(acfg.get("coherence_min_customers", 12))
    coh_min = float(acfg.get("coherence_min", 0.5))
    hubs: dict[tuple[str, str], Hub] = {}
    for key, members in postings.items():
        kind, value = key
        custs = {customer_of[c] for c in members}
        if value in known_hubs or re.sub(r"\D", "", value) in known_hubs:
            hubs[key] = Hub(kind, value, len(custs), "declared public number")
        elif kind in ("phone", "mobile", "landline") and is_service_number(value, card):
            hubs[key] = Hub(kind, value, len(custs), "service number")
        elif len(custs) > cap:
            hubs[key] = Hub(kind, value, len(custs), f"carried by {len(custs)} customers (> {cap:.0f})")
        elif len(custs) >= coh_min_cust:
            # Coherent: the letter shares a template with another letter carrying this artifact.
            per_template = Counter(template_of[c] for c in members if c in template_of)
            coherent = sum(n for n in per_template.values() if n >= 2)
            if coherent / len(members) < coh_min:
                hubs[key] = Hub(kind, value, len(custs),
                                f"{len(custs)} customers, most of whose letters share no template")
    artifacts_of: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, members in postings.items():
        if key in hubs:
            continue
        for c in members:
            artifacts_of[c].append(key)

    graph = LinkGraph(customer_of, dict(postings), dict(artifacts_of), hubs, pairs, template_of,
                      template_members, nearest=nearest)
    graph.media_pairs = _media_pairs(ws, customer_of)
    rcfg = card.section("rings")
    graph.components = _components(graph, int(rcfg.get("min_customers", 3)), float(rcfg.get("strong_overlap", 0.8)))
    return graph


def _components(graph: LinkGraph, min_customers: int, strong_overlap: float = 0.0) -> list[list[str]]:
    """Connected groups over >= min_customers customers, held together by at least one strong
    link between two customers: a shared identifier, the same face/voice, or a letter copied
    nearly whole (overlap >= strong_overlap). Same-topic letters that merely resemble each
    other chain up by chance in a big batch; they never make a ring on their own."""
    uf = UnionFind()
    strong: set[str] = set()
    for key, members in graph.postings.items():
        if key in graph.hubs or len(members) < 2:
            continue
        if len({graph.customer_of[c] for c in members}) < 2:
            continue  # one customer repeating their own number is not a link between people
        first = members[0]
        strong.update(members)
        for c in members[1:]:
            uf.union(first, c)
    for a, b, _h, o in graph.template_pairs:
        uf.union(a, b)
        if o >= strong_overlap and graph.customer_of.get(a) != graph.customer_of.get(b):
            strong.update((a, b))
    for a, b, _m, _s in graph.media_pairs:
        uf.union(a, b)
        if graph.customer_of.get(a) != graph.customer_of.get(b):
            strong.update((a, b))
    out = []
    for members in uf.groups().values():
        if len(graph.customers(members)) >= min_customers and not strong.isdisjoint(members):
            out.append(sorted(members))
    out.sort(key=lambda m: (-len(m), m[0]))
    return out


def _stable_template_ids(ws, groups: dict[str, list[str]]) -> tuple[dict[str, int], dict[int, list[str]]]:
    """Template ids survive between batches: a cluster keeps the id its members already had."""
    conn = ws.db.conn
    old = dict(conn.execute("SELECT complaint_id, template_id FROM complaint_features WHERE template_id IS NOT NULL"))
    next_id = (conn.execute("SELECT MAX(template_id) FROM complaint_features").fetchone()[0] or 0) + 1
    template_of: dict[str, int] = {}
    members_of: dict[int, list[str]] = {}
    taken: set[int] = set()
    for members in sorted(groups.values(), key=lambda m: (-len(m), min(m))):
        if len(members) < 2:
            continue
        candidates = sorted({old[c] for c in members if c in old} - taken)
        tid = candidates[0] if candidates else next_id
        if tid == next_id:
            next_id += 1
        taken.add(tid)
        members_of[tid] = sorted(members)
        for c in members:
            template_of[c] = tid
    with store.transaction(ws):
        conn.execute("UPDATE complaint_features SET template_id = NULL WHERE template_id IS NOT NULL")
        conn.executemany("UPDATE complaint_features SET template_id = ? WHERE complaint_id = ?",
                         [(t, c) for c, t in template_of.items()])
    return template_of, members_of


def _media_pairs(ws, customer_of: dict[str, str]) -> list[tuple[str, str, str, float]]:
    """Attachments of different complaints whose voice or face embeddings match."""
    import numpy as np

    conn = ws.db.conn
    rows = conn.execute("SELECT complaint_id, space, vector FROM attachment_vectors "
                        "WHERE status = 'ok' AND vector IS NOT NULL").fetchall()
    by_space: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    for cid, space, blob in rows:
        if cid in customer_of:
            by_space[space].append((cid, np.frombuffer(blob, dtype=np.float32)))
    out = []
    for space, items in by_space.items():
        if len(items) < 2:
            continue
        from xiaobao.complaints_engine.media import load_space_defaults

        load_space_defaults(space)
        match_t, _ = ws.thresholds(space)
        mat = np.stack([v for _c, v in items])
        sims = mat @ mat.T
        ii, jj = np.nonzero(np.triu(sims >= match_t, k=1))
        for i, j in zip(ii.tolist(), jj.tolist()):
            a, b = items[i][0], items[j][0]
            if a != b:
                out.append((a, b, space.split("/", 1)[0], float(sims[i, j])))
    return out
