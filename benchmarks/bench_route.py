"""Routing benchmark: a 200-rule file routes 50,000 complaints, against a naive rule loop.

Builds a temporary workspace with 50,000 synthetic complaints (channels, categories left
empty for half so the classifier runs, merchants, levels, risk tiers, tags) and a rules file
of 200 rules in the style of data/rules.yaml (channel / category / level / merchant guards,
tag and score conditions; most complaints only match late rules or the default, the costly
case for a first-match loop). It reports:

* end to end: ``route_pending`` over all complaints (read, classify, decide, store every
  decision with its rule, add tags, open SLA cases, audit events), complaints/s; floor < 60 s;
* decisions only, same contexts: the indexed ``RuleSet.decide`` against a naive loop that
  evaluates every rule in order (``RuleSet.decide_naive``), as complaints/s and a ratio; the
  two must agree on every complaint. The naive loop runs on the first ``--naive-n`` contexts.

    .venv/bin/python benchmarks/bench_route.py [--complaints 50000] [--rules 200] [--naive-n 10000]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from xiaobao import Workspace  # noqa: E402
from xiaobao.complaints_engine import records, routing, store  # noqa: E402
from xiaobao.complaints_engine.classify import classify, load_lexicon  # noqa: E402

CHANNELS = ["监管转办", "12378", "人民银行", "黑猫投诉", "hotline", "app", "e-mail", "letter", "web", "cfpb"]
CATEGORIES = ["催收", "电销", "信息费", "利息费用", "征信", "还款", "服务态度", "其他"]
TEXTS = ["催收人员爆通讯录，威胁联系家人", "天天接到营销电话推销", "借款被搭售会员费", "年化利率超过24%",
         "征信报告有逾期记录要求修复", "重复扣款，提前还款不给结清证明", "客服态度差敷衍推诿", "想咨询门店地址",
         "要求停息挂账，协商还款", "利息太高了"]
LINES = ["自营", "助贷", "联合贷", "分期商城", "场景分期", "信用卡"]
TAGS = ["监管投诉", "疑似代理投诉", "重复投诉", "人工复核", "敏感话术", "高风险客户"]


def make_rules(n: int, rnd: random.Random) -> str:
    out = ["default: {queue: general, team: 客服中心, priority: P3}", "rules:"]
    for i in range(n):
        k = i % 8
        if k == 0:
            when = f'channel == "{rnd.choice(CHANNELS)}" and level == "L{rnd.randint(1, 9)}" and risk_tier == "high"'
        elif k == 1:
            when = f'category == "{rnd.choice(CATEGORIES)}" and merchant == "m{rnd.randint(0, 400)}"'
        elif k == 2:
            when = f'channel in ["{rnd.choice(CHANNELS)}", "{rnd.choice(CHANNELS)}"] and "{rnd.choice(TAGS)}" in tags and risk_score > 0.9{rnd.randint(0, 9)}'
        elif k == 3:
            when = f'business_line == "{rnd.choice(LINES)}" and institution == "inst{rnd.randint(0, 60)}"'
        elif k == 4:
            when = f'category == "{rnd.choice(CATEGORIES)}" and level == "L{rnd.randint(1, 9)}" and customer_id =~ ".*{rnd.randint(0, 99):02d}$"'
        elif k == 5:
            when = f'merchant == "m{rnd.randint(0, 400)}" or (risk_score > 0.99 and "{rnd.choice(TAGS)}" in tags)'
        elif k == 6:
            when = f'text =~~ "{rnd.choice(["黑中介", "律师函", "投诉到底", "媒体曝光"])}{rnd.randint(0, 99)}" and level == "L{rnd.randint(1, 9)}"'
        else:
            when = f'channel == "{rnd.choice(CHANNELS)}" and category == "{rnd.choice(CATEGORIES)}" and max_match_score > 0.8{rnd.randint(0, 9)}'
        out.append(f"  - {{name: r{i:03d}, queue: q{i % 23}, team: t{i % 7}, priority: P{1 + i % 4}, when: '{when}'}}")
    return "\n".join(out) + "\n"


def insert_complaints(ws, n: int, rnd: random.Random) -> None:
    store.ensure_tables(ws)
    rows = []
    for i in range(n):
        rows.append((f"B{i:06d}", f"2025-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T{rnd.randint(8, 20):02d}:00:00",
                     rnd.choice(CHANNELS), f"U{rnd.randint(0, 20000):05d}", rnd.choice(LINES),
                     f"inst{rnd.randint(0, 80)}", f"m{rnd.randint(0, 2000)}" if rnd.random() < 0.4 else None,
                     f"L{rnd.randint(1, 9)}", rnd.choice(CATEGORIES) if rnd.random() < 0.5 else None,
                     rnd.choice(TEXTS) + f" 编号{i}", round(rnd.random(), 3), rnd.choice(["high", "medium", "low"]), "open"))
    with ws.transaction() as conn:
        conn.executemany("INSERT INTO complaints (id, received_at, channel, customer_id, business_line, institution,"
                         " merchant, level, category, text, risk_score, risk_tier, status)"
                         " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        tags = [(f"B{i:06d}", rnd.choice(TAGS), "screen", "2025-01-01T00:00:00") for i in range(0, n, 3)]
        conn.executemany("INSERT OR IGNORE INTO complaint_tags VALUES (?,?,?,?)", tags)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--complaints", type=int, default=50_000)
    ap.add_argument("--rules", type=int, default=200)
    ap.add_argument("--naive-n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        rules_path = Path(tmp) / "rules.yaml"
        rules_path.write_text(make_rules(args.rules, rnd), encoding="utf-8")
        ruleset = routing.load_rules(rules_path)
        ws = Workspace(Path(tmp) / "ws")
        insert_complaints(ws, args.complaints, rnd)

        # decisions only, on the same prepared contexts
        rows = records.unrouted(ws)
        tags = records.tags_by_complaint(ws)
        lex = load_lexicon()
        ctxs = []
        for r in rows:
            cat = r["category"] or classify(r["text"], lex).category
            ctxs.append(routing.complaint_context(r, tags.get(r["id"], ()), (), (), cat, None))
        t0 = time.perf_counter()
        fast = [ruleset.decide(c).name for c in ctxs]
        t_fast = time.perf_counter() - t0
        m = min(args.naive_n, len(ctxs))
        t0 = time.perf_counter()
        naive = [ruleset.decide_naive(c).name for c in ctxs[:m]]
        t_naive = time.perf_counter() - t0
        assert naive == fast[:m], "indexed and naive decisions differ"

        # end to end through the library, as `xiaobao route` runs it: the rules file is loaded
        # afresh (no warm candidate cache from the pass above)
        t0 = time.perf_counter()
        report = routing.route_pending(ws, rules_path)
        t_e2e = time.perf_counter() - t0
        assert len(report.decisions) == args.complaints
        stored = ws.db["routes"].count
        ws.close()

    fast_rate, naive_rate = len(ctxs) / t_fast, m / t_naive
    result = {
        "rules": len(ruleset.rules), "complaints": args.complaints,
        "end_to_end_seconds": round(t_e2e, 2), "end_to_end_per_s": round(args.complaints / t_e2e),
        "floor_seconds": 60, "floor_met": t_e2e < 60, "decisions_stored": stored,
        "cases_opened": report.cases_opened,
        "decide_indexed_per_s": round(fast_rate), "decide_naive_loop_per_s": round(naive_rate),
        "naive_loop_measured_on": m, "ratio_indexed_vs_naive": round(fast_rate / naive_rate, 1),
        "matched_default": sum(1 for d in fast if d == "default"),
    }
    print(f"route: {args.complaints} complaints x {len(ruleset.rules)} rules end to end in {t_e2e:.1f} s "
          f"({result['end_to_end_per_s']}/s; floor 60 s: {'met' if result['floor_met'] else 'MISSED'})")
    print(f"decide: indexed {fast_rate:,.0f}/s vs naive loop {naive_rate:,.0f}/s (on {m}) = "
          f"{result['ratio_indexed_vs_naive']}x")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
