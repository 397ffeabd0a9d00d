"""Contact and identity artifacts in a letter: exact spans, normalised and validated values.

Every artifact's ``value`` is a join key: two letters that mention the same phone number, WeChat
id, law firm or ring phrase produce the same value however it was typed (full-width digits,
spaces or dashes inside the number, traditional characters). Masked numbers keep their mask
(``138****1234``) so they only join with the same masked form. Matching runs on the folded
text (see :mod:`normalize`); ``raw``/``start``/``end`` point into the original string.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation

from xiaobao.text_fingerprint.lexicon import Lexicon, load_lexicon
from xiaobao.text_fingerprint.normalize import fold_with_offsets
from xiaobao.text_fingerprint.validate import id_birth_ok, id_checksum_ok, luhn_ok, mobile_ok, split_landline

KINDS = ("phone", "landline", "email", "wechat", "qq", "id_number", "bank_card", "url", "amount", "date",
         "org", "phrase")


@dataclass(frozen=True)
class Artifact:
    """One extracted artifact. ``category`` is set for lexicon phrases (e.g. ``regulator_threat``)."""

    kind: str
    value: str
    raw: str
    start: int
    end: int
    category: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------ patterns (on folded text)
_EMAIL = re.compile(r"(?<![a-z0-9._%+-])[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,10}(?![a-z0-9-])")
_URL = re.compile(r"(?<![a-z0-9@])(?:https?://|www\.)[a-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_WECHAT = re.compile(r"(?<![a-z])(?:微信号?|威信|薇信|v信|vx|wx|weixin|wechat|加v|\+v)(?:号|id|账号)?[ ]?(?:是|为|:|=)?[ ]?"
                     r"([a-z][a-z0-9_-]{5,19}|1[3-9][0-9]{9})(?![a-z0-9_-])")
_QQ = re.compile(r"(?<![a-z])(?:qq|扣扣|企鹅)(?:号码|号|群)?[ ]?(?:是|为|:|=)?[ ]?([1-9][0-9]{4,10})(?![0-9])")
_PAREN_LANDLINE = re.compile(r"\((0[0-9]{2,3})\)[ -]?([0-9*]{7,8})(?![0-9])")
# Runs of digit groups joined by single spaces or dashes; an ID may end in x.
_NUMBER_RUN = re.compile(r"(?<![a-z0-9_.@*])(?:\+?86[ -]?)?[0-9*]+x?(?:[ -][0-9*]+x?)*(?![a-z0-9_@])")
_AMOUNT = re.compile(r"(?:(?:¥|\$|rmb|人民币)[ ]?)?(?<![0-9.])([0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?)[ ]?"
                     r"(万元|万|千元|元|块钱|块|rmb|yuan)")
_AMOUNT_PREFIX = re.compile(r"(?:¥|rmb|人民币)[ ]?([0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?)(?![0-9])")
_DATE_YMD = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})[ ]?[-/.年][ ]?([0-9]{1,2})[ ]?[-/.月][ ]?([0-9]{1,2})(?:[ ]?[日号])?(?![0-9])")
_DATE_YM = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})年([0-9]{1,2})月(?![0-9])")
_DATE_MD = re.compile(r"(?<![0-9年./-])([0-9]{1,2})月([0-9]{1,2})[日号](?![0-9])")
# Characters that end an organisation name when walking left from its suffix.
_ORG_STOP = set("的了是在我你他她们请向给和与及或被把让由经找跟对从为到说称叫过系托这那该个要去将把并都也就还又再已")
#: Two-character words a name never runs across ("或者深圳某某公司" names 深圳某某公司).
_ORG_STOP_WORDS = ("或者", "而且", "所以", "如果", "然后", "之后", "以后", "只要", "不然")
_ORG_MAX = 18


def extract_artifacts(text: str, lexicon: Lexicon | None = None) -> list[Artifact]:
    """All artifacts of ``text`` in reading order (each occurrence, with its exact raw span)."""
    if not isinstance(text, str):
        raise TypeError(f"extract_artifacts expects str, got {type(text).__name__}")
    lexicon = lexicon or load_lexicon()
    folded, offsets = fold_with_offsets(text)
    found: list[tuple[str, str, int, int, str]] = []
    claimed = bytearray(len(folded))  # spans owned by e-mail/URL/number artifacts

    def free(s: int, e: int) -> bool:
        return not any(claimed[s:e])

    def claim(s: int, e: int) -> None:
        claimed[s:e] = b"\x01" * (e - s)

    for m in _EMAIL.finditer(folded):
        found.append(("email", m.group(0), m.start(), m.end(), ""))
        local, domain = m.group(0).split("@", 1)
        if domain == "qq.com" and local.isdigit() and 5 <= len(local) <= 11:
            found.append(("qq", local, m.start(), m.start() + len(local), ""))
        claim(m.start(), m.end())
    for m in _URL.finditer(folded):
        url = m.group(0).rstrip(".,;:!?)]'\"")
        if not free(m.start(), m.start() + len(url)) or len(url) < 8:
            continue
        value = re.sub(r"^(?:https?://)?(?:www\.)?", "", url).rstrip("/")
        found.append(("url", value, m.start(), m.start() + len(url), ""))
        claim(m.start(), m.start() + len(url))
    for m in _WECHAT.finditer(folded):
        if free(*m.span(1)):
            found.append(("wechat", m.group(1), m.start(1), m.end(1), ""))
    for m in _QQ.finditer(folded):
        if free(*m.span(1)):
            found.append(("qq", m.group(1), m.start(1), m.end(1), ""))
            claim(*m.span(1))  # a QQ number is not also a phone or card
    for m in _PAREN_LANDLINE.finditer(folded):
        if free(m.start(), m.end()) and split_landline(m.group(1) + m.group(2)):
            found.append(("landline", f"{m.group(1)}-{m.group(2)}", m.start(), m.end(), ""))
            claim(m.start(), m.end())
    for m in _NUMBER_RUN.finditer(folded):
        for kind, value, s, e in _numbers_in_run(m.group(0), m.start()):
            if free(s, e):
                found.append((kind, value, s, e, ""))
                claim(s, e)
    for kind, value, s, e in _amounts(folded) + _dates(folded):
        if free(s, e):
            found.append((kind, value, s, e, ""))
            claim(s, e)
    found.extend(_orgs(folded, lexicon))
    # a phrase inside a contact id or number (12345 in abc_12345) is not a phrase
    found.extend(p for p in _phrases(folded, lexicon) if free(p[2], p[3]) and not any(
        a[2] < p[3] and p[2] < a[3] for a in found if a[0] in ("wechat", "qq")))
    found.sort(key=lambda a: (a[2], -a[3], KINDS.index(a[0])))
    out = []
    for kind, value, s, e, cat in found:
        start, end = offsets[s], offsets[e - 1] + 1
        out.append(Artifact(kind, value, text[start:end], start, end, cat))
    return out


def artifact_keys(artifacts, kinds=None) -> set[tuple[str, str]]:
    """The distinct ``(kind, value)`` join keys of a letter's artifacts."""
    return {(a.kind, a.value) for a in artifacts if kinds is None or a.kind in kinds}


