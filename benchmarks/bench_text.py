"""Text benchmarks: same-author linkage, planted templates, and near-duplicate search speed.

    .venv/bin/python benchmarks/bench_text.py                      # all three parts
    .venv/bin/python benchmarks/bench_text.py --part authors --spaces text/char-ngram@1 simhash
    .venv/bin/python benchmarks/bench_text.py --part templates
    .venv/bin/python benchmarks/bench_text.py --part speed --n 100000

(a) Authors: ``evaluate_authors`` (what ``xiaobao eval text-authors`` runs) on the gov messages
    (text 留言详情, author 留言用户, authors with >= 3 messages as queries), per space and fused;
    the off-the-shelf reference (scikit-learn char 1-3-gram TF-IDF) is measured in the same run.
(b) Templates: 10 letter templates x 20 variants (other names, amounts, dates, phone numbers,
    companies; sentences reordered, real sentences from other letters inserted, one sentence
    dropped) planted among 3/4 of the 黑猫投诉 and gov texts (the inserted sentences come from the
    other quarter); ``template_clusters`` over all of them.
    Pairwise precision and recall over pairs that involve a planted letter (pairs of two real
    letters have no ground truth: real near-duplicates among them are neither rewarded nor punished).
(c) Speed: N index letters and N query letters made of real sentences (6-10 per letter), with
    1,000 planted template variants on each side. Ours: ``SimHashIndex`` (fingerprint, FAISS
    binary index, search with overlap verification). Baseline: datasketch ``MinHash`` (128
    permutations) + ``MinHashLSH`` (threshold 0.5) on the same 3-gram shingles. Both start from the
    raw letters, single thread; letters/s counts index and query letters over the total time.
    Template recall: share of planted queries with a hit of the same template.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xiaobao.text_fingerprint import SimHashIndex, template_clusters  # noqa: E402
from xiaobao.text_fingerprint.authors import evaluate_authors, read_labelled_csv  # noqa: E402
from xiaobao.text_fingerprint.simhash import NGRAM, fingerprint_text  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "text"
GOV = DATA / "zh_gov_messages" / "gov_messages_attachment3.csv"
HEIMAO = [DATA / "zh_heimao" / "heimao_tousu_chitian.csv", DATA / "zh_heimao" / "heimao_tousu_wpandios_examples.csv"]

TEMPLATES = [
    "您好，我是借款人{name}。{date}我在{company}借款{amount}元，实际到账只有{got}元，平台以服务费名义预先扣除了大量费用，属于砍头息。"
    "综合年化利率远远超过国家规定的百分之二十四。我多次联系客服均没有结果。现要求退还所有超出法定利率部分的利息和服务费。"
    "如果七个工作日内不给答复，我将向银保监会和人民银行投诉，并拨打12378热线。联系电话{phone}。",
    "尊敬的领导：本人{name}，于{date}通过{company}办理了一笔{amount}元的分期业务。放款时被强制搭售会员卡和保险，不买就不放款。"
    "这种捆绑销售严重侵害了消费者的知情权和自主选择权。现委托律师事务所全权代理本人维权，要求全额退还会员费{got}元。"
    "请贵司与我的代理人联系，电话{phone}，不接受其他人员来电。",
    "{company}的催收人员从{date}开始每天多次拨打我的电话，还打给我的父母、同事和通讯录里的朋友，说要上门、要起诉、要曝光。"
    "我借款{amount}元，已经还了{got}元，现在因为疫情失业暂时无力偿还。我要求立即停止暴力催收，协商停息挂账，本金分期偿还。"
    "如继续骚扰，我将报警并向金融监管总局投诉。本人{name}，电话{phone}。",
    "关于{company}违规上报征信的投诉。本人{name}在{date}已经结清全部借款{amount}元，但是征信报告上仍然显示逾期记录，"
    "导致我房贷审批被拒，造成重大损失。要求贵司在五个工作日内完成征信修复，删除不实逾期记录，并书面道歉。"
    "否则我将向人民银行征信中心提出异议，并通过法律途径解决。联系方式{phone}。",
    "投诉对象：{company}。投诉人：{name}。投诉事项：借款合同利率不透明，实际借款{amount}元，需偿还{got}元。"
    "借款时页面只显示日利率，从未告知年化利率和各项费用。根据相关规定，贷款机构必须明示年化利率。"
    "诉求：一、退还多收利息；二、减免罚息；三、重新签订合同。联系电话{phone}，{date}。",
    "我是{company}的用户{name}，因为家庭困难想和贵公司协商还款，申请个性化分期，每月还款不超过{got}元。"
    "我的借款本金是{amount}元，已经按时还了一年多。贵公司客服一直推脱，说系统无法办理。根据商业银行信用卡业务监督管理办法，"
    "贵司应当与困难客户协商。请尽快给予答复，否则我会向消费者协会和12378反映。电话{phone}。",
    "{date}，{company}未经本人同意从我的银行卡中自动扣款{amount}元，名目是所谓的加速审核费和会员费。我从来没有开通过这些服务，"
    "也没有收到任何短信提醒。这种行为涉嫌违规扣款。我要求在三日内原路退还全部款项{got}元，并关闭自动续费。"
    "投诉人{name}，手机{phone}，已向媒体曝光。",
    "我代表{name}向贵司提出正式投诉。{name}于{date}在{company}申请贷款{amount}元，贵司在未充分评估其还款能力的情况下发放贷款，"
    "属于过度授信。目前{name}已经无力偿还，我方要求贵司停止计息，减免全部罚息和违约金，仅偿还剩余本金{got}元。"
    "我方为债务优化咨询机构，请与我方联系，微信{wechat}，电话{phone}。",
    "{company}的工作人员在电话中冒充律师和法院工作人员，威胁我说如果不在今天还清{amount}元就要冻结我的银行卡，"
    "还要把我列入失信被执行人名单。这是明显的违规催收和恐吓。我已经录音保存证据。我要求贵司向我道歉，"
    "处理相关催收人员，并停止一切骚扰。{name}，{date}，{phone}。",
    "本人{name}于{date}在{company}购买理财产品{amount}元，销售人员承诺保本保息，年化收益百分之八。现在产品到期，"
    "只收回{got}元，损失惨重。销售人员存在虚假宣传和误导销售行为，没有进行风险测评。要求赔偿全部本金损失。"
    "若得不到合理解决，将向证监会和金融监管总局举报，电话{phone}。",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
COMPANIES = ["某某金融", "快易贷", "安心借", "诚信小贷公司", "速达消费金融", "星火分期", "好借钱", "融易通", "万家信贷", "惠民贷"]


def read_background() -> list[str]:
    texts, _ = read_labelled_csv(GOV, "留言详情", "留言用户")
    for path in HEIMAO:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            texts += [r["detail"].strip() for r in csv.DictReader(fh) if r.get("detail", "").strip()]
    return texts


def sentences_of(texts: list[str], longest: int = 60) -> list[str]:
    """Sentences of 8 to ``longest`` characters (an inserted remark, not a second letter)."""
    out = []
    for t in texts:
        out += [s.strip() for s in re.split(r"(?<=[。！？!?])", t) if 8 <= len(s.strip()) <= longest]
    return out


def make_variant(tpl: str, r: random.Random, pool: list[str]) -> str:
    name = r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.randint(1, 2)))
    text = tpl.format(name=name, company=r.choice(COMPANIES), date=f"{r.randint(2019, 2024)}年{r.randint(1, 12)}月{r.randint(1, 28)}日",
                      amount=r.randint(2, 200) * 500, got=r.randint(1, 100) * 300,
                      phone=f"1{r.choice('3456789')}{r.randint(0, 999999999):09d}", wechat=f"wx{r.randint(10**5, 10**8)}")
    sents = [s for s in re.split(r"(?<=[。！？])", text) if s.strip()]
    if r.random() < 0.6:  # reorder
        r.shuffle(sents)
    if len(sents) > 3 and r.random() < 0.3:  # drop one sentence
        sents.pop(r.randrange(len(sents)))
    for _ in range(r.randint(0, 2)):  # insert real sentences from other letters
        sents.insert(r.randrange(len(sents) + 1), r.choice(pool))
    return "".join(sents)


# ------------------------------------------------------------------ (a) authors
def bench_authors(spaces: list[str]) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts, labels = read_labelled_csv(GOV, "留言详情", "留言用户")
    out = {}
    from collections import Counter

    counts = Counter(labels)
    lab = np.asarray(labels)
    rows = [i for i, lb in enumerate(labels) if counts[lb] >= 3]
    for name, sublinear in (("reference sklearn char 1-3 TF-IDF", False),
                            ("reference sklearn char 1-3 TF-IDF, sublinear tf", True)):
        x = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=sublinear).fit_transform(texts)
        sims = (x[rows] @ x.T).toarray()
        sims[np.arange(len(rows)), rows] = -np.inf
        out[name] = {"top1": round(float(np.mean(lab[sims.argmax(1)] == lab[rows])), 4), "n_queries": len(rows)}
    print(json.dumps(out, ensure_ascii=False), flush=True)
    for space in spaces:
        t0 = time.perf_counter()
        res = evaluate_authors(texts, labels, min_per_label=3, space=space)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        out[space] = res
        print(json.dumps({space: res}, ensure_ascii=False), flush=True)
    return out


# ------------------------------------------------------------------ (b) templates
def pair_scores(groups: list[list[int]], truth: dict[int, int]) -> tuple[float, float]:
    """Pairwise precision/recall over pairs that involve at least one planted letter."""
    predicted = set()
    for g in groups:
        for a, b in combinations(sorted(g), 2):
            if a in truth or b in truth:
                predicted.add((a, b))
    true_pairs = {(a, b) for a, b in combinations(sorted(truth), 2) if truth[a] == truth[b]}
    tp = len(predicted & true_pairs)
    return tp / max(1, len(predicted)), tp / max(1, len(true_pairs))


def bench_templates(seed: int = 0) -> dict:
    r = random.Random(seed)
    texts = read_background()
    r.shuffle(texts)
    # Inserted sentences come from letters that are not in the batch: a planted variant that
    # quotes a whole background letter would make that letter a true near-duplicate of it.
    background, donors = texts[: len(texts) * 3 // 4], texts[len(texts) * 3 // 4:]
    pool = sentences_of(donors)
    letters, truth = list(background), {}
    for t, tpl in enumerate(TEMPLATES):
        for _ in range(20):
            truth[len(letters)] = t
            letters.append(make_variant(tpl, r, pool))
    order = list(range(len(letters)))
    r.shuffle(order)
    letters = [letters[i] for i in order]
    where = {old: new for new, old in enumerate(order)}
    truth = {where[i]: t for i, t in truth.items()}
    t0 = time.perf_counter()
    clusters = template_clusters(letters)
    seconds = time.perf_counter() - t0
    precision, recall = pair_scores(clusters, truth)
    res = {"letters": len(letters), "planted": len(truth), "clusters": len(clusters),
           "planted_clusters": sum(1 for c in clusters if any(i in truth for i in c)),
           "precision": round(precision, 4), "recall": round(recall, 4), "seconds": round(seconds, 2)}
    print(json.dumps({"templates": res}, ensure_ascii=False), flush=True)
    return res


# ------------------------------------------------------------------ (c) speed
def make_letters(n: int, planted: int, r: random.Random, pool: list[str]) -> tuple[list[str], dict[int, int]]:
    letters = ["".join(r.choice(pool) for _ in range(r.randint(6, 10))) for _ in range(n - planted)]
    truth = {}
    for j in range(planted):
        truth[len(letters)] = j % len(TEMPLATES)
        letters.append(make_variant(TEMPLATES[j % len(TEMPLATES)], r, pool))
    return letters, truth


def three_grams(text: str) -> list[bytes]:
    s = fingerprint_text(text)
    return [s[i:i + NGRAM].encode("utf-8") for i in range(max(1, len(s) - NGRAM + 1))]


def bench_speed(n: int, planted: int = 1000, seed: int = 1) -> dict:
    import faiss
    from datasketch import MinHash, MinHashLSH

    faiss.omp_set_num_threads(1)  # datasketch is single-threaded; compare like with like
    r = random.Random(seed)
    pool = sentences_of(read_background())
    index_letters, index_truth = make_letters(n, planted, r, pool)
    query_letters, query_truth = make_letters(n, planted, r, pool)

    def recall(found: list[set[int]]) -> float:
        ok = sum(1 for q, t in query_truth.items() if any(index_truth.get(i) == t for i in found[q]))
        return ok / len(query_truth)

    t0 = time.perf_counter()
    index = SimHashIndex()
    index.add(list(range(n)), index_letters)
    hits = index.search(query_letters, k=10, max_hamming=22, min_overlap=0.5)
    ours_s = time.perf_counter() - t0
    ours = {"seconds": round(ours_s, 1), "letters_per_s": round(2 * n / ours_s, 1),
            "template_recall": round(recall([{h[0] for h in row} for row in hits]), 4),
            "hits_per_query": round(float(np.mean([len(h) for h in hits])), 3)}
    print(json.dumps({"ours (SimHash + FAISS binary)": ours}), flush=True)

    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=0.5, num_perm=128)

    def minhash(text: str) -> MinHash:
        m = MinHash(num_perm=128)
        m.update_batch(three_grams(text))
        return m

    with lsh.insertion_session() as session:
        for i, t in enumerate(index_letters):
            session.insert(i, minhash(t))
    found = [set(lsh.query(minhash(t))) for t in query_letters]
    base_s = time.perf_counter() - t0
    base = {"seconds": round(base_s, 1), "letters_per_s": round(2 * n / base_s, 1), "template_recall": round(recall(found), 4),
            "hits_per_query": round(float(np.mean([len(f) for f in found])), 3)}
    print(json.dumps({"datasketch MinHashLSH": base}), flush=True)
    res = {"n_index": n, "n_queries": n, "ours": ours, "datasketch": base,
           "speed_ratio": round(ours["letters_per_s"] / base["letters_per_s"], 2)}
    print(json.dumps({"speed_ratio (ours / datasketch)": res["speed_ratio"]}), flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["authors", "templates", "speed", "all"], default="all")
    ap.add_argument("--spaces", nargs="+", default=["text/char-ngram@1", "simhash", "text/minilm@1", "fusion"])
    ap.add_argument("--n", type=int, default=100_000, help="index letters and query letters for the speed part")
    args = ap.parse_args()
    if not GOV.is_file():
        sys.exit(f"data not found: {GOV}")
    results = {}
    if args.part in ("authors", "all"):
        results["authors"] = bench_authors(args.spaces)
    if args.part in ("templates", "all"):
        results["templates"] = bench_templates()
    if args.part in ("speed", "all"):
        results["speed"] = bench_speed(args.n)
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
