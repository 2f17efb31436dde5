"""Working days: the SOP's standard times are counted in working days (hari kerja).

Convention (used for every SOP due date): a step of N working days that starts on day D
is due at the end of the N-th working day, counting D itself when D is a working day.
A step started on a non-working day (a Saturday, a holiday) starts counting on the next
working day. So a 1-day step started on a Monday is due that Monday; a 3-day step started
on a Friday is due the next Tuesday; a 1-day step started on a Saturday is due Monday.

`working_days_between(a, b)` counts the working days from a to b, both included, so
`working_days_between(d, add_working_days(d, n)) == n` for every start d.

The office's calendar (`office_calendar`) takes Indonesia's public holidays and the
government's cuti bersama from the `holidays` package (its Indonesian calendar, names in
Bahasa Indonesia), then the configuration's `sop.holidays_add` (a decree that adds a day
off) and `sop.holidays_remove` (a day the package lists that the office works).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import date, datetime, timedelta

__all__ = ["WorkingCalendar", "national_holidays", "office_calendar"]

_ONE_DAY = timedelta(days=1)


class WorkingCalendar:
    """Weekends (weekday numbers, Monday = 0) and holidays are not working days."""

    def __init__(self, holidays: Iterable[date] = (), weekend: Iterable[int] = frozenset({5, 6}),
                 names: dict[date, str] | None = None) -> None:
        self.weekend = frozenset(weekend)
        if not self.weekend <= set(range(7)):
            raise ValueError(f"weekend days are weekday numbers 0 (Monday) to 6 (Sunday), got {sorted(self.weekend)}")
        if len(self.weekend) == 7:
            raise ValueError("a calendar needs at least one working weekday")
        days = list(holidays)
        for h in days:
            if not isinstance(h, date):
                raise TypeError(f"holidays are dates, got {h!r}")
        # A datetime is a date too, but would never equal the dates it is compared with.
        self.holidays = frozenset(h.date() if isinstance(h, datetime) else h for h in days)
        self._workdays_per_week = 7 - len(self.weekend)
        # Only holidays on would-be working weekdays change any count.
        self._sorted_holidays = sorted(h for h in self.holidays if h.weekday() not in self.weekend)
        self.names = dict(names or {})  # holiday -> its name, where known

    def holidays_between(self, a: date, b: date) -> list[date]:
        """The holidays from a to b inclusive that fall on a would-be working weekday: the
        days a due date in that span moved by."""
        lo, hi = bisect_left(self._sorted_holidays, a), bisect_right(self._sorted_holidays, b)
        return self._sorted_holidays[lo:hi]

    def is_working_day(self, d: date) -> bool:
        return d.weekday() not in self.weekend and d not in self.holidays

    def next_working_day(self, d: date) -> date:
        """`d` itself if it is a working day, else the first working day after it."""
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def add_working_days(self, start: date, days: int) -> date:
        """The due date of a step of `days` working days started on `start` (see the
        module docstring). `days` must be at least 1."""
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ValueError(f"a step lasts at least 1 working day, got {days!r}")
        d = self.next_working_day(start)
        remaining = days - 1
        # Jump whole weeks while that cannot overshoot (long steps stay fast); the day
        # loop below finishes, and always ends on a working day.
        while remaining > self._workdays_per_week:
            week_end = d + timedelta(weeks=1)
            gained = self._workdays_per_week - self._holidays_on_workdays(d + _ONE_DAY, week_end)
            if gained >= remaining:
                break
            d, remaining = week_end, remaining - gained
        while remaining > 0:
            d += _ONE_DAY
            if self.is_working_day(d):
                remaining -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days d with a <= d <= b (0 when b is before a)."""
        if b < a:
            return 0
        total_days = (b - a).days + 1
        weeks, rest = divmod(total_days, 7)
        count = weeks * self._workdays_per_week
        d = a + timedelta(weeks=weeks)
        for _ in range(rest):
            if d.weekday() not in self.weekend:
                count += 1
            d += _ONE_DAY
        return count - self._holidays_on_workdays(a, b)

    def _holidays_on_workdays(self, a: date, b: date) -> int:
        """Holidays from a to b inclusive that fall on a weekday that is not weekend."""
        lo, hi = bisect_left(self._sorted_holidays, a), bisect_right(self._sorted_holidays, b)
        return hi - lo


def national_holidays(years: Iterable[int]) -> dict[date, str]:
    """Indonesia's public holidays and cuti bersama for `years`, with their names in
    Bahasa Indonesia (the `holidays` package; Islamic dates of later years are estimates)."""
    import holidays

    days = holidays.country_holidays("ID", years=list(years), categories=("public", "government"), language="id")
    return {d: name for d, name in sorted(days.items())}


def office_calendar(national: bool, add: Iterable[str], remove: Iterable[str], today: date) -> WorkingCalendar:
    """The calendar the SOP's due dates are counted in: the national holidays (from five
    years before `today` to ten after) when `national`, plus `add`, minus `remove` (ISO dates)."""
    names = national_holidays(range(today.year - 5, today.year + 11)) if national else {}
    for d in add:
        names.setdefault(date.fromisoformat(d), "Libur (ditetapkan dalam konfigurasi)")
    for d in remove:
        names.pop(date.fromisoformat(d), None)
    return WorkingCalendar(names, names=names)
