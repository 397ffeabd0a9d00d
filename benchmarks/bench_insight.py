"""Insight benchmark: 1,000,000 synthetic interactions through ingest, inspection and the risk model.

Steps (all in one process, one temporary workspace):

* generate ``--n`` interactions with planted misconduct and pre-complaint trajectories
  (``xiaobao.insight.synth``; labels and truth files beside them);
* ingest: records/s and peak resident memory against the file's size (the file is streamed,
  so memory must stay far below it); a second ingest of the same file must add nothing;
* inspection with the default rules: interactions/s (floor 5,000/s), recall and precision of
  every rule against the planted truth, and the same batch inspected by a naive inspector
  (every phrase of every rule tested on every sentence with ``in``, similarity of every
  sentence to every example with Python sets) on the first ``--naive-n`` records, as a ratio;
* voice of customer on real complaints (if ``../shared/data/text/zh_heimao`` is there): the
  lexicon's demand against the posts' own stated demand (mapped onto our demand labels);
* risk: ``train_risk_model`` with a 30-day horizon; precision at the top decile and at k on
  the later held-out period, for the model and for the keyword-count baseline
  (floor: model >= 0.80 and above the baseline).

    .venv/bin/python benchmarks/bench_insight.py [--n 1000000] [--naive-n 20000] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from xiaobao import Workspace  # noqa: E402
from xiaobao.insight.ingest import ingest_interactions  # noqa: E402
from xiaobao.insight.quality import _SENTENCE, iter_interactions, run_quality  # noqa: E402
from xiaobao.insight.records import parse_turns  # noqa: E402
from xiaobao.insight.risk_model import train_risk_model  # noqa: E402
from xiaobao.insight.rules import load_rules  # noqa: E402
from xiaobao.insight.synth import SynthParams, synth_interactions  # noqa: E402


class PeakRSS:
    """Samples this process's resident memory every 50 ms; ``peak`` in MiB."""

    def __init__(self):
        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()

    def __enter__(self):
        self.start = self.proc.memory_info().rss
        self.peak = self.start
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        return self

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self.t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 2**20


_STRIP = re.compile(r"[\s\.,!?;:，。！？；：、\"'“”‘’（）()\[\]【】…~～-]+")


def naive_inspect(records, rules) -> int:
    """The obvious implementation: every phrase of every rule on every sentence, sets for similarity."""
    phrase_rules = rules.of_kind("phrases")
    examples = [(r, {a + b for a, b in zip(e, e[1:])}) for r in phrase_rules for e in (_STRIP.sub("", x) for x in r.examples)]
    hits = 0
    for rec in records:
        for t in parse_turns(rec["text"]):
            if t.speaker == "customer":
                continue
            for s in _SENTENCE.findall(t.text):
                for r in phrase_rules:
                    if any(p in s for p in r.phrases) and not any(x in s for x in r.exclude):
                        hits += 1
                flat = _STRIP.sub("", s)
                pairs = {a + b for a, b in zip(flat, flat[1:])}
                for r, ex in examples:
                    if ex and len(ex & pairs) / len(ex) >= r.similarity:
                        hits += 1
    return hits


def grown_rules(rules, extra: int, seed: int):
    """The rule set with ``extra`` more (never matching) 4-6 character phrases per phrase rule."""
    import dataclasses
    import random
    rnd = random.Random(seed)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    grown = [dataclasses.replace(r, phrases=r.phrases + tuple("".join(rnd.choices(chars, k=rnd.randint(4, 6)))
                                                              for _ in range(extra)))
             if r.kind == "phrases" else r for r in rules.rules]
    return dataclasses.replace(rules, rules=tuple(grown))


# The posts' own demand wording -> our demand labels (only posts whose demand maps are scored).
DEMAND_MAP = {"退费": ("退款", "退还", "退费", "退息", "退会员", "退担保", "返还", "退回"),
              "停止催收": ("停止骚扰", "停止催收", "停止暴力"), "协商还款": ("协商", "分期", "延期", "停息"),
              "减免": ("减免", "免除", "免息", "减息"), "修改征信": ("征信",)}


