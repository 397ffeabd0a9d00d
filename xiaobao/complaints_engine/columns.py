"""The documented complaint schema: canonical fields, their header aliases, value vocabularies.

Headers are matched after folding case, spaces, underscores and punctuation, so
``Consumer complaint narrative``, ``consumer_complaint_narrative`` and ``投诉内容`` all land
on ``text``. Columns that map to nothing are kept per complaint in ``extra``.
"""
from __future__ import annotations

import re

#: canonical field -> accepted header names (English, Chinese, CFPB).
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "complaint id", "complaint_id", "complaint no", "case id", "ticket id",
           "投诉编号", "投诉单号", "工单号", "工单编号", "编号", "留言编号", "投诉id"),
    "received_at": ("received_at", "received", "received time", "date received", "received date",
                    "date", "created", "受理时间", "投诉时间", "接收时间", "收到时间", "留言时间",
                    "日期", "登记时间"),
    "channel": ("channel", "submitted via", "source channel", "渠道", "投诉渠道", "来源渠道",
                "投诉来源", "来源"),
    "customer_id": ("customer_id", "customer", "customer id", "customer no", "client id",
                    "客户号", "客户编号", "客户id", "投诉人编号", "客户", "留言用户", "用户id"),
    "business_line": ("business_line", "business line", "product", "source business",
                      "业务线", "产品", "业务来源", "来源业务", "产品线", "业务类型"),
    "institution": ("institution", "company", "target", "object", "respondent", "机构", "被投诉机构",
                    "投诉对象", "被投诉方", "所属机构"),
    "merchant": ("merchant", "partner", "商户", "合作方", "合作机构", "合作商户", "资金方"),
    "level": ("level", "priority", "severity", "级别", "投诉级别", "等级", "紧急程度"),
    "category": ("category", "issue", "complaint type", "类别", "投诉类别", "问题类型", "分类",
                 "投诉类型", "问题分类"),
    "text": ("text", "narrative", "consumer complaint narrative", "complaint", "complaint text",
             "content", "description", "detail", "details", "summary", "投诉内容", "投诉摘要", "内容", "留言详情",
             "投诉详情", "问题描述", "正文", "诉求内容"),
    "attachments": ("attachments", "attachment", "files", "附件", "附件路径"),
    "audio": ("audio", "recording", "voice", "录音", "音频"),
    "video": ("video", "视频"),
    "images": ("images", "image", "photos", "图片", "照片"),
    "representative": ("representative", "claimed representative", "agent name", "proxy",
                       "代理人", "委托代理人", "代理人姓名", "委托人", "代理机构"),
    "has_authorisation": ("has_authorisation", "has_authorization", "authorisation",
                          "authorization", "power of attorney", "授权委托书", "是否有授权委托书",
                          "是否提供授权委托书", "授权书"),
    "state": ("state", "province", "region", "省份", "地区", "所在地", "省市"),
}

ATTACHMENT_FIELDS = ("attachments", "audio", "video", "images")

_FOLD = re.compile(r"[\s_\-?？:：()（）/.]+")


def fold_header(name: str) -> str:
    return _FOLD.sub("", str(name or "").strip().lower())


_LOOKUP = {fold_header(alias): field for field, names in ALIASES.items() for alias in names}


def map_headers(headers: list[str]) -> dict[int, str]:
    """Column index -> canonical field; the first column wins when two map to one field."""
    out: dict[int, str] = {}
    seen: set[str] = set()
    for i, h in enumerate(headers):
        field = _LOOKUP.get(fold_header(h))
        if field and field not in seen:
            out[i] = field
            seen.add(field)
    return out


#: channel spellings -> the engine's channel names (unknown values are kept as given).
CHANNELS = {
    "监管转办": "监管转办", "监管": "监管转办", "银保监": "监管转办", "银保监会": "监管转办",
    "金融监管总局": "监管转办", "国家金融监督管理总局": "监管转办", "监管转送": "监管转办",
    "12378": "12378", "人民银行": "人民银行", "人行": "人民银行", "12363": "人民银行",
    "黑猫投诉": "黑猫投诉", "黑猫": "黑猫投诉",
    "hotline": "hotline", "phone": "hotline", "telephone": "hotline", "电话": "hotline",
    "客服热线": "hotline", "热线": "hotline",
    "app": "app", "mobile app": "app", "手机app": "app",
    "e-mail": "e-mail", "email": "e-mail", "邮件": "e-mail", "电子邮件": "e-mail",
    "letter": "letter", "postal mail": "letter", "mail": "letter", "信函": "letter", "来信": "letter",
    "web": "web", "website": "web", "网站": "web", "网页": "web", "在线": "web",
    "fax": "fax", "传真": "fax", "referral": "referral", "转介": "referral",
}

REGULATOR_CHANNELS = ("监管转办", "12378", "人民银行")


def normalise_channel(value: str | None) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    v = str(value).strip()
    return CHANNELS.get(v.lower(), CHANNELS.get(v, v))


_TRUE = {"1", "yes", "y", "true", "t", "是", "有", "已提供", "提供", "consent provided"}
_FALSE = {"0", "no", "n", "false", "f", "否", "无", "未提供", "没有"}


def parse_bool(value) -> int | None:
    """0/1/None from the usual spellings; raises ValueError on anything else."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    v = str(value).strip().lower()
    if v in _TRUE:
        return 1
    if v in _FALSE:
        return 0
    raise ValueError(f"authorisation flag {value!r} is not yes/no (是/否, 1/0)")