# ------------------------------------------------------------------ numbers
def _numbers_in_run(run: str, base: int) -> list[tuple[str, str, int, int]]:
    """Split a run of digit groups into validated numbers, longest valid joins first."""
    groups = [(m.group(0), m.start()) for m in re.finditer(r"\+?[0-9*]+x?", run)]
    out, i = [], 0
    while i < len(groups):
        for j in range(len(groups) - 1, i - 1, -1):
            parts = [g for g, _ in groups[i:j + 1]]
            hit = _classify(parts)
            if hit:
                s = base + groups[i][1]
                e = base + groups[j][1] + len(groups[j][0])
                out.append((hit[0], hit[1], s, e))
                i = j + 1
                break
        else:
            i += 1
    return out


def _classify(parts: list[str]) -> tuple[str, str] | None:
    """What a group sequence is, if anything: its kind and canonical value."""
    digits = "".join(parts).lstrip("+")
    lengths = [len(p.lstrip("+")) for p in parts]
    prefixed = False
    for cc in ("0086", "86"):
        if digits.startswith(cc) and len(digits) == len(cc) + 11 and digits[len(cc)] == "1":
            digits, prefixed = digits[len(cc):], True
            break
    if digits.count("x") > (1 if digits.endswith("x") else 0):
        return None
    masked = "*" in digits
    n = len(digits)
    # phone: 11 digits 1[3-9]...; joined groups must start with the 3-digit carrier prefix
    if n == 11 and (len(parts) == 1 or prefixed or lengths[0] >= 3):
        if not masked and mobile_ok(digits):
            return "phone", digits
        if masked and re.fullmatch(r"1[3-9][0-9][0-9]{0,4}\*{2,6}[0-9]{2,4}", digits):
            return "phone", digits
    if prefixed:
        return None
    # resident ID: 17 digits + check character
    if n == 18 and (digits[:17].replace("*", "").isdigit()):
        value = digits.upper()
        if not masked and id_checksum_ok(value):
            return "id_number", value
        if masked and re.fullmatch(r"[1-8][0-9]{2,5}\**[0-9]{0,8}\**[0-9]{0,3}[0-9X*]", value) \
                and _masked_birth_ok(value):
            return "id_number", value
    if "x" in digits:
        return None
    # bank card: 16-19 digits, Luhn; groups of four (last may be shorter) or 6 + rest
    if 16 <= n <= 19 and (len(parts) == 1 or all(L == 4 for L in lengths[:-1]) and lengths[-1] <= 4
                          or (len(parts) == 2 and lengths[0] == 6)):
        if not masked and luhn_ok(digits) and digits[0] in "3456789":
            return "bank_card", digits
        if masked and re.fullmatch(r"[3-9][0-9]{3,8}\*{4,11}[0-9]{3,4}", digits):
            return "bank_card", digits
    # landline: area code + local number, or 400/800 service numbers
    if not masked or digits.count("*") <= 4:
        if n == 10 and digits[:3] in ("400", "800") and "*" not in digits[:3]:
            return "landline", f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
        split = split_landline(digits)
        if split and "*" not in split[0] and (len(parts) == 1 or lengths[0] == len(split[0])):
            return "landline", f"{split[0]}-{split[1]}"
    return None