def voc_on_real_complaints() -> dict | None:
    """Lexicon demand vs the demand each real 黑猫投诉 post states (recall, precision of what it names)."""
    import csv
    from xiaobao.insight.lexicon import load_lexicon
    from xiaobao.insight.voc import lexicon_labels
    folder = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text" / "zh_heimao"
    if not folder.is_dir():
        return None
    posts = []
    with open(folder / "heimao_tousu_chitian.csv", encoding="utf-8") as fh:
        posts += [(r["title"] + "。" + r["detail"], r["demand"]) for r in csv.DictReader(fh)]
    with open(folder / "heimao_tousu_wpandios_examples.csv", encoding="utf-8") as fh:
        posts += [(r["title"] + "。" + r["summary"], r["demands"]) for r in csv.DictReader(fh)]
    lex = load_lexicon()
    scored = named = right = 0
    for text, demand in posts:
        gold = {k for k, words in DEMAND_MAP.items() if any(w in demand for w in words)}
        if not gold:
            continue
        scored += 1
        got = lexicon_labels(text, lex)["demand"]
        named += got != ""
        right += got in gold
    return {"posts": len(posts), "with_mappable_demand": scored, "lexicon_named_a_demand": named,
            "correct": right, "recall": round(right / scored, 4) if scored else None,
            "precision": round(right / named, 4) if named else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--naive-n", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--extra-phrases", type=int, default=200, help="phrases added per rule for the scaling run")
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_insight_"))
    work.mkdir(parents=True, exist_ok=True)
    out: dict = {"n": args.n}
    try:
        data = work / "interactions.csv"
        t = time.perf_counter()
        synth = synth_interactions(data, SynthParams(n_interactions=args.n, seed=args.seed))
        out["synth"] = {"seconds": round(time.perf_counter() - t, 1), "customers": synth.n_customers,
                        "agents": synth.n_agents, "complaints": synth.n_complaints,
                        "file_mib": round(data.stat().st_size / 2**20, 1)}
        print("synth", out["synth"], flush=True)

        ws = Workspace(work / "ws")
        with PeakRSS() as mem:
            t = time.perf_counter()
            rep = ingest_interactions(ws, data)
            secs = time.perf_counter() - t
        t = time.perf_counter()
        again = ingest_interactions(ws, data)
        out["ingest"] = {"rows": rep.rows, "added": rep.added, "bad": rep.bad_count, "seconds": round(secs, 1),
                         "rows_per_s": round(rep.rows / secs), "rss_growth_mib": round(mem.growth_mib, 1),
                         "file_mib": out["synth"]["file_mib"], "reingest_added": again.added,
                         "reingest_seconds": round(time.perf_counter() - t, 1)}
        print("ingest", out["ingest"], flush=True)

        with PeakRSS() as mem:
            run = run_quality(ws)
        truth = json.loads(Path(synth.truth).read_text(encoding="utf-8"))["planted"]
        source = dict(ws.db.conn.execute("SELECT id, source_id FROM interactions"))
        found: dict[str, set] = {}
        for iid, rule in ws.db.conn.execute("SELECT interaction_id, rule FROM quality_findings"):
            found.setdefault(source[iid], set()).add(rule)
        accuracy = {}
        for rule in sorted(run.by_rule):
            planted = {k for k, v in truth.items() if rule in v}
            flagged = {k for k, v in found.items() if rule in v}
            tp = len(planted & flagged)
            accuracy[rule] = {"planted": len(planted), "flagged": len(flagged),
                              "recall": round(tp / len(planted), 4) if planted else None,
                              "precision": round(tp / len(flagged), 4) if flagged else None}
        sample = next(iter_interactions(ws, batch=args.naive_n))
        from xiaobao.insight.quality import Inspector
        rules = load_rules()
        t = time.perf_counter()
        Inspector(rules).inspect(sample)
        fast = len(sample) / (time.perf_counter() - t)
        t = time.perf_counter()
        naive_inspect(sample, rules)
        naive = len(sample) / (time.perf_counter() - t)
        big = grown_rules(rules, args.extra_phrases, args.seed)
        part = sample[:max(1, len(sample) // 4)]
        t = time.perf_counter()
        Inspector(big).inspect(part)
        fast_big = len(part) / (time.perf_counter() - t)
        t = time.perf_counter()
        naive_inspect(part, big)
        naive_big = len(part) / (time.perf_counter() - t)
        out["inspection"] = {"interactions": run.interactions, "findings": run.findings,
                             "seconds": round(run.seconds, 1), "per_s": round(run.per_second),
                             "floor_per_s": 5000, "floor_met": run.per_second >= 5000,
                             "rss_growth_mib": round(mem.growth_mib, 1),
                             "same_batch": {"records": len(sample), "inspector_per_s": round(fast),
                                            "naive_per_s": round(naive), "ratio": round(fast / naive, 2)},
                             "phrases_per_rule_plus": {"extra": args.extra_phrases, "records": len(part),
                                                       "inspector_per_s": round(fast_big),
                                                       "naive_per_s": round(naive_big),
                                                       "ratio": round(fast_big / naive_big, 2)},
                             "accuracy_vs_planted": accuracy}
        print("inspection", json.dumps(out["inspection"], ensure_ascii=False), flush=True)

        out["voc_real_complaints"] = voc_on_real_complaints()
        print("voc on real complaints", out["voc_real_complaints"], flush=True)

        t = time.perf_counter()
        model = train_risk_model(ws, synth.labels, horizon=30, out=work / "risk.json", top_k=1000)
        m = model.meta["metrics"]
        out["risk"] = {"seconds": round(time.perf_counter() - t, 1), "held_out": m["held_out"],
                       "training": model.meta["training"], "model": m["model"], "keyword_baseline": m["keyword_baseline"],
                       "floor_met": m["model"]["precision_at_top_decile"] >= 0.80
                       and m["model"]["precision_at_top_decile"] > m["keyword_baseline"]["precision_at_top_decile"]}
        print("risk", json.dumps(out["risk"], ensure_ascii=False), flush=True)
        ws.close()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
