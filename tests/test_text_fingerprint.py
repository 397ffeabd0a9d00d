"""SimHash, the FAISS binary index, template clusters, the char n-gram space and letters in a workspace."""
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from xiaobao import Workspace
from xiaobao.text_fingerprint import (CharNgramEmbedder, SimHashIndex, hamming, overlap, shingles, simhash64,
                                      template_clusters)
from xiaobao.text_fingerprint.service import enroll_letters, search_letter

rng = random.Random(7)
HANZI = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


def prose(n, r=rng):
    """Random Chinese 'sentences': unrelated letters share almost no 3-grams."""
    return "，".join("".join(r.choice(HANZI) for _ in range(r.randint(6, 14))) for _ in range(n)) + "。"


TEMPLATE = ("您好，我是借款人{name}，于{date}在贵公司借款{amount}元，实际到账仅{got}元，存在砍头息和高额服务费。"
            "贵公司在放款时强制搭售会员服务，严重侵害了消费者的合法权益。本人现要求全额退还服务费和超出法定利率部分的利息，"
            "并停止对本人及家人的催收骚扰。如七日内不予处理，我将向银保监会、人民银行和12378热线投诉，并联系媒体曝光。"
            "联系电话{phone}。")
TEMPLATE_B = ("尊敬的领导：本人{name}在{date}通过手机应用办理了一笔{amount}元的分期，到手{got}元。对方以担保费、"
              "会员费的名义收取大量费用，综合年化利率远超国家规定。催收人员多次拨打我通讯录中的亲友电话，给我的工作和生活"
              "造成了极大困扰。我已委托专业团队协商还款，请求减免罚息、办理个性化分期。若得不到答复，将向金融监管总局反映。"
              "本人电话{phone}。")
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强"]


def variant(r=rng, tpl=TEMPLATE):
    text = tpl.format(name=r.choice(NAMES), date=f"2023年{r.randint(1, 12)}月{r.randint(1, 28)}日",
                      amount=r.randint(3, 50) * 1000, got=r.randint(2, 40) * 1000,
                      phone=f"1{r.choice('3589')}{r.randint(100000000, 999999999)}")
    sentences = [s for s in text.split("。") if s]
    r.shuffle(sentences)  # ring members reorder sentences
    if r.random() < 0.5:
        sentences.insert(r.randrange(len(sentences)), "恳请贵公司尽快核实处理")
    return "。".join(sentences) + "。"


def test_simhash_is_stable_across_processes():
    text = variant()
    code = subprocess.run([sys.executable, "-c", "import sys; from xiaobao.text_fingerprint import simhash64; "
                           "print(simhash64(sys.argv[1]))", text], capture_output=True, text=True, check=True)
    assert int(code.stdout) == simhash64(text)
    assert 0 <= simhash64(text) < 2**64


def test_variants_are_near_unrelated_letters_are_far():
    a, b = variant(), variant()
    far = [hamming(simhash64(a), simhash64(prose(8))) for _ in range(20)]
    assert hamming(simhash64(a), simhash64(b)) <= 16 < min(far)
    assert overlap(shingles(a), shingles(b)) > 0.7
    assert overlap(shingles(a), shingles(prose(8))) < 0.05
    assert overlap(shingles(a), shingles(a + prose(30))) == 1.0  # containment of the shorter letter


@pytest.mark.parametrize("approx_from", [10**6, 100])  # exact flat index, inverted file
def test_simhash_index_finds_variants_through_faiss(approx_from):
    import faiss

    letters = [prose(8) for _ in range(300)]
    templated = {i: variant() for i in (5, 77, 250)}
    for i, t in templated.items():
        letters[i] = t
    index = SimHashIndex(approx_from=approx_from)
    index.add([f"L{i}" for i in range(len(letters))], letters)
    hits = index.search([variant(), prose(8)], k=5, max_hamming=22, min_overlap=0.5)
    assert len(index) == 300 and index.index.ntotal == 300
    assert isinstance(index.index, faiss.IndexBinaryIVF) == (approx_from == 100)
    assert {h[0] for h in hits[0]} == {"L5", "L77", "L250"}
    assert all(h[1] <= 22 and h[2] >= 0.5 for h in hits[0])
    assert hits[1] == []
    strict = index.search([variant()], k=5, max_hamming=0)  # the radius is honoured
    assert all(h[1] == 0 for h in strict[0])


def test_template_clusters_recover_planted_groups():
    r = random.Random(3)
    templates = [TEMPLATE, TEMPLATE_B,
                 prose(12, r) + "联系电话{phone}{name}{date}{amount}{got}"]
    letters, truth = [], []
    for t, tpl in enumerate(templates):
        for _ in range(6):
            letters.append(variant(r, tpl))
            truth.append(t)
    for _ in range(40):
        letters.append(prose(r.randint(3, 10), r))
        truth.append(None)
    order = list(range(len(letters)))
    r.shuffle(order)
    letters, truth = [letters[i] for i in order], [truth[i] for i in order]
    clusters = template_clusters(letters)
    got = sorted(sorted(truth[i] for i in c) for c in clusters)
    assert got == [[0] * 6, [1] * 6, [2] * 6]
    assert [len(c) for c in clusters] == sorted((len(c) for c in clusters), reverse=True)
    assert template_clusters(["短", "", "短"]) == [[0, 2]] or template_clusters(["短", "", "短"]) == []