def _masked_birth_ok(value: str) -> bool:
    birth = value[6:14]
    return "*" in birth or id_birth_ok(birth)


# ------------------------------------------------------------------ amounts and dates
_UNIT = {"万元": 10000, "万": 10000, "千元": 1000}


def _amounts(folded: str) -> list[tuple[str, str, int, int]]:
    out = []
    for m in _AMOUNT.finditer(folded):
        value = _money(m.group(1), _UNIT.get(m.group(2), 1))
        if value:
            out.append(("amount", value, m.start(), m.end()))
    for m in _AMOUNT_PREFIX.finditer(folded):
        value = _money(m.group(1), 1)
        if value and not any(s <= m.start() < e for _, _, s, e in out):
            out.append(("amount", value, m.start(), m.end()))
    return out


def _money(number: str, scale: int) -> str | None:
    try:
        return f"{Decimal(number.replace(',', '')) * scale:.2f}"
    except InvalidOperation:
        return None


def _dates(folded: str) -> list[tuple[str, str, int, int]]:
    import datetime as dt

    out, taken = [], []
    for m in _DATE_YMD.finditer(folded):
        y, mo, d = (int(g) for g in m.groups())
        try:
            dt.date(y, mo, d)
        except ValueError:
            continue
        out.append(("date", f"{y:04d}-{mo:02d}-{d:02d}", m.start(), m.end()))
        taken.append(m.span())
    for m in _DATE_YM.finditer(folded):
        y, mo = int(m.group(1)), int(m.group(2))
        if 1 <= mo <= 12 and not any(s <= m.start() < e for s, e in taken):
            out.append(("date", f"{y:04d}-{mo:02d}", m.start(), m.end()))
            taken.append(m.span())
    for m in _DATE_MD.finditer(folded):
        mo, d = int(m.group(1)), int(m.group(2))
        if any(s <= m.start() < e for s, e in taken):
            continue
        try:
            dt.date(2000, mo, d)  # leap year: 2月29日 is a real date
        except ValueError:
            continue
        out.append(("date", f"--{mo:02d}-{d:02d}", m.start(), m.end()))
    return out


# ------------------------------------------------------------------ organisations and phrases
def _is_name_char(ch: str) -> bool:
    return ("\u4e00" <= ch <= "\u9fff" or ch.isalnum() or ch in "()") and ch not in _ORG_STOP


def _orgs(folded: str, lexicon: Lexicon) -> list[tuple[str, str, int, int, str]]:
    out = []
    for m in lexicon.org_pattern.finditer(folded):
        s = m.start()
        while s > 0 and m.start() - s < _ORG_MAX and _is_name_char(folded[s - 1]) \
                and folded[max(0, s - 2):s] not in _ORG_STOP_WORDS:
            s -= 1
        name = folded[s:m.start()].strip("()")
        if len(name) < 2:
            continue
        s = m.start() - len(name) - (1 if folded[s:m.start()].endswith(")") and not name.endswith(")") else 0)
        s = folded.index(name, max(0, s - 1), m.start())
        out.append(("org", folded[s:m.end()], s, m.end(), ""))
    return out


def _word_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _phrases(folded: str, lexicon: Lexicon) -> list[tuple[str, str, int, int, str]]:
    out = []
    for m in lexicon.pattern.finditer(folded):
        word = m.group(0)
        if _word_char(word[0]) and m.start() > 0 and _word_char(folded[m.start() - 1]):
            continue
        if _word_char(word[-1]) and m.end() < len(folded) and _word_char(folded[m.end()]):
            continue
        canonical, category = lexicon.phrases[word]
        out.append(("phrase", canonical, m.start(), m.end(), category))
    return out
