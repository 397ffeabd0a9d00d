"""Synthetic Chinese complaint batches with planted proxy rings of known membership.

For the demo, tests and benchmarks. A *ring* is a paid proxy outfit: it writes one letter
template, fills in each borrower's details, and often leaves its own phone / WeChat / QQ /
mailbox or "law firm" name in the text. *Genuine* complaints are composed sentence by
sentence from topic pools (催收, 利息, 信息费, 征信, 电销 ...), so many share a topic
and its vocabulary without sharing a letter; they also mention the company hotline and
12378 (hub artifacts) as real customers do, and a few mention coaching phrases in passing.

The truth file (``OUT.truth.json``) lists each ring's complaint ids and customers.
"""
from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from xiaobao.errors import UserError

COMPANY = "小宝消费金融"
HOTLINE = "400-820-6688"  # the company's own hotline: every other genuine letter mentions it
APPS = ["小宝钱包", "宝易借", "小宝分期", "乐享花", "速借宝", "宝来贷"]
MERCHANTS = ["京选商城", "优品家电", "安居装修", "青桔教育", "畅行车服", "美颜医美", None, None]
BUSINESS = ["现金贷", "消费分期", "信用卡代偿", "车贷", "教育分期"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬斌鹏辉宇浩凯健俊帆帅旭宁琳欣怡佳雪倩婷晨阳亮波"
CITIES = ["深圳", "广州", "长沙", "郑州", "成都", "武汉", "杭州", "合肥", "南昌", "西安", "重庆", "济南"]
FIRM_WORDS = ["法务咨询有限公司", "债务协商服务中心", "律师事务所", "金融维权工作室", "信用修复服务部", "债务规划咨询公司"]
GENUINE_CHANNELS = ["hotline", "app", "监管转办", "12378", "黑猫投诉", "e-mail", "letter", "人民银行", "web"]
GENUINE_CHANNEL_W = [30, 20, 12, 10, 10, 6, 4, 4, 4]
RING_CHANNELS = ["监管转办", "12378", "人民银行", "黑猫投诉", "letter", "e-mail"]
RING_CHANNEL_W = [40, 25, 15, 10, 6, 4]
LEVELS = ["一般", "一般", "一般", "重要", "紧急"]

# ---- genuine complaints: one opener + 3-4 topic sentences + optional contact + closer
OPENERS = [
    "本人于{date}在{app}借款{amount}元，", "我在{app}上有一笔{amount}元的借款，", "{date}我通过{app}办理了分期，",
    "我是{app}的用户，", "去年在{app}借了{amount}元，分{months}期，", "我于{date}在{merchant}办理了{app}分期付款，",
    "本人一直按时还款，", "我的借款合同编号是{contract}，", "我在{app}借过两次钱，", "我用{app}买了东西，",
]
TOPICS = {
    "催收": [
        ["最近催收人员每天打十几个电话，", "逾期才三天就开始频繁催收，", "催收员说话非常难听，", "晚上十一点还在打电话催款，",
         "催收打电话到我单位，", "对方催收时威胁要上门，", "催收短信一天发好几条，", "催收人员冒充律师打电话，"],
        ["还打给我的通讯录联系人，让我在亲戚朋友面前很难堪。", "骚扰我的家人和同事，严重影响工作生活。",
         "言语中带有侮辱和威胁，我感到很害怕。", "我已经说明了还款计划，对方仍然不停骚扰。",
         "我母亲年纪大了被吓得睡不着觉。", "我的领导都接到了电话，我差点丢了工作。"],
        ["请贵公司规范催收行为，", "希望停止对我家人的骚扰，", "要求公司对催收员进行处理，", "请核实催收录音并给个说法，"],
    ],
    "利息": [
        ["我算了一下实际年化利率超过了36%，", "合同上写的利息和实际扣的对不上，", "每期还款里利息占了一大半，",
         "借款时说是低息，结果综合费用很高，", "提前还款还要收剩余全部利息，", "利率明显高于宣传的日息万五，"],
        ["这明显不合理，", "我认为收费不透明，", "我觉得自己被误导了，", "这样的定价让人无法接受，", "客服也解释不清楚，"],
        ["请重新核算利息并退还多收部分。", "要求按照合同约定的利率重新计算。", "希望减免部分利息。", "请给出每一期费用的明细。"],
    ],
    "信息费": [
        ["借款时被强制收取了会员费{fee}元，", "每期还款都多扣了一笔信息服务费，", "放款时被扣了{fee}元的担保费，",
         "不开通加速审核卡就不放款，花了{fee}元，", "我根本没有同意购买权益会员，却被扣了{fee}元，", "账单里有一项咨询服务费{fee}元，"],
        ["事先没有任何提示，", "页面上默认勾选，我没注意到，", "客服说这是自愿的但实际上不买就不批，", "我多次询问都没有结果，"],
        ["要求退还这笔费用。", "请取消会员并退款。", "希望公司把搭售的费用退给我。", "请说明这笔费用的依据。"],
    ],
    "征信": [
        ["我的征信报告上出现了逾期记录，", "征信上显示我有一笔不认识的贷款，", "结清后征信一直没有更新，",
         "因为系统扣款失败导致我征信逾期，", "房贷审批时发现征信有你们的不良记录，", "征信查询次数太多被银行拒贷，"],
        ["但我每个月都是按时还款的，", "当时是你们的系统问题，不是我的原因，", "我已经结清好几个月了，", "这严重影响了我的房贷审批，"],
        ["要求更正征信记录。", "请尽快向人民银行报送更正信息。", "希望出具结清证明并更新征信。", "请核实后消除不良记录。"],
    ],
    "电销": [
        ["每天都接到{app}的推销电话，", "我已经注销了账户还在给我发营销短信，", "电销人员一直劝我再借一笔，",
         "电话推销说可以提额，其实是诱导借款，", "我明确拒绝后还是反复打电话推销，", "不知道你们从哪里拿到我的号码，"],
        ["严重打扰我的正常生活，", "我觉得个人信息被泄露了，", "上班时间被打扰很多次，", "我已经投诉过一次没有改善，"],
        ["请把我的号码加入免打扰名单。", "要求停止营销电话。", "请说明我的个人信息来源。", "希望删除我的个人信息。"],
    ],
    "扣款": [
        ["还款日前就被自动扣款了，", "同一期被重复扣款两次，", "绑定的银行卡被扣了{fee}元不知道是什么钱，",
         "我已经手动还款了系统又扣了一次，", "扣款失败后又收了违约金，", "解绑银行卡后还在扣款，"],
        ["导致我其他账单逾期，", "联系客服说要等审核，", "至今没有退回，", "客服一直推脱，"],
        ["请尽快退回多扣的钱。", "要求解释扣款原因并退款。", "请取消违约金。", "请把重复扣的款退回原卡。"],
    ],
    "保险": [
        ["借款时被捆绑销售了一份保险，", "每期都扣了保费{fee}元，", "我从来没签过保险合同却在扣保费，",
         "放款前被告知必须买保险才能通过，", "保险费算进了借款本金里一起收利息，"],
        ["这是强制搭售，", "我完全不知情，", "没有给我看过保险条款，", "退保时又说不能退，"],
        ["请退还保费。", "要求取消保险并退还已交费用。", "请给出投保的授权记录。"],
    ],
}
# Personal circumstances: what makes a real letter this person's letter and nobody else's.
PERSONAL = [
    "我是{city}的一名{job}，", "我在{city}做{job}，收入不稳定，", "家里有{kids}个孩子要养，", "{month}月份我生病住院了{days}天，",
    "这笔钱当时是用来{purpose}的，", "我{age}岁了，平时不太会用手机，", "我老公{month}月份失业了，", "我已经还了{paid}期，还剩{left}期，",
    "上个月工资晚发了{days}天，", "那段时间我在{city}出差，", "我用的是尾号{tail}的银行卡，", "我前后打了{calls}次电话，",
    "我爸妈都在{city}老家，", "我刚换了工作在{city}上班，", "当时业务员姓{surname}，", "我的账单日是每月{day}号，",
]
JOBS = ["快递员", "教师", "护士", "外卖骑手", "个体户", "工厂工人", "销售", "会计", "司机", "厨师", "保安", "程序员", "宝妈", "农民", "导游"]
PURPOSES = ["交学费", "给孩子看病", "装修房子", "周转生意", "买手机", "交房租", "还信用卡", "买电动车", "办婚礼", "进货"]
CONTACTS = [
    "我的电话是{phone}，", "联系电话{phone}，", "本人手机{phone}，请回电。", "有问题可以打我电话{phone}。",
]
HUB_MENTIONS = [
    "我打过客服热线{hotline}，", "拨打{hotline}一直没人接，", "之前已经打过{hotline}反映，", "客服{hotline}说会处理但没有下文，",
    "我也打了12378反映，", "如果不处理我会打12378投诉，", "已经在12378登记过了，",
]
PASSING_PHRASES = [
    "之前有人打电话说可以帮我停息挂账，我没有理会。", "网上有人说能做债务优化，我不相信这些。",
    "有中介加我微信说能全额退息，被我拒绝了。",
]
CLOSERS = ["谢谢。", "希望尽快处理。", "请给我一个合理的答复。", "盼复。", "", "麻烦尽快联系我。", "望重视。"]

# ---- ring letters: each ring picks one variant per slot once; members fill in their details
RING_SLOTS = [
    ["本人{name}，身份证号{idno}，于{date}在贵司{app}平台借款{amount}元。", "投诉人{name}，{date}通过{app}借款{amount}元，合同编号{contract}。",
     "我叫{name}，在{app}有借款{amount}元，现因疫情收入锐减无力偿还。", "本人{name}（证件号{idno}），{date}在{app}申请贷款{amount}元。"],
    ["经本人核算，贵司实际年化利率远超国家规定的24%上限，属于违规放贷。", "贵司在放款时违规收取砍头息、服务费，综合年化成本超过36%，违反监管规定。",
     "贵司未明示年化利率，存在捆绑销售会员和保险的行为，严重侵害金融消费者知情权。", "贵司暴力催收，频繁骚扰本人及家人，已严重影响本人正常生活和工作。"],
    ["根据《消费者权益保护法》和《商业银行信用卡业务监督管理办法》第七十条，", "依据《关于规范民间借贷的意见》及监管部门相关规定，",
     "根据银保监会关于互联网贷款的相关规定，", "依照《个人信息保护法》及金融消费者权益保护实施办法，"],
    ["本人现要求：一、停息挂账，本金分{months}期偿还；二、退还已收取的全部违规利息及费用；三、消除征信不良记录。",
     "现正式提出：协商停息挂账、减免罚息和违约金，并申请个性化分期还款{months}期。",
     "要求贵司立即停止催收，全额退还砍头息及服务费，并为本人办理债务优化方案。",
     "请求贵司退还全部利息，仅归还本金，并承诺不上报征信。"],
    ["如贵司在三个工作日内不予解决，本人将向银保监会、人民银行及12378进一步投诉，并保留诉讼权利。",
     "若不能妥善处理，本人将持续向监管部门反映，直至问题解决。", "望贵司依法依规处理，否则本人将委托律师向法院提起诉讼。",
     "如不处理，将向央行征信中心、地方金融监督管理局逐级投诉。"],
]
# Each outfit's letter also carries its own turns of phrase, built once per ring from these.
RING_FLOURISH = [
    ["鉴于", "考虑到", "由于", "因为", "结合", "针对", "基于", "对于"],
    ["本人目前家庭困难、", "贵司长期违规经营、", "本人多次协商无果、", "贵司客服推诿拖延、", "本人已失业半年、",
     "贵司合同条款显失公平、", "本人身患疾病、", "贵司侵犯本人隐私、"],
    ["特向贵司提出正式书面投诉。", "特此郑重声明本人的合法诉求。", "本人不得不寻求监管介入。", "现委托专业人士代为维权。",
     "请贵司高度重视并妥善处理。", "本人保留追究法律责任的权利。", "敬请贵司依法给予答复。", "特提交本投诉函。"],
]
RING_CONTACT = [
    "本人已全权委托{firm}处理此事，联系电话{phone}。", "后续事宜请联系我的代理人{rep}，电话{phone}。",
    "具体可添加微信{wechat}沟通。", "如需沟通请联系{rep}（微信：{wechat}）。", "联系邮箱：{email}。", "代理人QQ：{qq}。",
    "请与{firm}对接，电话{phone}，微信{wechat}。",
]


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _phone(rng: random.Random) -> str:
    return rng.choice(["13", "15", "17", "18", "19"]) + str(rng.randint(0, 9)) + f"{rng.randint(0, 99999999):08d}"


def _idno(rng: random.Random) -> str:
    return (f"{rng.randint(110000, 659999)}{rng.randint(1965, 2002)}{rng.randint(1, 12):02d}"
            f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}{rng.choice('0123456789X')}")


def _fill(rng: random.Random, when: datetime) -> dict:
    return {
        "app": rng.choice(APPS), "amount": rng.choice([3000, 5000, 8000, 10000, 12000, 15000, 20000, 30000, 50000]),
        "months": rng.choice([6, 12, 18, 24, 36]), "date": f"{when.year - rng.choice((0, 1))}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
        "contract": f"XB{rng.randint(10**9, 10**10 - 1)}", "fee": rng.choice([99, 199, 299, 399, 599, 880, 1200]),
        "merchant": rng.choice([m for m in MERCHANTS if m]), "hotline": HOTLINE, "name": _name(rng), "idno": _idno(rng),
        "city": rng.choice(CITIES), "job": rng.choice(JOBS), "kids": rng.choice("一二三"), "month": rng.randint(1, 12),
        "days": rng.randint(2, 40), "purpose": rng.choice(PURPOSES), "age": rng.randint(45, 70), "paid": rng.randint(1, 11),
        "left": rng.randint(1, 24), "tail": f"{rng.randint(0, 9999):04d}", "calls": rng.randint(3, 30),
        "surname": rng.choice(SURNAMES), "day": rng.randint(1, 28),
    }


def _genuine_text(rng: random.Random, slots: dict, topic: str, phone: str) -> str:
    parts = [rng.choice(OPENERS)]
    for pool in TOPICS[topic]:
        parts.append(rng.choice(pool))
    for sentence in rng.sample(PERSONAL, k=rng.choice((1, 2, 2, 3))):
        parts.insert(rng.randint(1, len(parts) - 1), sentence)
    if rng.random() < 0.35:  # a second topic, as real letters wander
        other = TOPICS[rng.choice([t for t in TOPICS if t != topic])]
        parts.insert(rng.randint(1, len(parts)), rng.choice(other[0]) + rng.choice(other[1]))
    if rng.random() < 0.5:
        parts.insert(rng.randint(1, len(parts)), rng.choice(HUB_MENTIONS))
    if rng.random() < 0.3:
        parts.append(rng.choice(CONTACTS).replace("{phone}", phone))
    if rng.random() < 0.04:
        parts.append(rng.choice(PASSING_PHRASES))
    parts.append(rng.choice(CLOSERS))
    return "".join(parts).format(**slots)


FIRM_MIDDLES = ["正信", "和顺", "鼎诚", "安信", "汇通", "明德", "博远", "恒泰", "众诚", "天平", "华信", "瑞丰", "金盾",
                "德衡", "中和", "启航", "嘉禾", "盛世", "同心", "力行"]


class _Ring:
    def __init__(self, rng: random.Random, index: int, taken: dict):
        self.code = f"R{index:03d}"
        # Distinct outfits: their own name, their own agent, a letter differing in >= 2 core clauses.
        self.firm = self.rep = None
        while self.firm is None or self.firm in taken["firms"]:
            self.firm = rng.choice(CITIES) + rng.choice(FIRM_MIDDLES) + rng.choice(FIRM_WORDS)
        while self.rep is None or self.rep in taken["reps"]:
            self.rep = _name(rng)
        taken["firms"].add(self.firm)
        taken["reps"].add(self.rep)
        self.phones = [_phone(rng) for _ in range(rng.choice((1, 1, 2)))]
        self.wechat = rng.choice(["fawu", "weiquan", "zhaiwu", "xinyong", "tingxi", "lvshi"]) + f"_{rng.randint(100, 99999)}"
        self.qq = str(rng.randint(10**8, 4 * 10**9))
        self.email = f"{rng.choice(['help', 'service', 'fw', 'law'])}{rng.randint(10, 9999)}@{rng.choice(['163.com', 'qq.com', '126.com'])}"
        for _attempt in range(200):
            picks = tuple(rng.randrange(len(pool)) for pool in RING_SLOTS)
            if all(sum(a != b for a, b in zip(picks, other)) >= 2 for other in taken["letters"]):
                break
        taken["letters"].append(picks)
        self.letter = [pool[i] for pool, i in zip(RING_SLOTS, picks)]
        for _ in range(3):
            self.letter.insert(rng.randint(1, len(self.letter) - 1), "".join(rng.choice(p) for p in RING_FLOURISH))
        self.contacts = rng.sample(RING_CONTACT, k=3)
        self.authorised = rng.random() < 0.3

    def text(self, rng: random.Random, slots: dict) -> str:
        parts = list(self.letter)
        r = rng.random()
        if r < 0.10:  # a member edits the letter: drop a clause or swap in another ring-ish sentence
            parts.pop(rng.randint(1, len(parts) - 2))
        elif r < 0.18:
            k = rng.randint(1, len(RING_SLOTS) - 1)
            parts[parts.index(self.letter[k]) if self.letter[k] in parts else k] = rng.choice(RING_SLOTS[k])
        if rng.random() < 0.7:
            parts.append(rng.choice(self.contacts))
        vals = dict(slots, firm=self.firm, rep=self.rep, phone=rng.choice(self.phones), wechat=self.wechat,
                    qq=self.qq, email=self.email)
        return "".join(parts).format(**vals)


def generate(n: int = 1000, rings: int = 10, seed: int = 0, ring_share: float = 0.15) -> tuple[list[dict], dict]:
    """``n`` complaint records (``rings`` planted rings, about ``ring_share`` of the batch) and the truth."""
    if n < 1:
        raise UserError("--n must be at least 1")
    if rings < 0:
        raise UserError("--rings must not be negative")
    if not 0.0 <= ring_share <= 1.0:
        raise UserError("--ring-share must be between 0 and 1")
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, 8, 0, 0)
    n_ring = min(n, int(round(n * ring_share))) if rings else 0
    if rings and n_ring < 4 * rings:
        n_ring = min(n, 4 * rings)  # every ring needs a few members to be a ring at all
    # Ring sizes: uneven, like real outfits (a few big ones, several small ones), at least 4.
    weights = [rng.paretovariate(1.5) for _ in range(rings)]
    sizes = [4] * rings
    for _ in range(max(0, n_ring - 4 * rings)):
        sizes[rng.choices(range(rings), weights=weights)[0]] += 1
    records, truth = [], {"seed": seed, "n": n, "rings": [], "company_hotline": HOTLINE}
    serial = 0

    def next_id() -> str:
        nonlocal serial
        serial += 1
        return f"SC{seed:03d}-{serial:07d}"

    def when() -> datetime:
        return start + timedelta(minutes=rng.randint(0, 60 * 24 * 60))

    taken: dict = {"firms": set(), "reps": set(), "letters": []}
    for i, size in enumerate(sizes, start=1):
        ring = _Ring(rng, i, taken)
        members, customers = [], []
        while len(members) < size:
            cust = f"CU{rng.randint(10**7, 10**8 - 1)}"
            for _ in range(2 if (rng.random() < 0.1 and size - len(members) >= 2) else 1):
                t = when()
                slots = _fill(rng, t)
                rec = {
                    "id": next_id(), "received_at": t.isoformat(), "channel": rng.choices(RING_CHANNELS, RING_CHANNEL_W)[0],
                    "customer_id": cust, "business_line": rng.choice(BUSINESS), "institution": COMPANY,
                    "merchant": rng.choice(MERCHANTS), "level": rng.choice(LEVELS), "category": "",
                    "text": ring.text(rng, slots),
                    "representative": ring.rep if rng.random() < 0.5 else "",
                    "has_authorisation": (1 if ring.authorised else 0) if rng.random() < 0.8 else "",
                    "attachments": "",
                }
                records.append(rec)
                members.append(rec["id"])
            customers.append(cust)
        truth["rings"].append({"ring": ring.code, "firm": ring.firm, "phones": ring.phones, "wechat": ring.wechat,
                               "complaints": members, "customers": customers})
    genuine_ids = []
    topics = list(TOPICS)
    while len(records) < n:
        cust = f"CU{rng.randint(10**7, 10**8 - 1)}"
        phone = _phone(rng)
        topic = rng.choice(topics)
        for _ in range(2 if rng.random() < 0.06 else 1):  # a few customers complain twice
            if len(records) >= n:
                break
            t = when()
            slots = _fill(rng, t)
            rec = {
                "id": next_id(), "received_at": t.isoformat(), "channel": rng.choices(GENUINE_CHANNELS, GENUINE_CHANNEL_W)[0],
                "customer_id": cust, "business_line": rng.choice(BUSINESS), "institution": COMPANY,
                "merchant": rng.choice(MERCHANTS), "level": rng.choice(LEVELS), "category": "",
                "text": _genuine_text(rng, slots, topic, phone), "representative": "", "has_authorisation": "",
                "attachments": "",
            }
            records.append(rec)
            genuine_ids.append(rec["id"])
    rng.shuffle(records)  # a day's batch arrives interleaved
    truth["genuine"] = genuine_ids
    return records, truth


