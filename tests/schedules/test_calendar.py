"""Calendars: day selectors, the first matching rule wins, and nights that cross midnight."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from schedules import (
    AntiFlap,
    Calendar,
    DateRange,
    Dates,
    InvalidCalendarError,
    InvalidRuleError,
    NthWeekday,
    Program,
    Rule,
    ScheduleError,
    Weekdays,
    Yearly,
    all_night,
    as_calendar,
    level_at,
    parse_nth_weekday,
    parse_step,
    parse_weekdays,
    parse_yearly,
    plan_night,
)
from tests.schedules.sites import STANDARD, WEIFANG

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = datetime.date

FESTIVAL = all_night("festival", 100)
LATE = Program(
    "late",
    (
        parse_step("sunset", 100),
        parse_step("01:00", 70),
        parse_step("03:00", 40),
        parse_step("sunrise", 0),
    ),
)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sat,sun", {5, 6}),
        ("Friday - Monday", {4, 5, 6, 0}),  # a range may wrap over the weekend
        ("wed", {2}),
        (["tue", "thursday"], {1, 3}),
    ],
)
def test_weekdays(text: str | list[str], days: set[int]) -> None:
    assert parse_weekdays(text).days == days


@pytest.mark.parametrize("text", ["", "mo", "funday", "mon-", "t"])
def test_bad_weekdays_are_refused_with_the_text(text: str) -> None:
    with pytest.raises(InvalidRuleError) as caught:
        parse_weekdays(text)
    assert isinstance(caught.value, ScheduleError)


def test_yearly_days_and_ranges_wrap_over_the_new_year() -> None:
    eve = parse_yearly("12-24")
    holidays = parse_yearly("12-20..01-06")

    assert eve == Yearly((12, 24))
    assert [eve.matches(D(year, 12, 24)) for year in (2025, 2026, 2030)] == [True] * 3
    assert not eve.matches(D(2026, 12, 25))
    assert holidays.matches(D(2026, 12, 31))
    assert holidays.matches(D(2027, 1, 6))
    assert not holidays.matches(D(2027, 1, 7))
    assert not holidays.matches(D(2026, 12, 19))
    assert str(eve) == "every 24 December"
    assert str(holidays) == "every year from 20 December to 6 January"
    assert parse_yearly("02-29").matches(D(2028, 2, 29))


@pytest.mark.parametrize("text", ["13-01", "02-30", "12/24", "24 Dec", "12-24..", ""])
def test_bad_yearly_days_are_refused(text: str) -> None:
    with pytest.raises(InvalidRuleError, match=r"yearly day|not a day"):
        parse_yearly(text)


def test_nth_weekday_of_a_month() -> None:
    second_monday_of_may = parse_nth_weekday("second monday of may")
    last_friday = parse_nth_weekday("last friday")
    first_sunday = parse_nth_weekday("1st sun of march, september")

    may = [D(2026, 5, day) for day in range(1, 32)]
    assert [day for day in may if second_monday_of_may.matches(day)] == [D(2026, 5, 11)]
    october = [D(2026, 10, day) for day in range(1, 32)]
    assert [day for day in october if last_friday.matches(day)] == [D(2026, 10, 30)]
    assert last_friday.matches(D(2026, 2, 27))
    assert first_sunday.matches(D(2026, 3, 1))
    assert first_sunday.matches(D(2026, 9, 6))
    assert not first_sunday.matches(D(2026, 4, 5))
    assert str(second_monday_of_may) == "the second Monday of May"
    assert str(last_friday) == "the last Friday of every month"
    assert second_monday_of_may == NthWeekday(0, 2, frozenset({5}))


@pytest.mark.parametrize("text", ["sixth monday", "second", "last funday", "2nd mon of smarch"])
def test_bad_nth_weekdays_are_refused(text: str) -> None:
    with pytest.raises(InvalidRuleError):
        parse_nth_weekday(text)


def test_date_ranges_and_special_days() -> None:
    week = DateRange(D(2026, 10, 1), D(2026, 10, 7))
    since = DateRange(first=D(2026, 10, 1))
    festival = Dates(frozenset({D(2026, 9, 25), D(2026, 4, 18)}))

    assert week.matches(D(2026, 10, 7))
    assert not week.matches(D(2026, 10, 8))
    assert since.matches(D(2030, 1, 1))
    assert festival.matches(D(2026, 4, 18))
    assert not festival.matches(D(2027, 4, 18))
    assert str(festival) == "on 2026-04-18 and 2026-09-25"
    with pytest.raises(InvalidRuleError, match="reversed"):
        DateRange(D(2026, 10, 7), D(2026, 10, 1))
    with pytest.raises(InvalidRuleError):
        DateRange()


def _city() -> Calendar:
    return Calendar(
        "city",
        STANDARD,
        rules=(
            Rule("christmas-eve", FESTIVAL, (Yearly((12, 24)),)),
            Rule("weekend", LATE, (Weekdays(frozenset({4, 5})),)),
        ),
    )


def test_the_first_matching_rule_wins() -> None:
    city = _city()

    assert city.select(D(2026, 12, 24)).name == "christmas-eve"  # type: ignore[union-attr]
    assert city.select(D(2027, 12, 24)).name == "christmas-eve"  # type: ignore[union-attr]
    assert city.select(D(2026, 12, 25)).name == "weekend"  # type: ignore[union-attr]
    assert city.select(D(2026, 12, 23)) is None
    assert city.program_for(D(2026, 12, 23)) is STANDARD
    assert city.programs == (STANDARD, FESTIVAL, LATE)


def test_a_special_day_overrides_a_weekday_rule() -> None:
    # 2027-12-24 is a Friday: the weekend rule matches too, but Christmas Eve comes first.
    city = _city()
    plan = plan_night(WEIFANG, city, (), D(2027, 12, 24))
    friday = plan_night(WEIFANG, city, (), D(2027, 12, 17))

    assert plan.rule is not None
    assert plan.rule.name == "christmas-eve"
    assert plan.program is FESTIVAL
    assert [change.level for change in plan.changes] == [100, 0]
    assert friday.program is LATE
    one_am = datetime.datetime(2027, 12, 25, 1, 30, tzinfo=SHANGHAI)
    assert level_at(plan, one_am) == 100  # the festival's, not the weekend's 70
    assert "christmas-eve" in str(plan.changes[0].cause)


def test_a_step_after_midnight_belongs_to_the_evening_before() -> None:
    # Saturday 2026-12-26: the weekend rule. Its 01:00 and 03:00 steps happen on Sunday
    # morning and still come from Saturday's rule; Sunday night is an ordinary night.
    city = _city()
    saturday = plan_night(WEIFANG, city, (), D(2026, 12, 26))
    sunday = plan_night(WEIFANG, city, (), D(2026, 12, 27))

    assert saturday.program is LATE
    one_am = next(change for change in saturday.changes if change.level == 70)
    assert one_am.at == datetime.datetime(2026, 12, 27, 1, 0, tzinfo=SHANGHAI)
    assert one_am.at.strftime("%A") == "Sunday"
    assert one_am.cause.rule is not None
    assert one_am.cause.rule.name == "weekend"
    assert level_at(saturday, datetime.datetime(2026, 12, 27, 2, 0, tzinfo=SHANGHAI)) == 70
    assert sunday.program is STANDARD
    assert sunday.rule is None
    assert level_at(sunday, datetime.datetime(2026, 12, 28, 2, 0, tzinfo=SHANGHAI)) == 30


def test_a_rule_needs_selectors_and_a_calendar_unique_rule_names() -> None:
    with pytest.raises(InvalidRuleError, match="at least one day selector"):
        Rule("empty", FESTIVAL, ())
    with pytest.raises(InvalidRuleError, match="not a day selector"):
        Rule("bad", FESTIVAL, ("mon",))  # type: ignore[arg-type]
    twice = Rule("x", FESTIVAL, (Yearly((1, 1)),))
    with pytest.raises(InvalidCalendarError, match="two rules are named 'x'"):
        Calendar("c", STANDARD, (twice, twice))
    with pytest.raises(InvalidCalendarError, match="min_lit"):
        AntiFlap(min_lit=datetime.timedelta(hours=7))


def test_a_program_is_a_calendar_with_only_a_default() -> None:
    calendar = as_calendar(STANDARD)

    assert calendar == Calendar("standard", STANDARD)
    assert as_calendar(calendar) is calendar
    by_program = plan_night(WEIFANG, STANDARD, (), D(2026, 6, 21))
    by_calendar = plan_night(WEIFANG, calendar, (), D(2026, 6, 21))
    assert by_program.changes == by_calendar.changes
    assert by_program.source == "every night"
