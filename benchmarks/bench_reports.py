"""Reports benchmark: metrics and a monthly report over 1,000,000 complaints, against pandas
computing the same table in the same run.

Builds a temporary workspace and inserts synthetic rows straight into the registry tables (the
complaints engine's schema: complaints, ring_members, cases, sla_events) for speed: 1,000,000
complaints over September and October 2026 (so October is the report month and September its
previous period), customers who complain more than once, a few hundred rings, SLA cases (most
closed, some extended, some breached, a few thousand open). Then, each phase in its own process
so its peak memory is its own:

* ``metrics``: ``metrics(ws, by="channel,merchant", ...)`` for October;
* ``report``: ``build_report(ws, "monthly")`` + ``write_report`` (HTML with plotly.js, Markdown, JSON);
  floor: < 30 s and < 2 GiB peak RSS;
* ``pandas``: the same channel x merchant table (counts, previous period, proxy-suspected,
  on time / extended / breached, repeat, escalated, median handling hours) read from the same
  SQLite file with pandas; its numbers must equal ours; reported as a time ratio.

    .venv/bin/python benchmarks/bench_reports.py [--complaints 1000000] [--keep DIR]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHANNELS = ["监管转办", "12378", "人民银行", "黑猫投诉", "hotline", "app", "e-mail", "letter", "web"]
CH_W = [0.08, 0.06, 0.03, 0.08, 0.3, 0.25, 0.08, 0.04, 0.08]
MERCHANTS = [f"商户{i:02d}" for i in range(30)]
LINES = ["现金贷", "消费分期", "信用卡代偿", "车贷", "教育分期"]
LEVELS = ["一般", "重要", "紧急"]
CATEGORIES = ["催收", "利息费用", "征信", "还款", "服务态度", "信息费", "其他"]
START = dt.datetime(2026, 9, 1)
SPAN_S = 61 * 86400
MONTH = ("2026-10-01", "2026-10-31")


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # KiB on Linux


def build(home: Path, n: int, seed: int = 0) -> dict:
    from xiaobao import Workspace
    from xiaobao.complaints_engine import store
    from xiaobao.complaints_engine.handling_tables import ensure_handling_tables

    rng = np.random.default_rng(seed)
    ws = Workspace(home)
    store.ensure_tables(ws)
    ensure_handling_tables(ws)
    ws.conn.execute("PRAGMA synchronous=OFF")   # bulk load of a throwaway benchmark file
    secs = np.sort(rng.integers(0, SPAN_S, n))
    received = [(START + dt.timedelta(seconds=int(s))).isoformat() for s in secs]
    customers = rng.integers(0, int(n * 0.8), n)          # about a fifth of complaints are repeats
    ch = rng.choice(len(CHANNELS), n, p=CH_W)
    mer = rng.integers(0, len(MERCHANTS), n)
    line = rng.integers(0, len(LINES), n)
    lvl = rng.choice(3, n, p=[0.7, 0.2, 0.1])
    cat = rng.integers(0, len(CATEGORIES), n)
    tier = rng.choice(3, n, p=[0.06, 0.14, 0.8])
    tiers = ["high", "medium", "low"]
    ids = [f"B{i:07d}" for i in range(n)]
    t = time.perf_counter()
    ws.conn.execute("BEGIN")
    ws.conn.executemany(
        "INSERT INTO complaints (id, received_at, channel, customer_id, business_line, institution, merchant, level,"
        " category, risk_tier, status, text) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        ((ids[i], received[i], CHANNELS[ch[i]], f"CU{customers[i]:08d}", LINES[line[i]], "某消费金融",
          MERCHANTS[mer[i]], LEVELS[lvl[i]], CATEGORIES[cat[i]], tiers[tier[i]], "open", "") for i in range(n)))
    # Rings: 2% of complaints in 400 rings.
    members = rng.choice(n, n // 50, replace=False)
    ring_of = rng.integers(1, 401, len(members))
    ws.conn.executemany("INSERT INTO rings (id, status, n_complaints, n_customers, first_seen_at, updated_at) "
                        "VALUES (?, 'candidate', 0, 0, '2026-11-01T00:00:00', '2026-11-01T00:00:00')",
                        [(r,) for r in range(1, 401)])
    ws.conn.executemany("INSERT INTO ring_members (ring_id, complaint_id, customer_id) VALUES (?,?,?)",
                        ((int(r), ids[m], f"CU{customers[m]:08d}") for r, m in zip(ring_of, members)))
    # Cases: 0.5% open, the rest closed after 1-400 hours; 10% extended; 8% breached.
    outcome = rng.random(n)
    hours = rng.gamma(2.0, 40.0, n)
    rows = []
    for i in range(n):
        t0 = START + dt.timedelta(seconds=int(secs[i]))
        closed = outcome[i] >= 0.005
        regulator = ch[i] < 3          # the first three channels are regulator channels (sla.yaml)
        rows.append((ids[i], "regulator" if regulator else "internal",
                     "calendar_days" if regulator else "working_days", received[i], int(0.005 <= outcome[i] < 0.105),
                     "closed" if closed else "open", received[i],
                     (t0 + dt.timedelta(hours=float(hours[i]))).isoformat(timespec="seconds") if closed else None))
    ws.conn.executemany("INSERT INTO cases (complaint_id, policy, basis, received_at, extension_level, status, "
                        "opened_at, closed_at) VALUES (?,?,?,?,?,?,?,?)", rows)
    breached = np.nonzero(rng.random(n) < 0.08)[0]
    ws.conn.executemany("INSERT INTO sla_events (complaint_id, kind, target, at, due_at, recorded_at) "
                        "VALUES (?, 'breached', 'decision', ?, ?, ?)",
                        ((ids[i], received[i], received[i], received[i]) for i in breached))
    ws.conn.execute("COMMIT")
    ws.conn.execute("PRAGMA synchronous=FULL")
    ws.conn.execute("ANALYZE")
    return {"complaints": n, "load_s": round(time.perf_counter() - t, 1),
            "db_mib": round((home / "registry.db").stat().st_size / 2**20)}


def phase_metrics(home: str) -> dict:
    from xiaobao import Workspace
    from xiaobao.reports import metrics

    ws = Workspace(home)
    t = time.perf_counter()
    rows = metrics(ws, by="channel,merchant", start=MONTH[0], end=MONTH[1])
    return {"seconds": round(time.perf_counter() - t, 2), "peak_gib": round(peak_gib(), 3), "rows": rows}


def phase_report(home: str, out: str) -> dict:
    from xiaobao import Workspace
    from xiaobao.reports import build_report, write_report

    ws = Workspace(home)
    t = time.perf_counter()
    report = build_report(ws, "monthly", date="2026-10-15")
    paths = write_report(report, out)
    return {"seconds": round(time.perf_counter() - t, 2), "peak_gib": round(peak_gib(), 3),
            "complaints": report["totals"]["complaints"], "html_mib": round(paths["html"].stat().st_size / 2**20, 1)}


def phase_pandas(home: str) -> dict:
    import sqlite3

    import pandas as pd

    regulators = ("监管转办", "12378", "人民银行", "银保监", "银保监转办", "金融监管总局", "CFPB", "cfpb")
    t = time.perf_counter()
    conn = sqlite3.connect(f"file:{home}/registry.db?mode=ro", uri=True)
    c = pd.read_sql("SELECT id, received_at, channel, merchant, customer_id, risk_tier FROM complaints "
                    "WHERE received_at < '2026-11-01'", conn)
    cases = pd.read_sql("SELECT complaint_id AS id, status, extension_level, received_at AS case_received, closed_at "
                        "FROM cases", conn)
    breached = set(pd.read_sql("SELECT DISTINCT complaint_id FROM sla_events WHERE kind = 'breached'", conn).complaint_id)
    ringed = set(pd.read_sql("SELECT DISTINCT complaint_id FROM ring_members", conn).complaint_id)
    first = c.groupby("customer_id").received_at.transform("min")
    c["repeat"] = c.received_at > first
    c = c[c.received_at >= "2026-09-01"].merge(cases, on="id", how="left")
    c["cur"] = c.received_at >= "2026-10-01"
    c["proxy"] = (c.risk_tier == "high") | c.id.isin(ringed)
    c["breached"] = c.id.isin(breached)
    c["extended"] = ~c.breached & (c.extension_level > 0)
    c["on_time"] = ~c.breached & (c.extension_level == 0) & (c.status == "closed")
    c["escalated"] = c.channel.isin(regulators)
    c["hours"] = (pd.to_datetime(c.closed_at) - pd.to_datetime(c.case_received)).dt.total_seconds() / 3600
    cur = c[c.cur]
    g = cur.groupby(["channel", "merchant"])
    table = pd.DataFrame({"complaints": g.size(), "proxy_suspected": g.proxy.sum(), "on_time": g.on_time.sum(),
                          "extended": g.extended.sum(), "breached": g.breached.sum(), "repeat": g.repeat.sum(),
                          "escalated": g.escalated.sum(), "median_handling_hours": g.hours.median().round(2)})
    table["previous"] = c[~c.cur].groupby(["channel", "merchant"]).size().reindex(table.index).fillna(0).astype(int)
    seconds = time.perf_counter() - t
    rows = [{"channel": k[0], "merchant": k[1], **{m: (float(v) if m == "median_handling_hours" else int(v))
                                                   for m, v in r.items()}} for k, r in table.iterrows()]
    return {"seconds": round(seconds, 2), "peak_gib": round(peak_gib(), 3), "rows": rows}


def child(phase: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--phase", phase, *args], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"phase {phase} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--complaints", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="build (or reuse) the workspace here instead of a temp folder")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.phase:
        fn = {"build": lambda home, n: build(Path(home), int(n)), "metrics": phase_metrics, "report": phase_report,
              "pandas": phase_pandas}[a.phase]
        print(json.dumps(fn(*a.args), ensure_ascii=False, default=str))
        return
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        home = a.keep or Path(tmp) / "ws"
        # Building runs in its own process too: a child started by a big parent would report the
        # parent's resident size as its own peak (ru_maxrss survives fork).
        built = ({"complaints": a.complaints, "reused": str(home)} if (home / "registry.db").exists()
                 else child("build", str(home), str(a.complaints)))
        print(json.dumps({"built": built}), flush=True)
        ours = child("metrics", str(home))
        report = child("report", str(home), str(Path(tmp) / "out"))
        base = child("pandas", str(home))
    key = lambda r: (r["channel"], r["merchant"])  # noqa: E731
    cols = ("complaints", "previous", "proxy_suspected", "on_time", "extended", "breached", "repeat", "escalated",
            "median_handling_hours")
    mine = {key(r): {c: r[c] for c in cols} for r in ours["rows"] if r["complaints"]}
    theirs = {key(r): {c: r[c] for c in cols} for r in base["rows"]}
    # Counts must be equal; medians within 0.02 h (SQLite's julianday arithmetic against pandas' timedeltas).
    def same(x, y):
        if x is None or y is None:
            return x is y
        return all(x[c] == y[c] for c in cols[:-1]) and (
            x[cols[-1]] == y[cols[-1]] or abs(x[cols[-1]] - y[cols[-1]]) <= 0.02)
    agree = set(mine) == set(theirs) and all(same(mine[k], theirs[k]) for k in mine)
    result = {
        "complaints": a.complaints, "groups": len(mine), "tables_agree_with_pandas": agree,
        "metrics_s": ours["seconds"], "metrics_peak_gib": ours["peak_gib"],
        "pandas_s": base["seconds"], "pandas_peak_gib": base["peak_gib"],
        "metrics_vs_pandas_time_ratio": round(ours["seconds"] / base["seconds"], 2),
        "monthly_report_s": report["seconds"], "monthly_report_peak_gib": report["peak_gib"],
        "monthly_report_complaints": report["complaints"], "html_mib": report["html_mib"],
        "floor_report_under_30s_2gib": report["seconds"] < 30 and report["peak_gib"] < 2,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if not agree:
        diff = [(k, mine.get(k), theirs.get(k)) for k in sorted(set(mine) | set(theirs)) if not same(mine.get(k), theirs.get(k))]
        print("first disagreements:", diff[:3], file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