def test_char_ngram_space():
    emb = CharNgramEmbedder()
    texts = [variant(), variant(), prose(8), "Please stop calling my family about the loan."]
    v = emb.embed(texts)
    assert v.shape == (4, emb.dim) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > 0.6 > 0.2 > v[0] @ v[2]
    assert np.allclose(emb.embed(texts[:1]), v[:1])  # deterministic, no fitted state
    fitted = emb.fit(texts + [prose(5) for _ in range(20)])
    assert fitted.idf is not None and np.allclose(np.linalg.norm(fitted.embed(texts), axis=1), 1, atol=1e-5)
    assert np.linalg.norm(emb.embed([""])) == 0 or np.allclose(np.linalg.norm(emb.embed([""])), 1)


def test_letters_in_a_workspace(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ring = ws.add_subject("ring A", kind="agent")
    other = ws.add_subject("customer", kind="customer")
    rows = enroll_letters(ws, ring, [("a.txt", variant()), ("b.txt", "加微信 abc_12345 办理停息挂账" + prose(4))])
    assert [r["status"] for r in rows] == ["enrolled", "enrolled"]
    assert "wechat:abc_12345" in rows[1]["artifacts"]
    enroll_letters(ws, other, [("c.txt", prose(10))])
    dup = enroll_letters(ws, other, [("d.txt", rows and variant(random.Random(1)))])
    assert dup[0]["status"] == "enrolled"
    again = enroll_letters(ws, ring, [("a2.txt", open_text := prose(6)), ("a3.txt", open_text)])
    assert [r["status"] for r in again] == ["enrolled", "error"] and "already" in again[1]["reason"]

    hits = search_letter(ws, variant(), top=3)
    template = [h for h in hits if h["evidence"] == "template"]
    assert {h["subject_id"] for h in template} == {ring, other}
    assert all(h["decision"] == "match" and h["score"] >= 0.8 and len(h["detail"]["passage"]) >= 10 for h in template)

    art = [h for h in search_letter(ws, "我的微信是ABC_12345，" + prose(5)) if h["evidence"] == "artifact"]
    assert art == [dict(art[0], subject_id=ring, decision="match", detail={"shared": ["wechat:abc_12345"]})]
    assert all(h["subject_id"] != other for h in search_letter(ws, variant(), exclude_kinds=["customer"]))

    ws.remove_subject(ring)  # removed samples leave every kind of evidence
    assert all(h["subject_id"] != ring for h in search_letter(ws, "微信 abc_12345 " + variant()))
    ws.close()


def test_cli_end_to_end(tmp_path):
    env = {**os.environ, "XIAOBAO_HOME": str(tmp_path / "ws"), "COLUMNS": "200"}

    def run(*args, ok=True):
        p = subprocess.run([sys.executable, "-m", "xiaobao.cli", *args], capture_output=True, text=True, env=env)
        assert (p.returncode == 0) == ok, p.stderr
        return p

    letter = tmp_path / "l.txt"
    letter.write_text(variant(), encoding="gb18030")
    sid = run("subject", "add", "ring", "--kind", "agent").stdout.strip()
    run("text", "enroll", "--subject", sid, str(letter))
    found = json.loads(run("text", "search", "--text", variant(), "--json").stdout)
    assert {"template", "style"} <= {h["evidence"] for h in found}
    arts = json.loads(run("text", "artifacts", str(letter), "--json").stdout)
    assert any(a["kind"] == "phone" for a in arts)

    csv_path = tmp_path / "batch.csv"
    lines = ["id,detail"] + [f"v{i},{variant()}" for i in range(4)] + [f"x{i},{prose(6)}" for i in range(5)] + ["e1,"]
    csv_path.write_text("\n".join(lines), encoding="utf-8")
    p = run("text", "clusters", str(csv_path), "--text-column", "detail", "--id-column", "id", "--json")
    out = json.loads(p.stdout)
    assert out["clusters"][0]["letters"] == ["v0", "v1", "v2", "v3"] and out["skipped"] == 1
    assert "batch.csv:11:" in p.stderr and "empty 'detail'" in p.stderr

    authors = tmp_path / "authors.csv"
    rows = ["text,author"] + [f"{variant()},ring" for _ in range(3)] + [f"{prose(8)},p{i}" for i in range(6)]
    authors.write_text("\n".join(rows), encoding="utf-8")
    res = json.loads(run("eval", "text-authors", str(authors), "--text-column", "text", "--label-column", "author",
                         "--json").stdout)
    assert res["n_queries"] == 3 and res["top1"] == 1.0 and res["recall_at_5"] == 1.0

    bad = run("eval", "text-authors", str(authors), "--text-column", "body", "--label-column", "author", ok=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no column 'body'" in bad.stderr
    bad = run("text", "enroll", "--subject", sid, str(tmp_path / "missing.txt"), ok=False)
    assert bad.returncode == 2 and "missing.txt" in bad.stderr and "Traceback" not in bad.stderr
    assert bad.stderr.count("missing.txt") == 1  # the file is named once, then what is wrong
