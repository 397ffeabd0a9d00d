"""Voice of customer: lexicon labels, a labelled-examples classifier that beats the lexicon where the
wording is new, distributions per period/channel/product over interactions and complaints."""
import csv
import random

import pytest

from xiaobao import Workspace
from xiaobao.complaints_engine import store as complaints_store
from xiaobao.errors import InputError, UserError
from xiaobao.insight.ingest import ingest_interactions
from xiaobao.insight.lexicon import load_lexicon
from xiaobao.insight.voc import (analyse_texts, customer_text, distribution_rows, lexicon_labels, read_voc_labels,
                                 train_classifiers, voice_of_customer)


def test_lexicon_labels_read_the_customer_not_the_agent():
    lex = load_lexicon()
    assert lexicon_labels("能不能给我减免一部分利息？我下周一定还。", lex) == \
        {"demand": "减免", "willingness": "愿意", "reason": "费用利息"}
    assert lexicon_labels("今天天气不错", lex) == {"demand": "", "willingness": "", "reason": ""}
    text = "[00:01] 坐席：您可以申请减免\n[00:05] 客户：你们天天打电话，请停止催收"
    assert customer_text(text, "outbound") == "你们天天打电话，请停止催收"
    out = analyse_texts([(text, "outbound")], lex)[0]
    assert out["demand"] == "停止催收" and out["reason"] == "催收骚扰" and out["method"] == "lexicon"


# Demands in wordings the shipped lexicon does not list: the classifier must learn them from examples.
NEW_WORDINGS = {
    "减免": ["利息能不能少算点", "罚息给我抹掉吧", "本金我还，利息就算了吧", "能不能只还本金", "违约金太多能否去掉"],
    "退费": ["会员费把钱还我", "那笔服务费给我返回来", "多扣的钱什么时候打回来", "保险费我没同意要拿回来", "担保费请原路返回"],
    "停止催收": ["以后别给我打了", "不许再骚扰我家里人", "你们不准再联系我", "再打我就换号", "电话短信都不要再发了"],
    "": ["今天天气不错", "我在开车晚点说", "好的知道了", "我明天上班", "收到谢谢"],
}


def _labelled(tmp_path, n_per_label=24, seed=0):
    rnd = random.Random(seed)
    f = tmp_path / "voc_labels.csv"
    with open(f, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "诉求"])
        for label, phrases in NEW_WORDINGS.items():
            for i in range(n_per_label):
                w.writerow([rnd.choice(["", "喂，", "我说，", "客服你听好，"]) + rnd.choice(phrases)
                            + rnd.choice(["", "。", "！", "，谢谢"]), label])
    return f


def test_classifier_learns_what_the_lexicon_misses(tmp_path):
    examples = read_voc_labels(_labelled(tmp_path))
    assert set(examples) == {"demand"}
    clf = train_classifiers(examples)["demand"]
    assert clf.cv_accuracy >= 0.9 and clf.lexicon_accuracy <= 0.5
    out = analyse_texts([("会员费把钱还我行不行", "inbound"), ("以后别给我打了好吗", "inbound")], classifiers={"demand": clf})
    assert [o["demand"] for o in out] == ["退费", "停止催收"] and out[0]["method"] == "classifier"


def test_bad_label_files(tmp_path):
    f = tmp_path / "l.csv"
    f.write_text("text,foo\nx,y\n", encoding="utf-8")
    with pytest.raises(InputError, match="need a text column"):
        read_voc_labels(f)
    f.write_text("text,demand\n" + "x,减免\n" * 12, encoding="utf-8")
    with pytest.raises(UserError, match="2\\+ labels"):
        train_classifiers(read_voc_labels(f))


def test_distributions_over_interactions_and_complaints(tmp_path):
    ws = Workspace(tmp_path / "ws")
    try:
        f = tmp_path / "i.csv"
        with open(f, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["customer_id", "time", "channel", "direction", "product", "text"])
            w.writerow(["C1", "2026-03-01 10:00:00", "call", "outbound", "现金贷", "[00:01] 坐席：您好\n[00:04] 客户：能不能减免利息"])
            w.writerow(["C2", "2026-03-02 10:00:00", "chat", "inbound", "现金贷", "别再打电话了，烦死了"])
            w.writerow(["C3", "2026-04-02 10:00:00", "chat", "inbound", "消费分期", "多收的手续费退给我"])
        ingest_interactions(ws, f)
        complaints_store.ensure_tables(ws)
        with ws.transaction():
            ws.db.conn.execute("INSERT INTO complaints (id, received_at, channel, business_line, text) VALUES "
                               "('K1', '2026-03-05T09:00:00', '12378', '现金贷', '催收人员骚扰我的家人，要求停止催收')")
        result = voice_of_customer(ws, "2026-03-01", "2026-03-31")
        assert result["interactions"] == 2 and result["complaints"] == 1
        d = result["distributions"]["demand"]
        assert d["period"]["interaction:2026-03"] == {"减免": 1, "停止催收": 1}
        assert d["channel"]["complaint:12378"] == {"停止催收": 1}
        assert d["product"]["interaction:现金贷"] == {"减免": 1, "停止催收": 1}
        stored = dict(ws.db.conn.execute("SELECT interaction_id, demand FROM interaction_voc"))
        assert sorted(stored.values()) == ["停止催收", "减免"]
        rows = distribution_rows(result)
        assert {"field", "by", "source", "group", "label", "count", "share"} <= set(rows[0])
    finally:
        ws.close()


def test_classifier_keeps_to_what_its_examples_showed(tmp_path):
    """Examples of three demands and no "none" rows: the classifier must not invent a demand where the
    lexicon found none, nor overwrite a demand (协商还款) it was never shown; 无 in a cell means none."""
    rnd = random.Random(3)
    f = tmp_path / "partial.csv"
    with open(f, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "demand"])
        for label in ("减免", "退费", "停止催收"):
            for _ in range(15):
                w.writerow([rnd.choice(["", "喂，"]) + rnd.choice(NEW_WORDINGS[label]), label])
    clf = train_classifiers(read_voc_labels(f))["demand"]
    out = analyse_texts([("我在开车晚点说", "inbound"), ("能不能宽限几天让我慢慢还", "inbound"),
                         ("减免一下罚息给我抹掉吧", "inbound")], classifiers={"demand": clf})
    assert out[0]["demand"] == "" and out[0]["method"] == "lexicon"
    assert out[1]["demand"] == "协商还款" and out[1]["method"] == "lexicon"
    assert out[2]["demand"] == "减免"
    g = tmp_path / "with_none.csv"
    g.write_text("text,诉求\n" + "".join(f"{t},{lab}\n" for lab in ("减免", "无") for t in
                                        (NEW_WORDINGS[lab if lab != "无" else ""] * 3)), encoding="utf-8")
    texts, labels = read_voc_labels(g)["demand"]
    assert set(labels) == {"减免", ""} and len(texts) == 30
