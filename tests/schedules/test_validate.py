"""Validation over a year: each finding, its severity and the exact nights it concerns."""

from __future__ import annotations

import datetime

import pytest

from schedules import (
    Calendar,
    DateRange,
    InvalidInstantError,
    Problem,
    Program,
    Report,
    Rule,
    ScheduleError,
    Severity,
    Yearly,
    all_night,
    describe_dates,
    night_sun,
    parse_step,
    part_night,
    validate,
)
from tests.schedules.sites import MCMURDO, STANDARD, TROMSO, WEIFANG

D = datetime.date
YEAR = D(2026, 1, 1)
NIGHTS = [YEAR + datetime.timedelta(days=n) for n in range(365)]


def _only(report: Report, code: str) -> Problem:
    (found,) = [problem for problem in report.problems if problem.code == code]
    return found


def _codes(report: Report) -> set[str]:
    return {problem.code for problem in report.problems}


def test_a_sound_calendar_has_nothing_to_report() -> None:
    city = Calendar(
        "city",
        STANDARD,
        rules=(Rule("christmas-eve", all_night("festival"), (Yearly((12, 24)),)),),
    )
    report = validate(city, WEIFANG, YEAR)

    assert report.problems == ()
    assert report.ok
    assert (report.first, report.last, report.nights) == (YEAR, D(2026, 12, 31), 365)


def test_a_fixed_morning_on_after_a_summer_sunrise_is_reported_with_its_nights() -> None:
    road = part_night("road", 100, [("23:00", 50), ("05:00", 100)])
    report = validate(road, WEIFANG, YEAR)

    problem = _only(report, "cannot-fire")
    expected = [
        date
        for date in NIGHTS
        if (sunrise := night_sun(WEIFANG, date).sunrise) is not None
        and sunrise.time() < datetime.time(5, 0)
    ]
    assert problem.severity is Severity.WARNING
    assert list(problem.dates) == expected
    assert len(expected) > 30
    assert problem.step is not None
    assert str(problem.step.anchor) == "05:00"
    assert "falls after sunrise" in problem.message
    assert report.ok  # the plan is safe: a warning, not an error


def test_a_lamp_left_on_all_day_is_an_error() -> None:
    forgot = Program("forgot", (parse_step("sunset", 100), parse_step("23:00", 40)))
    report = validate(forgot, WEIFANG, YEAR)

    problem = _only(report, "lit-all-day")
    assert problem.severity is Severity.ERROR
    assert problem.dates == tuple(NIGHTS)
    assert "(40%)" in problem.message
    assert not report.ok
    assert report.errors == (problem,)


def test_polar_nights_without_clock_steps_leave_the_streets_dark() -> None:
    report = validate(all_night("solar-only"), TROMSO, YEAR)

    dark = _only(report, "never-on-polar")
    polar_night = _only(report, "polar-night")
    polar_day = _only(report, "polar-day")
    assert dark.severity is Severity.ERROR
    assert set(dark.dates) <= set(polar_night.dates)
    assert D(2026, 12, 21) in dark.dates
    assert polar_night.severity is Severity.INFO
    assert polar_day.dates[0] < D(2026, 6, 21) < polar_day.dates[-1]
    for date in (*polar_night.dates, *polar_day.dates):
        assert night_sun(TROMSO, date).case.value in ("polar-night", "polar-day")


def test_polar_day_in_the_southern_hemisphere() -> None:
    report = validate(all_night("solar-only"), MCMURDO, YEAR)

    assert D(2026, 12, 21) in _only(report, "polar-day").dates
    assert D(2026, 6, 21) in _only(report, "never-on-polar").dates


def test_clock_steps_lit_in_the_midnight_sun() -> None:
    report = validate(STANDARD, TROMSO, YEAR)

    lit = _only(report, "lit-all-day")
    assert set(lit.dates) <= set(_only(report, "polar-day").dates)
    held = _only(report, "held")
    assert held.step is not None
    assert str(held.step.anchor) == "23:00"
    assert "sunset-10min" in held.message


