"""Working-day arithmetic for SOP due dates."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from provision.calendar import WorkingCalendar

# 2026-11-23 is a Monday.
MON, TUE, WED, THU, FRI, SAT, SUN = (date(2026, 11, 23) + timedelta(days=i) for i in range(7))
NEXT_MON = date(2026, 11, 30)


def test_one_day_step_started_on_a_working_day_is_due_that_day() -> None:
    assert WorkingCalendar().add_working_days(MON, 1) == MON


def test_three_day_step_started_on_friday_is_due_tuesday() -> None:
    assert WorkingCalendar().add_working_days(FRI, 3) == date(2026, 12, 1)


@pytest.mark.parametrize("start", [SAT, SUN])
def test_step_started_on_weekend_counts_from_monday(start: date) -> None:
    cal = WorkingCalendar()
    assert cal.add_working_days(start, 1) == NEXT_MON
    assert cal.add_working_days(start, 5) == date(2026, 12, 4)


def test_holidays_are_skipped() -> None:
    cal = WorkingCalendar(holidays=[TUE, WED])
    assert cal.add_working_days(MON, 2) == THU
    assert cal.add_working_days(TUE, 1) == THU
    assert not cal.is_working_day(TUE)


def test_datetime_holidays_count_as_their_date() -> None:
    from datetime import datetime

    assert WorkingCalendar(holidays=[datetime(2026, 11, 24, 8, 0)]).add_working_days(MON, 2) == WED


def test_holiday_on_weekend_changes_nothing() -> None:
    assert WorkingCalendar(holidays=[SAT]).add_working_days(FRI, 2) == NEXT_MON


def test_fifteen_day_step_spans_three_weeks() -> None:
    # SOP step 8 (15 hari): Monday start -> Friday two weeks later.
    assert WorkingCalendar().add_working_days(MON, 15) == date(2026, 12, 11)
    # With the Christmas holiday on Friday 2026-12-25 a 25-day step moves one day.
    assert WorkingCalendar().add_working_days(MON, 25) == date(2026, 12, 25)
    assert WorkingCalendar(holidays=[date(2026, 12, 25)]).add_working_days(MON, 25) == date(2026, 12, 28)


def test_other_weekend() -> None:
    # A six-day working week (only Sunday off).
    cal = WorkingCalendar(weekend={6})
    assert cal.add_working_days(FRI, 2) == SAT
    assert cal.add_working_days(SAT, 2) == NEXT_MON


@pytest.mark.parametrize("days", [0, -1, True, 1.5])
def test_bad_day_counts_refused(days: object) -> None:
    with pytest.raises(ValueError):
        WorkingCalendar().add_working_days(MON, days)  # type: ignore[arg-type]


def test_bad_weekend_refused() -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(weekend=range(7))
    with pytest.raises(ValueError):
        WorkingCalendar(weekend={7})
    with pytest.raises(TypeError):
        WorkingCalendar(holidays=["2026-12-25"])  # type: ignore[list-item]


def test_working_days_between_counts_both_ends() -> None:
    cal = WorkingCalendar(holidays=[WED])
    assert cal.working_days_between(MON, MON) == 1
    assert cal.working_days_between(MON, SUN) == 4
    assert cal.working_days_between(SAT, SUN) == 0
    assert cal.working_days_between(FRI, MON) == 0
    assert cal.working_days_between(MON, NEXT_MON) == 5


def _slow_add(cal: WorkingCalendar, start: date, n: int) -> date:
    d = start
    while not cal.is_working_day(d):
        d += timedelta(days=1)
    n -= 1
    while n:
        d += timedelta(days=1)
        n -= cal.is_working_day(d)
    return d


def test_fast_paths_agree_with_day_by_day_counting() -> None:
    rng = random.Random(20261128)
    base = date(2026, 1, 1)
    holidays = {base + timedelta(days=rng.randrange(730)) for _ in range(60)}
    for weekend in ({5, 6}, {6}, {4, 5}):
        cal = WorkingCalendar(holidays, weekend)
        for _ in range(300):
            start = base + timedelta(days=rng.randrange(365))
            n = rng.randrange(1, 120)
            due = cal.add_working_days(start, n)
            assert due == _slow_add(cal, start, n), (weekend, start, n)
            assert cal.is_working_day(due)
            assert cal.working_days_between(start, due) == n
            end = start + timedelta(days=rng.randrange(400))
            slow = sum(cal.is_working_day(start + timedelta(days=i)) for i in range((end - start).days + 1))
            assert cal.working_days_between(start, end) == slow
