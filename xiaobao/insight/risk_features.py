"""Per-customer complaint-risk features as of a cut-off day, and the labels they are judged by.

One pass over the stored interactions reduces each record to a few numbers (its day, whether the
customer called in, escalation words and negative turns in the customer's own turns, the
outcome, the overdue days); features for any cut-off are then numpy sums over a window of days,
so a time-split evaluation with several snapshots reads the table once.

Features (window = the ``window`` days before the cut-off, recent = the last ``recent`` days):
contacts, inbound contacts, escalation words (投诉 / 12378 / 银保监 / 律师 ...), negative
turns, refusals/hang-ups, promises/payments, overdue days, days since the last contact (each
over the window and over the recent days where it matters), earlier complaints (labels file
and ``complaints`` table before the cut-off), and ring links (``ring_members`` of complaints
received before the cut-off) when the complaints engine's tables exist.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np

from xiaobao.errors import InputError
from xiaobao.insight.lexicon import Lexicon, load_lexicon
from xiaobao.insight.records import parse_turns
from xiaobao.insight.quality import _fold
from xiaobao.insight.store import ensure_tables, table_exists

REGULATOR_CHANNELS = ("监管转办", "12378", "人民银行", "银保监", "金融监管", "cfpb")
BAD_OUTCOMES = ("拒绝还款", "挂断", "协商失败", "refused", "hung up")
GOOD_OUTCOMES = ("承诺还款", "已还款", "协商成功", "promised", "paid")

FEATURES = (
    "contacts_w", "contacts_m", "contacts_r", "inbound_w", "inbound_m", "inbound_r", "esc_w", "esc_m", "esc_r",
    "esc_rate_r", "esc_rate_old", "neg_w", "neg_m", "neg_r", "demand_w", "demand_m", "demand_r", "bad_outcome_w", "bad_outcome_r", "good_outcome_w", "good_outcome_r",
    "overdue_last", "days_since_last", "earlier_complaints", "ring_linked",
)


def day_number(s: str) -> int:
    return date.fromisoformat(s[:10]).toordinal()


def day_text(n: int) -> str:
    return date.fromordinal(int(n)).isoformat()


@dataclass
class Signals:
    """One row per interaction, reduced to numbers; ``customers[c]`` is the id of index ``c``."""
    customers: list[str]
    cust: np.ndarray
    day: np.ndarray
    inbound: np.ndarray
    esc: np.ndarray
    neg: np.ndarray
    demand: np.ndarray
    bad: np.ndarray
    good: np.ndarray
    overdue: np.ndarray

    @property
    def first_day(self) -> int:
        return int(self.day.min())

    @property
    def last_day(self) -> int:
        return int(self.day.max())


def collect_signals(ws, lexicon: Lexicon | None = None, batch: int = 20000) -> Signals:
    """Read every stored interaction once and reduce it to numbers (see :class:`Signals`)."""
    ensure_tables(ws)
    lex = lexicon or load_lexicon()
    index: dict[str, int] = {}
    names = ("cust", "day", "inbound", "esc", "neg", "demand", "bad", "good", "overdue")
    dtypes = {"cust": np.int32, "day": np.int32, "overdue": np.float32}
    # per batch into numpy, so a million records cost tens of MB, not Python lists of objects
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in names}
    cur = ws.db.conn.execute("SELECT customer_id, at, direction, text, outcome, overdue_days FROM interactions")
    esc_find, neg_search = lex.escalation.findall, lex.negative.search
    demand_search = [p.search for p in lex.groups["demands"].values()]
    while True:
        rows = cur.fetchmany(batch)
        if not rows:
            break
        cols: dict[str, list] = {k: [] for k in names}
        for cid, at, direction, text, outcome, overdue in rows:
            c = index.setdefault(cid, len(index))
            esc = neg = dem = 0
            for t in parse_turns(text):
                if t.speaker == "customer" or (t.speaker is None and direction != "outbound"):
                    s = _fold(t.text)
                    esc += len(esc_find(s))
                    neg += neg_search(s) is not None
                    dem += any(f(s) is not None for f in demand_search)
            cols["cust"].append(c)
            cols["day"].append(day_number(at))
            cols["inbound"].append(direction == "inbound")
            cols["esc"].append(esc)
            cols["neg"].append(neg)
            cols["demand"].append(dem)
            cols["bad"].append(outcome in BAD_OUTCOMES)
            cols["good"].append(outcome in GOOD_OUTCOMES)
            cols["overdue"].append(-1 if overdue is None else overdue)
        for k in names:
            chunks[k].append(np.asarray(cols[k], dtypes.get(k, np.float32)))
    if not index:
        raise InputError("interactions", "no interactions stored; run `xiaobao interactions ingest FILE` first")
    return Signals(list(index), **{k: np.concatenate(v) for k, v in chunks.items()})


@dataclass
class Labels:
    """Complaint events: customer id and day number, from a labels file and/or the complaints table."""
    customer: np.ndarray      # object array of ids
    day: np.ndarray           # int32 day numbers
    source: str


def read_labels(path: str | Path, bad: list | None = None) -> Labels:
    """A CSV with ``customer_id`` and ``complained_at`` (客户号, 投诉时间 also accepted); bad rows
    are listed in ``bad`` (line, reason) and skipped."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    ids, days = [], []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = {f.strip().lower(): f for f in (reader.fieldnames or [])}
        cid_col = next((fields[k] for k in ("customer_id", "customer", "客户号", "客户编号") if k in fields), None)
        at_col = next((fields[k] for k in ("complained_at", "date", "time", "投诉时间", "received_at") if k in fields), None)
        if not cid_col or not at_col:
            raise InputError(path, "labels need columns customer_id and complained_at", line=1)
        for row in reader:
            line = reader.line_num
            cid, at = (row.get(cid_col) or "").strip(), (row.get(at_col) or "").strip()
            try:
                if not cid:
                    raise ValueError("missing customer_id")
                d = datetime.fromisoformat(at.replace("/", "-")).date().toordinal()
            except ValueError as exc:
                if bad is not None:
                    bad.append({"line": line, "reason": str(exc) if not at or "customer" in str(exc)
                                else f"complained_at {at!r} is not a date"})
                continue
            ids.append(cid)
            days.append(d)
    if not ids:
        raise InputError(path, "no usable label rows")
    return Labels(np.asarray(ids, dtype=object), np.asarray(days, np.int32), str(path))