#: Chinese headers for CSV/XLSX output, so a synthetic file also exercises the header mapping.
ZH_HEADERS = {"id": "投诉编号", "received_at": "受理时间", "channel": "投诉渠道", "customer_id": "客户号",
              "business_line": "业务线", "institution": "被投诉机构", "merchant": "合作方", "level": "投诉级别",
              "category": "投诉类别", "text": "投诉内容", "representative": "代理人",
              "has_authorisation": "是否提供授权委托书", "attachments": "附件"}


def write_records(records: list[dict], out: Path) -> None:
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    cols = list(ZH_HEADERS)
    if suffix in (".jsonl", ".ndjson"):
        with open(out, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    elif suffix == ".csv":
        with open(out, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([ZH_HEADERS[c] for c in cols])
            for r in records:
                w.writerow([r.get(c, "") for c in cols])
    elif suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("complaints")
        ws.append([ZH_HEADERS[c] for c in cols])
        for r in records:
            ws.append([r.get(c, "") for c in cols])
        wb.save(out)
    else:
        raise UserError(f"{out}: output must end in .jsonl, .csv or .xlsx")


VOICE_LINES = ["您好，我是代理人，关于这笔借款我们要求停息挂账。", "你好，我打电话是想投诉你们的催收问题。",
               "我的诉求很简单，退还全部利息。", "请你们尽快处理，否则我们会向监管部门投诉。"]


def _speak(text: str, path: Path, voice: str, pitch: int, speed: int) -> None:
    import shutil
    import subprocess

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise UserError("--voices needs the espeak-ng speech synthesiser (apt-get install espeak-ng)")
    subprocess.run([exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), text],
                   check=True, capture_output=True)


def add_voice_clips(records: list[dict], truth: dict, folder: Path, seed: int, ring_rate: float = 0.5,
                    genuine_rate: float = 0.05) -> int:
    """Give some complaints a call recording: a ring's members are voiced by the ring's agent
    (one synthetic voice per ring), genuine callers each by their own. Returns clips written."""
    rng = random.Random(seed + 7919)
    folder.mkdir(parents=True, exist_ok=True)
    ring_of = {c: i for i, r in enumerate(truth["rings"]) for c in r["complaints"]}
    variants = [f"cmn+{v}" for v in ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")]
    agent_voice = {i: (rng.choice(variants), rng.randint(20, 80), rng.randint(130, 190))
                   for i in range(len(truth["rings"]))}
    written = 0
    for rec in records:
        ring = ring_of.get(rec["id"])
        if rng.random() >= (ring_rate if ring is not None else genuine_rate):
            continue
        voice = agent_voice[ring] if ring is not None else (rng.choice(variants), rng.randint(20, 80),
                                                             rng.randint(130, 190))
        path = folder / f"{rec['id']}.wav"
        _speak(rng.choice(VOICE_LINES), path, *voice)
        rec["attachments"] = f"{folder.name}/{path.name}"
        truth.setdefault("voice_clips", {})[rec["id"]] = {"ring": truth["rings"][ring]["ring"] if ring is not None
                                                          else None, "voice": list(voice)}
        written += 1
    return written


def synth_complaints(out: str | Path, n: int = 1000, rings: int = 10, seed: int = 0,
                     ring_share: float = 0.15, voices: bool = False) -> dict:
    """Write a synthetic batch to ``out`` (.jsonl/.csv/.xlsx) and its truth to ``out.truth.json``.

    ``voices``: also write call recordings (WAV, spoken by espeak-ng) for about half of the ring
    complaints (the ring's agent speaking) and 5% of genuine ones, as attachments beside ``out``.
    """
    out = Path(out)
    records, truth = generate(n, rings, seed, ring_share)
    clips = add_voice_clips(records, truth, out.with_name(out.stem + "_audio"), seed) if voices else 0
    write_records(records, out)
    truth_path = out.with_name(out.name + ".truth.json")
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return {"out": str(out), "truth": str(truth_path), "complaints": len(records),
            "rings": len(truth["rings"]), "ring_complaints": sum(len(r["complaints"]) for r in truth["rings"]),
            "genuine": len(truth["genuine"]), "voice_clips": clips}
