"""Report periods: half-open [start, end) windows of local dates, and the one before."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from xiaobao.errors import UserError

KINDS = ("daily", "weekly", "monthly")


def parse_date(value, what: str = "date") -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise UserError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from None


@dataclass(frozen=True)
class Period:
    start: dt.date   # first day, inclusive
    end: dt.date     # day after the last one (exclusive)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def previous(self) -> "Period":
        """The period of equal length just before; a calendar month's previous is the calendar month."""
        if self.start.day == 1 and self.end.day == 1 and self.days > 27:
            prev_start = (self.start - dt.timedelta(days=1)).replace(day=1)
            return Period(prev_start, self.start)
        return Period(self.start - dt.timedelta(days=self.days), self.start)

    def bounds(self) -> tuple[str, str]:
        """ISO strings to compare against received_at ('YYYY-MM-DDTHH:MM:SS' sorts as text)."""
        return self.start.isoformat(), self.end.isoformat()

    def label(self) -> str:
        return self.start.isoformat() if self.days == 1 else f"{self.start.isoformat()} – {self.last_day.isoformat()}"


def between(start, end) -> Period:
    """Inclusive dates as typed on the command line (--from D --to D)."""
    s, e = parse_date(start, "--from"), parse_date(end, "--to")
    if e < s:
        raise UserError(f"--to {e} is before --from {s}")
    return Period(s, e + dt.timedelta(days=1))


def period_of(kind: str, day) -> Period:
    """daily: that day; weekly: its Monday-to-Sunday week; monthly: its calendar month."""
    d = parse_date(day, "--date")
    if kind == "daily":
        return Period(d, d + dt.timedelta(days=1))
    if kind == "weekly":
        start = d - dt.timedelta(days=d.weekday())
        return Period(start, start + dt.timedelta(days=7))
    if kind == "monthly":
        start = d.replace(day=1)
        nxt = (start + dt.timedelta(days=32)).replace(day=1)
        return Period(start, nxt)
    raise UserError(f"report kind {kind!r} is not one of {', '.join(KINDS)}")
