"""Synthetic interaction records with planted agent misconduct and planted complaint trajectories.

What it makes (all from one seed, streamed to disk so a million records never sit in memory):

* ``interactions`` (CSV or JSONL, by the file's suffix): collection calls, inbound calls and app
  chats of customers in collection, as turn-by-turn transcripts ``[mm:ss] 坐席：...``.
* ``labels`` CSV (``customer_id, complained_at, channel``): every regulator complaint, including
  some filed before the records start (the customer's history).
* ``truth`` JSON: which agents misbehave, which records carry which planted violation, which
  customers are which kind, and the generator parameters.

How it is built, so that the benchmark floors mean something:

* Each customer is in collection for a span of 30–90 days (clipped to the period). Outbound
  contacts come as a Poisson process (~0.3/day), inbound calls and chats at ~0.06/day.
* **Complainers** (``complainer_share`` of customers) file a regulator complaint at the end of
  their span, after which collection pauses. Most (not all: ``silent_share`` have no visible
  trajectory) go through a pre-complaint trajectory over the last 7–30 days: the chance that a
  customer turn carries an escalation phrase (投诉 / 12378 / 银保监 / 律师 ...) ramps up to a
  per-customer peak drawn from 0.08–0.6, negative turns and refusals become likelier, they call
  in more and their overdue days keep rising. Peaks are drawn per customer, so some future
  complainers say almost nothing.
* **Angry non-complainers** (``angry_share``) use the same escalation phrases at a steady rate
  over their whole span and never complain; **near misses** (``near_miss_share``) follow a full
  trajectory that fizzles out (they repay or settle instead). No feature separates every
  complainer from every non-complainer.
* Customers treated badly (a misbehaving agent's threat, insult or third-party contact) become
  somewhat likelier to complain.
* **Misbehaving agents** (``bad_agent_share``) use prohibited language (threats, insults,
  contacting or shaming third parties, false legal threats): 60% in listed phrases, 30% in
  wording only close to the rules' example sentences (the similarity check), 10% in wording
  that shares almost nothing with either (no lexical check can find it; it keeps the measured
  recall honest). They also call at forbidden hours, call one
  customer many times a day and skip the mandatory disclosures. Good agents sometimes say
  things that look close but are allowed ("我们不会联系您的家人"), and slip on a disclosure
  now and then.
"""
from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

COMPANY = "安信消费金融"
PRODUCTS = ("现金贷", "消费分期", "信用卡代偿", "随借随还")

DISCLOSURE = ["您好，我是{co}的工作人员，工号{aid}，本次通话将被录音。",
              "您好，这里是{co}，我的工号是{aid}，通话全程录音。"]
PURPOSE = ["您在我司的{prod}账单已逾期{od}天，请问今天能处理一下吗？",
           "提醒您{prod}借款已经逾期{od}天了，请尽快安排还款。",
           "您的{prod}欠款逾期{od}天，想跟您确认一下还款时间。"]
CLOSING = ["好的，那我们这边先给您备注，请按时还款，祝您生活愉快。", "感谢您的配合，再见。",
           "如有困难可以申请协商还款，请留意短信通知。"]
# Allowed sentences that sit near prohibited wording: the inspection must not flag them.
LOOKALIKES = ["我们不会联系您的家人和同事，请您放心。", "如果您对服务不满意，可以拨打客服热线投诉。",
              "逾期可能会影响您的个人征信记录，这是按合同约定上报的。",
              "如长期不处理，我司保留依法通过诉讼解决的权利。"]
