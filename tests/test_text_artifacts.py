"""Normalisation and artifact extraction on tricky inputs: masks, full-width digits, checksums, splits."""
import pytest

from xiaobao.errors import InputError
from xiaobao.text_fingerprint import extract_artifacts, load_lexicon, normalize
from xiaobao.text_fingerprint.validate import id_checksum_ok, luhn_ok


def _id_with_check(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError


VALID_ID = _id_with_check("11010519491231002")      # the GB 11643 example, check character X
VALID_CARD = _luhn_complete("622202123456789012")    # 19 digits
BAD_CARD = VALID_CARD[:-1] + str((int(VALID_CARD[-1]) + 1) % 10)


def kinds(text, kind):
    return [a.value for a in extract_artifacts(text) if a.kind == kind]


def test_normalize_folds_width_script_punctuation_and_masks():
    assert normalize("電話：１３８××××１２３４，ＡＢＣ　 律師事務所…") == "电话:138****1234,abc 律师事务所..."
    assert normalize("  多个   空格\n\t换行 ") == "多个 空格 换行"
    assert normalize("「協商還款」。") == '"协商还款".'


def test_checksums():
    assert VALID_ID.endswith("X") and id_checksum_ok(VALID_ID) and id_checksum_ok(VALID_ID.lower())
    assert not id_checksum_ok(VALID_ID[:-1] + "5")
    assert not id_checksum_ok(_id_with_check("11010519491331002"))  # month 13: no such birth date
    assert luhn_ok(VALID_CARD) and not luhn_ok(BAD_CARD)


@pytest.mark.parametrize("text, value", [
    ("电话13812345678", "13812345678"),
    ("电话：１３８１２３４５６７８。", "13812345678"),          # full-width digits
    ("手机 138 1234 5678 联系", "13812345678"),                # split by spaces
    ("手机138-1234-5678", "13812345678"),                      # split by dashes
    ("+86 139-1234-5678", "13912345678"),                     # country code
    ("尾号138****1234的客户", "138****1234"),                  # masked, mask kept
    ("尾号138××××1234的客户", "138****1234"),                  # other mask characters
])
def test_phones(text, value):
    assert kinds(text, "phone") == [value]


def test_not_phones():
    assert kinds("编号12812345678", "phone") == []             # 12x is no mobile prefix
    assert kinds("订单号1381234567890123", "phone") == []      # part of a longer number
    assert kinds("邮箱13812345678@163.com", "phone") == []     # inside an e-mail address


def test_id_numbers_validated_by_checksum():
    assert kinds(f"身份证号{VALID_ID}", "id_number") == [VALID_ID]
    assert kinds(f"身份证号{VALID_ID.lower()}", "id_number") == [VALID_ID]  # lower-case x
    spaced = f"{VALID_ID[:6]} {VALID_ID[6:14]} {VALID_ID[14:]}"
    assert kinds(f"身份证 {spaced} 。", "id_number") == [VALID_ID]
    wrong = VALID_ID[:-1] + "3"
    assert kinds(f"身份证号{wrong}", "id_number") == []
    assert kinds("身份证110101********1234", "id_number") == ["110101********1234"]


def test_bank_cards_validated_by_luhn():
    four = " ".join(VALID_CARD[i:i + 4] for i in range(0, len(VALID_CARD), 4))
    assert kinds(f"卡号{four}", "bank_card") == [VALID_CARD]
    assert kinds(f"卡号{BAD_CARD}", "bank_card") == []
    assert kinds("卡号6222 **** **** 1234", "bank_card") == ["6222********1234"]


def test_landlines_contacts_and_urls():
    assert kinds("座机(010)62345678，0755-82345678，客服400-123-4567", "landline") == [
        "010-62345678", "0755-82345678", "400-123-4567"]
    arts = extract_artifacts("加微信：Abc_12345 或 QQ：12345678，邮箱 Foo.Bar@QQ.com，网址 HTTPS://www.Example.com/a?b=1。")
    got = {(a.kind, a.value) for a in arts}
    assert {("wechat", "abc_12345"), ("qq", "12345678"), ("email", "foo.bar@qq.com"),
            ("url", "example.com/a?b=1")} <= got
    assert ("phrase", "信访") not in got  # 12345 inside the WeChat id is no hotline


def test_amounts_and_dates():
    text = "借款5,000元，到账3.5万，利息¥1200；2023年5月6日签约，2024-02-30无效，3月15日还款"
    assert kinds(text, "amount") == ["5000.00", "35000.00", "1200.00"]
    assert kinds(text, "date") == ["2023-05-06", "--03-15"]


def test_orgs_and_phrases_with_traditional_script():
    arts = extract_artifacts("我委托北京某某律師事務所和深圳市前海债无忧科技有限公司辦理停息掛帳，否則向銀保監會和12378投訴")
    assert [a.value for a in arts if a.kind == "org"] == ["北京某某律师事务所", "深圳市前海债无忧科技有限公司"]
    phrases = [(a.value, a.category) for a in arts if a.kind == "phrase"]
    assert ("停息挂账", "debt_relief") in phrases and ("银保监", "regulator_threat") in phrases
    assert ("12378", "regulator_threat") in phrases


def test_raw_spans_point_into_the_original():
    text = "电话：１３８　１２３４　５６７８，律師事務所北京某某律師事務所"
    for a in extract_artifacts(text):
        assert text[a.start:a.end] == a.raw
    phone = [a for a in extract_artifacts(text) if a.kind == "phone"][0]
    assert phone.raw == "１３８　１２３４　５６７８"


def test_lexicon_is_a_data_file_users_extend(tmp_path):
    custom = tmp_path / "lex.yaml"
    custom.write_text("phrases:\n  - {phrase: 上岸, category: debt_relief, variants: [成功上岸]}\n"
                      "org_suffixes: [债务服务中心]\n", encoding="utf-8")
    lex = load_lexicon(custom)
    arts = extract_artifacts("帮你成功上岸，联系星辰债务服务中心", lex)
    assert [(a.kind, a.value) for a in arts] == [("phrase", "上岸"), ("org", "星辰债务服务中心")]
    bad = tmp_path / "bad.yaml"
    bad.write_text("phrases: [{category: x}]\n", encoding="utf-8")
    with pytest.raises(InputError, match="bad.yaml: phrases entry 1 has no 'phrase'"):
        load_lexicon(bad)


def test_org_names_stop_at_two_character_conjunctions():
    arts = extract_artifacts("请联系北京某某律师事务所，或者深圳债务优化咨询有限公司，而且上海某某法务咨询有限公司也行。")
    assert [a.value for a in arts if a.kind == "org"] == [
        "北京某某律师事务所", "深圳债务优化咨询有限公司", "上海某某法务咨询有限公司"]


@pytest.mark.parametrize("text", ["加V：abc_12345", "+V abc_12345 详聊", "加微信：ABC_12345", "VX:abc_12345"])
def test_wechat_spellings_rings_use(text):
    assert kinds(text, "wechat") == ["abc_12345"]
