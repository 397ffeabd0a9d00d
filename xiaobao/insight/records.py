"""One interaction record: column names, validation, and the turns inside its text.

A record is a call transcript, chat, app message or collection-call log. Files may use the
English or the Chinese column names below. The text may carry one turn per line, each
optionally prefixed with its offset and speaker, e.g. ``[01:23] 坐席：请问您什么时候还款``;
findings then quote the turn with its time.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from xiaobao.tabular import RowError  # one error type for a bad row, whichever ingest (re-exported)

FIELDS = ("id", "customer_id", "time", "channel", "direction", "agent_id", "team", "product",
          "text", "duration", "outcome", "overdue_days")
REQUIRED = ("customer_id", "time", "channel", "text")

ALIASES = {
    "id": ("id", "interaction_id", "record_id", "编号", "记录编号", "流水号"),
    "customer_id": ("customer_id", "customer", "客户号", "客户编号", "客户id", "客户ID"),
    "time": ("time", "at", "timestamp", "start_time", "时间", "开始时间", "联系时间"),
    "channel": ("channel", "渠道", "联系渠道"),
    "direction": ("direction", "方向", "呼叫方向"),
    "agent_id": ("agent_id", "agent", "坐席", "坐席工号", "工号", "催收员"),
    "team": ("team", "班组", "团队", "组别"),
    "product": ("product", "产品", "业务线"),
    "text": ("text", "transcript", "content", "内容", "文本", "通话内容", "聊天内容"),
    "duration": ("duration", "duration_s", "时长", "通话时长"),
    "outcome": ("outcome", "result", "结果", "处理结果"),
    "overdue_days": ("overdue_days", "dpd", "逾期天数"),
}
_LOOKUP = {alias.lower(): name for name, aliases in ALIASES.items() for alias in aliases}

DIRECTIONS = {"inbound": "inbound", "in": "inbound", "呼入": "inbound", "来电": "inbound",
              "outbound": "outbound", "out": "outbound", "呼出": "outbound", "外呼": "outbound"}



def map_columns(headers) -> dict[str, str]:
    """Source header -> field name, for the headers we recognise (others are ignored)."""
    out = {}
    for h in headers:
        name = _LOOKUP.get(str(h).strip().lower().lstrip("\ufeff"))
        if name and name not in out.values():
            out[h] = name
    return out


def parse_time(value) -> str:
    """ISO 'YYYY-MM-DDTHH:MM:SS' from the common spellings, or RowError."""
    s = str(value).strip().replace("/", "-")
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise RowError(f"time {value!r} is not a date-time like 2026-03-01 09:30:00") from None
    return dt.replace(tzinfo=None, microsecond=0).isoformat()


def _number(value, name: str, integer: bool = False):
    if value is None or str(value).strip() == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise RowError(f"{name} {value!r} is not a number") from None
    if x != x or x < 0:
        raise RowError(f"{name} {value!r} must be zero or more")
    return int(x) if integer else x


def _text(value) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def normalise(raw: dict) -> dict:
    """A record with every field checked and normalised; RowError names what is wrong."""
    for name in REQUIRED:
        if _text(raw.get(name)) is None:
            raise RowError(f"missing {name}")
    direction = _text(raw.get("direction"))
    if direction is not None:
        d = DIRECTIONS.get(direction.lower())
        if d is None:
            raise RowError(f"direction {direction!r} is not inbound/outbound (呼入/呼出)")
        direction = d
    return {
        "source_id": _text(raw.get("id")),
        "customer_id": _text(raw["customer_id"]),
        "at": parse_time(raw["time"]),
        "channel": _text(raw["channel"]).lower(),
        "direction": direction,
        "agent_id": _text(raw.get("agent_id")),
        "team": _text(raw.get("team")),
        "product": _text(raw.get("product")),
        "text": str(raw["text"]).strip(),
        "duration": _number(raw.get("duration"), "duration"),
        "outcome": _text(raw.get("outcome")),
        "overdue_days": _number(raw.get("overdue_days"), "overdue_days", integer=True),
    }


HASHED = ("source_id", "customer_id", "at", "channel", "direction", "agent_id", "team", "product",
          "text", "duration", "outcome", "overdue_days")


def content_hash(rec: dict) -> str:
    """Hash of the normalised content: the same record ingested twice is stored once."""
    joined = "\x1f".join("" if rec[k] is None else str(rec[k]) for k in HASHED)
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=16).hexdigest()


# ---------------------------------------------------------------- turns
AGENT_SPEAKERS = {"坐席", "客服", "催收员", "催收", "agent", "a", "staff", "员工"}
CUSTOMER_SPEAKERS = {"客户", "customer", "c", "用户", "借款人"}
_TURN = re.compile(r"^\s*(?:\[(?:(\d+):)?(\d{1,2}):(\d{2})\]\s*)?(?:([^\s:：\]]{1,8})\s*[:：]\s*)?(.*)$")


@dataclass(frozen=True)
class Turn:
    offset_s: float | None
    speaker: str | None     # "agent" | "customer" | None (unknown)
    text: str


def parse_turns(text: str) -> list[Turn]:
    """The turns of a transcript; a plain text without markers is one turn of unknown speaker."""
    turns = []
    for line in text.split("\n"):
        m = _TURN.match(line)
        h, mm, ss, who, body = m.groups()
        speaker = None
        if who is not None:
            w = who.lower()
            if w in AGENT_SPEAKERS:
                speaker = "agent"
            elif w in CUSTOMER_SPEAKERS:
                speaker = "customer"
            else:  # a colon inside ordinary prose, not a speaker label
                body = line[m.start(4):].strip() if mm is None else f"{who}：{body}"
        offset = None if mm is None else int(h or 0) * 3600 + int(mm) * 60 + int(ss)
        body = body.strip()
        if body:
            turns.append(Turn(offset, speaker, body))
    return turns


def format_offset(offset_s: float | None) -> str:
    if offset_s is None:
        return ""
    s = int(offset_s)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"