def labels_from_complaints(ws) -> Labels | None:
    """Regulator complaints in the complaints table as label events (None when there are none)."""
    if not table_exists(ws, "complaints"):
        return None
    marks = ",".join("?" * len(REGULATOR_CHANNELS))
    rows = ws.db.conn.execute(
        f"SELECT customer_id, received_at FROM complaints WHERE customer_id IS NOT NULL AND received_at IS NOT NULL "
        f"AND lower(channel) IN ({marks})", REGULATOR_CHANNELS).fetchall()
    if not rows:
        return None
    return Labels(np.asarray([r[0] for r in rows], dtype=object),
                  np.asarray([day_number(r[1]) for r in rows], np.int32), "complaints table")


def _history(ws) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(customer ids, day numbers) of every stored complaint, and first ring-link day per customer."""
    if not table_exists(ws, "complaints"):
        return np.asarray([], dtype=object), np.asarray([], np.int32), {}
    rows = ws.db.conn.execute("SELECT customer_id, received_at FROM complaints "
                              "WHERE customer_id IS NOT NULL AND received_at IS NOT NULL").fetchall()
    ring: dict[str, int] = {}
    if table_exists(ws, "ring_members"):
        for cid, at in ws.db.conn.execute(
                "SELECT COALESCE(m.customer_id, c.customer_id), c.received_at FROM ring_members m "
                "JOIN complaints c ON c.id = m.complaint_id WHERE c.received_at IS NOT NULL"):
            if cid:
                d = day_number(at)
                ring[cid] = min(ring.get(cid, d), d)
    return (np.asarray([r[0] for r in rows], dtype=object),
            np.asarray([day_number(r[1]) for r in rows], np.int32), ring)


class FeatureBuilder:
    """Features of every customer active in the window before a cut-off (see module doc)."""

    def __init__(self, ws, signals: Signals, labels: Labels | None, window: int = 30, recent: int = 7):
        self.s, self.window, self.recent = signals, window, recent
        self.middle = max(recent, min(window, 2 * recent))
        self.index = {c: i for i, c in enumerate(signals.customers)}
        hist_ids, hist_days, self.ring = _history(ws)
        lab_ids = labels.customer if labels is not None else np.asarray([], dtype=object)
        lab_days = labels.day if labels is not None else np.asarray([], np.int32)
        # targets: the label events; history: stored complaints and label events, one per customer-day
        self.target_cust, self.target_day = self._events(lab_ids, lab_days)
        self.event_cust, self.event_day = self._events(np.concatenate([hist_ids, lab_ids]),
                                                       np.concatenate([hist_days, lab_days]))

    def _events(self, ids, days) -> tuple[np.ndarray, np.ndarray]:
        known = np.asarray([self.index.get(c, -1) for c in ids], np.int64)
        keep = known >= 0
        if not keep.any():
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pairs = np.unique(np.stack([known[keep], np.asarray(days, np.int64)[keep]]), axis=1)
        return pairs[0], pairs[1]

    def features(self, cutoff: int) -> tuple[np.ndarray, np.ndarray]:
        """(customer indices active in the window, feature matrix float32 [n, len(FEATURES)]).

        Active: at least one contact in the window and no complaint in it (a customer who has
        just complained is handled by the complaint process, not predicted)."""
        s, n = self.s, len(self.s.customers)
        w = (s.day >= cutoff - self.window) & (s.day < cutoff)
        r = (s.day >= cutoff - self.recent) & (s.day < cutoff)
        m = (s.day >= cutoff - self.middle) & (s.day < cutoff)
        cw, cr, cm = s.cust[w], s.cust[r], s.cust[m]

        def total(mask_c, values=None):
            return np.bincount(mask_c, weights=values, minlength=n).astype(np.float32)

        contacts_w, contacts_r = total(cw), total(cr)
        esc_w, esc_r = total(cw, s.esc[w]), total(cr, s.esc[r])
        old = np.maximum(contacts_w - contacts_r, 0)
        last = np.full(n, -1, np.int64)
        np.maximum.at(last, cw, s.day[w])
        overdue = np.full(n, -1.0, np.float32)
        np.maximum.at(overdue, cw, s.overdue[w])
        before = self.event_day < cutoff
        earlier = np.bincount(self.event_cust[before], minlength=n).astype(np.float32)
        ring = np.zeros(n, np.float32)
        for cid, d in self.ring.items():
            if d < cutoff and cid in self.index:
                ring[self.index[cid]] = 1.0
        X = np.stack([
            contacts_w, total(cm), contacts_r, total(cw, s.inbound[w]), total(cm, s.inbound[m]),
            total(cr, s.inbound[r]), esc_w, total(cm, s.esc[m]), esc_r,
            esc_r / np.maximum(contacts_r, 1), (esc_w - esc_r) / np.maximum(old, 1),
            total(cw, s.neg[w]), total(cm, s.neg[m]), total(cr, s.neg[r]),
            total(cw, s.demand[w]), total(cm, s.demand[m]), total(cr, s.demand[r]),
            total(cw, s.bad[w]), total(cr, s.bad[r]),
            total(cw, s.good[w]), total(cr, s.good[r]),
            overdue, np.where(last >= 0, cutoff - last, self.window + 1).astype(np.float32), earlier, ring,
        ], axis=1)
        # customers already in a complaint (one in the window) are being handled, not predicted
        recent_complaint = np.zeros(n, bool)
        recent_complaint[self.event_cust[before & (self.event_day >= cutoff - self.window)]] = True
        active = np.nonzero((contacts_w > 0) & ~recent_complaint)[0]
        return active, X[active]

    def labels(self, cutoff: int, horizon: int, customers: np.ndarray) -> np.ndarray:
        """1 where the customer complained in [cutoff, cutoff + horizon)."""
        inside = (self.target_day >= cutoff) & (self.target_day < cutoff + horizon)
        y = np.zeros(len(self.s.customers), np.int8)
        y[self.target_cust[inside]] = 1
        return y[customers]
