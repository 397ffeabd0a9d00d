"""Chinese working-day calendar for deadline arithmetic.

Why a wrapper: ``chinese-calendar`` holds the State Council's yearly holiday arrangement
(statutory holidays *and* the make-up working days on weekends), but only for the years it
has been released for (1.11.0 covers 2004-2026). The arrangement for a year is published
around November of the year before, so a deadline can run into a year the library does not
know yet. We never guess silently: a year is answered from, in order,

1. the team's supplement file (``data/holidays.yaml``: ``years: {2027: {holidays: [...],
   workdays: [...]}}``), which is where a newly published arrangement goes until the
   library catches up;
2. ``chinese-calendar``;
3. the ``unknown_year`` setting: ``error`` (default: raise a clear error naming the year and
   the file to edit) or ``weekends`` (Monday-Friday only, and the answer is flagged
   ``provisional`` so a deadline computed that way says so).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import chinese_calendar

from xiaobao.errors import InputError, UserError
from xiaobao.yamlfile import read_yaml_mapping

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_HOLIDAYS_FILE = DATA_DIR / "holidays.yaml"
UNKNOWN_YEAR_MODES = ("error", "weekends")


class CalendarGapError(UserError):
    """A working-day question about a year no calendar source covers."""


def _library_years() -> set[int]:
    from chinese_calendar.constants import holidays

    return {d.year for d in holidays}


@dataclass
class WorkCalendar:
    """Answers ``is_workday(date)`` for Chinese working days."""

    supplement: dict[int, tuple[frozenset, frozenset]] = field(default_factory=dict)
    unknown_year: str = "error"
    source: str = "chinese-calendar"
    provisional_years: set[int] = field(default_factory=set)

    def __post_init__(self):
        if self.unknown_year not in UNKNOWN_YEAR_MODES:
            raise UserError(f"unknown_year must be one of {', '.join(UNKNOWN_YEAR_MODES)}, not {self.unknown_year!r}")
        self._lib_years = _library_years()

    def covers(self, year: int) -> bool:
        return year in self.supplement or year in self._lib_years

    def is_workday(self, day: dt.date) -> bool:
        if day.year in self.supplement:
            holidays, workdays = self.supplement[day.year]
            if day in workdays:
                return True
            if day in holidays:
                return False
            return day.weekday() < 5
        if day.year in self._lib_years:
            return chinese_calendar.is_workday(day)
        if self.unknown_year == "weekends":
            self.provisional_years.add(day.year)
            return day.weekday() < 5
        raise CalendarGapError(
            f"no holiday arrangement for {day.year}: chinese-calendar {_library_version()} covers "
            f"{min(self._lib_years)}-{max(self._lib_years)}; add the State Council's {day.year} arrangement "
            f"under 'years' in {self.source} (or set unknown_year: weekends)"
        )


def _library_version() -> str:
    from importlib.metadata import version

    return version("chinese-calendar")


def load_calendar(path: str | Path | None = None, unknown_year: str | None = None) -> WorkCalendar:
    """Build a :class:`WorkCalendar` from a supplement YAML file (default: the shipped one)."""
    path = Path(path) if path else DEFAULT_HOLIDAYS_FILE
    supplement: dict[int, tuple[frozenset, frozenset]] = {}
    mode = "error"
    if path.exists():
        doc = read_yaml_mapping(path, "holiday file")
        mode = doc.get("unknown_year", "error")
        for year, spec in (doc.get("years") or {}).items():
            try:
                year = int(year)
                spec = spec or {}
                hol = frozenset(_as_date(x) for x in spec.get("holidays") or [])
                work = frozenset(_as_date(x) for x in spec.get("workdays") or [])
            except (TypeError, ValueError) as exc:
                raise InputError(path, f"year {year}: {exc}") from None
            wrong = [d for d in hol | work if d.year != year]
            if wrong:
                raise InputError(path, f"year {year}: date {wrong[0].isoformat()} is not in {year}")
            both = hol & work
            if both:
                raise InputError(path, f"year {year}: {min(both).isoformat()} is listed as holiday and working day")
            supplement[year] = (hol, work)
    cal = WorkCalendar(supplement=supplement, unknown_year=unknown_year or mode, source=str(path))
    return cal


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