def test_a_rule_hidden_by_an_earlier_one_is_an_error() -> None:
    festival = all_night("festival")
    winter = Rule("winter", STANDARD, (Yearly((12, 1), (2, 28)),))
    christmas = Rule("christmas-eve", festival, (Yearly((12, 24)),))
    hidden = validate(Calendar("c", STANDARD, (winter, christmas)), WEIFANG, YEAR)
    fixed = validate(Calendar("c", STANDARD, (christmas, winter)), WEIFANG, YEAR)

    problem = _only(hidden, "hidden-rule")
    assert problem.severity is Severity.ERROR
    assert problem.rule == "christmas-eve"
    assert problem.dates == (D(2026, 12, 24),)
    assert "'winter'" in problem.message
    shadowed = _only(fixed, "shadowed-rule")
    assert shadowed.severity is Severity.INFO
    assert shadowed.rule == "winter"
    assert shadowed.dates == (D(2026, 12, 24),)
    assert fixed.ok


def test_a_rule_matching_no_night_is_noted() -> None:
    later = Rule("expo-2030", all_night("expo"), (DateRange(D(2030, 5, 1), D(2030, 5, 31)),))
    report = validate(Calendar("c", STANDARD, (later,)), WEIFANG, YEAR)

    assert _only(report, "unmatched-rule").severity is Severity.INFO
    assert report.ok


def test_a_ramp_longer_than_its_step() -> None:
    program = Program(
        "fade",
        (
            parse_step("sunset", 100),
            parse_step("23:00", 50, "1h"),
            parse_step("23:30", 20),
            parse_step("sunrise", 0),
        ),
    )
    problem = _only(validate(program, WEIFANG, YEAR), "ramp")

    assert problem.severity is Severity.WARNING
    assert problem.dates == tuple(NIGHTS)
    assert problem.step is not None
    assert str(problem.step.anchor) == "23:00"


def test_sun_steps_in_the_wrong_order_on_some_nights() -> None:
    program = Program(
        "swap",
        (
            parse_step("sunset", 100),
            parse_step("sunset+5h", 50),
            parse_step("sunrise-5h", 80),
            parse_step("sunrise", 0),
        ),
    )
    problem = _only(validate(program, WEIFANG, YEAR), "order")

    short = [
        date
        for date in NIGHTS
        if (sun := night_sun(WEIFANG, date)).sunset is not None
        and sun.sunrise is not None
        and sun.sunrise - sun.sunset < datetime.timedelta(hours=10)
    ]
    assert list(problem.dates) == short
    assert "sunrise-5h runs before sunset+5h" in problem.message


def test_a_step_that_never_changes_anything() -> None:
    program = Program(
        "dup", (parse_step("sunset", 100), parse_step("23:00", 100), parse_step("sunrise", 0))
    )
    problem = _only(validate(program, WEIFANG, YEAR), "never-fires")

    assert problem.severity is Severity.WARNING
    assert "redundant on 365" in problem.message


def test_describe_dates_groups_runs() -> None:
    dates = [D(2026, 5, 1), D(2026, 5, 2), D(2026, 5, 3), D(2026, 12, 24)]

    assert describe_dates(dates) == "2026-05-01 to 2026-05-03, 2026-12-24 (4 nights)"
    assert describe_dates([D(2026, 1, 1)]) == "2026-01-01 (1 night)"
    many = [D(2026, 1, 1) + datetime.timedelta(days=2 * n) for n in range(10)]
    assert describe_dates(many).endswith(", 4 more (10 nights)")


def test_validate_refuses_a_datetime_and_no_nights() -> None:
    with pytest.raises(InvalidInstantError, match="first night"):
        validate(STANDARD, WEIFANG, datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    with pytest.raises(ScheduleError, match="at least one night"):
        validate(STANDARD, WEIFANG, YEAR, 0)
    assert _codes(validate(STANDARD, WEIFANG, YEAR, 1)) == set()