# Planted misconduct: category -> (phrasings in the phrase lists, phrasings only close to the
# examples, phrasings that share almost nothing with either: the inspection is not expected to
# catch the last kind, so its measured recall stays honest).
MISCONDUCT = {
    "threat": (["再不还钱你给我小心点", "不还钱就让你好看", "小心你的家人出门的安全"],
               ["你要是再拖着不还，出了什么事你自己负责，给我小心一点", "不还钱的话你家里人出门也得注意点安全"],
               ["你最好想清楚后果", "晚上走路的时候多留个心眼"]),
    "insult": (["你这个老赖", "你就是个骗子", "真是不要脸"],
               ["欠钱不还的人都是老赖，你也一样", "你这种人脸皮比城墙还厚"],
               ["像你这样的人活着有什么意思", "一把年纪了还赖账，丢人现眼"]),
    "third_party": (["我们会打电话给你的同事和家人", "把你欠钱的事发到你们公司群里", "让你的亲戚朋友都知道你欠钱不还"],
                    ["我已经联系了你的领导，他很快就会知道你欠钱的事", "我们会一个个打给你通讯录里的联系人"],
                    ["你妈的电话我们已经有了，待会儿就打过去", "你们单位人事的号码我这里有"]),
    "false_legal": (["明天就去法院起诉你，警察会上门抓你", "你这是诈骗罪，要坐牢的", "已经给你立案了，等着被拘留吧"],
                    ["你这属于恶意逃债，公安马上就会来抓人", "不还钱的话下周就把你列入刑事案件"],
                    ["检察院那边已经在走流程了", "这种情况法院会直接冻结你全家的账户"]),
}
CUSTOMER_NORMAL = ["好的，我这周五发工资就还。", "我知道了，今天下午就还。", "能不能宽限几天，我下周一定还。",
                   "我已经还了一部分了，剩下的月底还。", "好的，我会尽快处理的。", "现在在上班，晚点再说吧。",
                   "嗯，我记得的，这两天就还。"]
CUSTOMER_NEGATIVE = ["你们天天打电话真的很烦。", "利息这么高，根本还不起。", "我现在真的没钱，你们逼我也没用。",
                     "你们的服务态度太差了。", "为什么扣了我这么多手续费？", "我不想再接到你们的电话了。",
                     "我对你们很不满意，乱收费。"]
CUSTOMER_ESCALATION = ["再这样我就去银保监会投诉你们。", "我已经打了12378投诉了。", "我已经找了律师，你们等着吧。",
                       "我要向人民银行反映你们暴力催收。", "我会去监管部门投诉，你们这是违规的。",
                       "你们再打电话我就报警，然后去金融监管局投诉。", "我已经在黑猫投诉上发帖了。"]
CUSTOMER_DEMANDS = ["能不能给我减免一部分利息？", "你们多收的费用要退给我。", "请你们停止催收，不要再打电话了。",
                    "我想申请协商还款，分期慢慢还。", "我的征信被你们弄坏了，必须帮我修改征信记录。",
                    "能不能停息挂账？"]
OUTCOMES_GOOD = ("承诺还款", "已还款", "协商成功")
OUTCOMES_BAD = ("拒绝还款", "挂断", "协商失败")
OUTCOMES_NEUTRAL = ("无人接听", "转告", "跟进中")


@dataclass
class SynthParams:
    n_interactions: int = 20000
    start: str = "2026-01-01"
    days: int = 120
    seed: int = 7
    complainer_share: float = 0.35
    silent_share: float = 0.15
    angry_share: float = 0.12
    near_miss_share: float = 0.03
    bad_agent_share: float = 0.08
    customers_per_agent: int = 60
    prior_complaint_complainer: float = 0.3
    prior_complaint_other: float = 0.04


@dataclass
class SynthResult:
    interactions: str
    labels: str
    truth: str
    n_interactions: int
    n_customers: int
    n_agents: int
    n_complaints: int

    def to_dict(self) -> dict:
        return asdict(self)


def _ts(day0: date, day: int, seconds: int) -> str:
    return (datetime.combine(day0, datetime.min.time()) + timedelta(days=day, seconds=seconds)).isoformat()


def _mmss(s: int) -> str:
    return f"[{s // 60:02d}:{s % 60:02d}]"


class _Writer:
    FIELDS = ("id", "customer_id", "time", "channel", "direction", "agent_id", "team", "product",
              "text", "duration", "outcome", "overdue_days")

    def __init__(self, path: Path):
        self.path = path
        self.jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
        self.fh = open(path, "w", encoding="utf-8", newline="")
        if not self.jsonl:
            self.csv = csv.writer(self.fh)
            self.csv.writerow(self.FIELDS)

    def write(self, row: tuple) -> None:
        if self.jsonl:
            self.fh.write(json.dumps(dict(zip(self.FIELDS, row)), ensure_ascii=False) + "\n")
        else:
            self.csv.writerow(row)

    def close(self) -> None:
        self.fh.close()


