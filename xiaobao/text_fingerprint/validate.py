"""Check digits and shapes of Chinese identifiers: resident ID (GB 11643), bank cards (Luhn), phones."""
from __future__ import annotations

import datetime as _dt

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# Mobile prefixes in use on the mainland: 13x-19x (14x/16x/17x data and virtual operators included).
MOBILE_PREFIX = ("13", "14", "15", "16", "17", "18", "19")


def id_checksum_ok(number: str) -> bool:
    """18-digit resident ID: region, a real birth date and the ISO 7064 MOD 11-2 check character."""
    n = number.upper()
    if len(n) != 18 or not n[:17].isdigit() or n[17] not in "0123456789X":
        return False
    if n[0] not in "12345678" or not id_birth_ok(n[6:14]):
        return False
    total = sum(int(d) * w for d, w in zip(n[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == n[17]


def id_birth_ok(yyyymmdd: str) -> bool:
    try:
        born = _dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return _dt.date(1900, 1, 1) <= born <= _dt.date.today()


def luhn_ok(number: str) -> bool:
    """Luhn (mod 10) check used by UnionPay, Visa and Mastercard numbers."""
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mobile_ok(number: str) -> bool:
    return len(number) == 11 and number.isdigit() and number[:2] in MOBILE_PREFIX


def split_landline(number: str) -> tuple[str, str] | None:
    """``01012345678`` -> (``010``, ``12345678``): area codes 010 and 02x are 3 digits, others 4."""
    if not number.startswith("0") or len(number) not in (10, 11, 12):
        return None
    area_len = 3 if number[1] in "12" else 4
    area, local = number[:area_len], number[area_len:]
    if number[1] == "0" or len(local) not in (7, 8) or local[0] in "01*":
        return None
    return area, local