def synth_interactions(out: str | Path, params: SynthParams | None = None, *, labels: str | Path | None = None,
                       truth: str | Path | None = None) -> SynthResult:
    """Write synthetic interactions (+ labels CSV + truth JSON next to them); see the module doc."""
    p = params or SynthParams()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    labels = Path(labels) if labels else Path(f"{stem}.labels.csv")
    truth = Path(truth) if truth else Path(f"{stem}.truth.json")
    rnd = random.Random(p.seed)
    day0 = date.fromisoformat(p.start)
    # ~0.36 contacts/day over a mean span of ~55 days in the period
    n_customers = max(10, int(p.n_interactions / 20))
    n_agents = max(6, n_customers // p.customers_per_agent)
    agents = [f"A{i:04d}" for i in range(n_agents)]
    teams = {a: f"T{i // 10:02d}" for i, a in enumerate(agents)}
    bad_agents = set(rnd.sample(agents, max(1, round(n_agents * p.bad_agent_share))))
    service_agents = [f"S{i:03d}" for i in range(max(3, n_agents // 5))]
    planted: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    writer = _Writer(out)
    label_rows = []
    written = 0
    serial = 0
    cust_no = 0

    while written < p.n_interactions:
        cid = f"C{cust_no:07d}"
        cust_no += 1
        prod = rnd.choice(PRODUCTS)
        agent = rnd.choice(agents)
        span = rnd.randint(30, 90)
        first = rnd.randint(-30, p.days - 10)
        last = first + span   # spans run past the period's edges; only days inside are written
        u = rnd.random()
        if u < p.complainer_share:
            kind = "silent" if rnd.random() < p.silent_share else "complainer"
        elif u < p.complainer_share + p.angry_share:
            kind = "angry"
        elif u < p.complainer_share + p.angry_share + p.near_miss_share:
            kind = "near_miss"
        else:
            kind = "ordinary"
        kinds[cid] = kind
        complains = kind in ("complainer", "silent")
        # a complaint at the end of the span; collection pauses afterwards
        t_c = last + rnd.randint(1, 5) if complains else None
        ramp_len = rnd.randint(25, 45)
        peak = rnd.uniform(0.15, 0.7)
        steady = rnd.uniform(0.1, 0.35) if kind == "angry" else 0.01
        od0 = rnd.randint(1, 60)
        abused = False
        prior = rnd.random() < (p.prior_complaint_complainer if complains else p.prior_complaint_other)
        if prior:
            label_rows.append((cid, _ts(day0, first - rnd.randint(20, 200), rnd.randint(32400, 61200)),
                               rnd.choice(("12378", "监管转办", "人民银行"))))
        for day in range(max(0, first), min(p.days - 1, last) + 1):
            if written >= p.n_interactions:
                break
            trajectory = kind in ("complainer", "near_miss") and day > last - ramp_len
            # escalation gathers pace towards the complaint (convex ramp)
            ramp = max(0.02, ((day - (last - ramp_len)) / ramp_len) ** 2.5) if trajectory else 0.0
            if kind == "near_miss" and day > last - 3:
                ramp = 0.1  # it fizzles: the customer settles
            p_esc = steady + (peak * ramp if trajectory else 0.0)
            p_neg = 0.12 + (0.3 if kind == "angry" else 0.0) + 0.4 * ramp
            rate_out = 0.3
            rate_in = 0.05 + 0.3 * ramp + (0.03 if kind == "angry" else 0.0)
            od = od0 + (day - max(0, first))
            n_out = _poisson(rnd, rate_out)
            n_in = _poisson(rnd, rate_in)
            bad_day = agent in bad_agents and rnd.random() < 0.04 and n_out > 0
            if bad_day:  # harassment: one customer called many times in a day
                n_out = rnd.randint(4, 6)
            todays = []
            for k in range(min(n_out + n_in, p.n_interactions - written)):
                serial += 1
                rid = f"R{serial:08d}"
                outbound = k < n_out
                row, tags = _one(rnd, rid, cid, day0, day, outbound, agent if outbound else rnd.choice(service_agents),
                                 teams.get(agent, "客服") if outbound else "客服", prod, od, p_esc, p_neg, ramp,
                                 agent in bad_agents, kind)
                todays.append((row, tags))
            # every outbound contact past the third of the day breaks the frequency rule
            outs = sorted((x for x in todays if x[0][4] == "outbound"), key=lambda x: (x[0][2], x[0][0]))
            for row, tags in outs[3:]:
                tags.append("contact_frequency")
            for row, tags in todays:
                if tags:
                    planted[row[0]] = tags
                    abused = abused or any(t in MISCONDUCT for t in tags)
                writer.write(row)
                written += 1
        if complains or (abused and kind != "ordinary" and rnd.random() < 0.25):
            if not complains:  # mistreatment tips a near-complainer over
                kinds[cid] = "tipped"
                t_c = last + rnd.randint(1, 5)
            label_rows.append((cid, _ts(day0, t_c, rnd.randint(32400, 61200)),
                               rnd.choice(("12378", "监管转办", "人民银行", "银保监"))))
    writer.close()
    with open(labels, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("customer_id", "complained_at", "channel"))
        w.writerows(sorted(label_rows, key=lambda r: r[1]))
    truth.write_text(json.dumps({
        "params": asdict(p), "bad_agents": sorted(bad_agents), "teams": teams,
        "planted": planted, "customer_kinds": kinds,
    }, ensure_ascii=False), encoding="utf-8")
    return SynthResult(str(out), str(labels), str(truth), written, cust_no, n_agents, len(label_rows))


def _poisson(rnd: random.Random, lam: float) -> int:
    # Knuth's method: rates here are below 1, so this takes one or two draws
    limit, k, prod = math.exp(-lam), 0, rnd.random()
    while prod > limit:
        k += 1
        prod *= rnd.random()
    return k


def _one(rnd, rid, cid, day0, day, outbound, agent, team, prod, od, p_esc, p_neg, ramp, bad, kind):
    tags: list[str] = []
    if outbound:
        if bad and rnd.random() < 0.05:
            secs = rnd.choice((rnd.randint(75600, 86000), rnd.randint(21600, 28000)))  # 21:00-24:00 or 6:00-7:45
            tags.append("forbidden_hours")
        else:
            secs = rnd.randint(32400, 72000)
        channel, direction = "call", "outbound"
    else:
        secs = rnd.randint(30600, 79200)
        channel, direction = rnd.choice((("call", "inbound"), ("chat", "inbound")))
    t = rnd.randint(0, 4)
    turns: list[tuple[str, str]] = []
    fmt = {"co": COMPANY, "aid": agent[1:], "prod": prod, "od": od}
    if outbound:
        if (bad and rnd.random() < 0.15) or rnd.random() < 0.005:
            tags.append("disclosure")
        else:
            turns.append(("坐席", rnd.choice(DISCLOSURE).format(**fmt)))
        turns.append(("坐席", rnd.choice(PURPOSE).format(**fmt)))
    else:
        turns.append(("坐席", "您好，请问有什么可以帮您？"))
    n_cust = rnd.randint(1, 3)
    outcome = rnd.choice(OUTCOMES_NEUTRAL)
    for i in range(n_cust):
        r = rnd.random()
        if r < p_esc:
            turns.append(("客户", rnd.choice(CUSTOMER_ESCALATION)))
        elif r < p_esc + p_neg:
            turns.append(("客户", rnd.choice(CUSTOMER_NEGATIVE)))
        elif rnd.random() < (0.3 + 0.3 * ramp if ramp > 0 else 0.12 if kind == "angry" else 0.06):
            # an unresolved dispute (fees, stop collection, credit record) opens the trajectory
            turns.append(("客户", rnd.choice(CUSTOMER_DEMANDS)))
        else:
            turns.append(("客户", rnd.choice(CUSTOMER_NORMAL)))
        if outbound and bad and rnd.random() < 0.12:
            cat = rnd.choice(tuple(MISCONDUCT))
            listed, paraphrased, novel = MISCONDUCT[cat]
            u = rnd.random()
            turns.append(("坐席", rnd.choice(listed if u < 0.6 else paraphrased if u < 0.9 else novel) + "！"))
            if cat not in tags:
                tags.append(cat)
        elif rnd.random() < 0.08:
            turns.append(("坐席", rnd.choice(LOOKALIKES)))
        elif i < n_cust - 1:
            turns.append(("坐席", "我理解您的情况，我们可以看看怎么帮您处理。"))
    turns.append(("坐席", rnd.choice(CLOSING)))
    r = rnd.random()
    if r < 0.35 + 0.4 * ramp:
        outcome = rnd.choice(OUTCOMES_BAD)
    elif r < 0.75 and (ramp == 0.0 or (kind == "near_miss" and rnd.random() < 0.3)):
        # near misses are being talked down: some contacts end in a settlement even mid-trajectory
        outcome = rnd.choice(OUTCOMES_GOOD)
    lines = []
    for speaker, text in turns:
        lines.append(f"{_mmss(t)} {speaker}：{text}")
        t += rnd.randint(4, 25)
    row = (rid, cid, _ts(day0, day, secs), channel, direction, agent, team, prod, "\n".join(lines),
           t + rnd.randint(2, 10), outcome, od)
    return row, tags
