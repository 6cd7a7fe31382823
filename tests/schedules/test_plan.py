"""Night plans: order, levels, dates of the morning steps, polar nights, and level_at."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from schedules import (
    Fate,
    InvalidInstantError,
    NightPlan,
    Override,
    Program,
    ScheduleError,
    SunCase,
    change_in_force,
    level_at,
    parse_step,
    plan_night,
    plan_zones,
)
from tests.schedules.sites import STANDARD, TROMSO, WEIFANG

SHANGHAI = ZoneInfo("Asia/Shanghai")
OSLO = ZoneInfo("Europe/Oslo")
TEN_MINUTES = datetime.timedelta(minutes=10)


def _summary(plan: NightPlan) -> list[tuple[str, int]]:
    return [(str(change.step.anchor), change.level) for change in plan.changes if change.step]


@pytest.mark.parametrize("date", [datetime.date(2026, 6, 21), datetime.date(2026, 12, 21)])
def test_weifang_night(date: datetime.date) -> None:
    plan = plan_night(WEIFANG, STANDARD, (), date)
    next_day = date + datetime.timedelta(days=1)

    assert _summary(plan) == [
        ("sunset-10min", 100),
        ("23:00", 60),
        ("01:00", 30),
        ("sunrise+10min", 0),
    ]
    sunset, eleven, one, sunrise = (change.at for change in plan.changes)
    assert plan.sun.sunset is not None
    assert plan.sun.sunrise is not None
    assert sunset == plan.sun.sunset - TEN_MINUTES
    assert sunset.date() == date
    assert eleven == datetime.datetime.combine(date, datetime.time(23, 0), tzinfo=SHANGHAI)
    assert one == datetime.datetime.combine(next_day, datetime.time(1, 0), tzinfo=SHANGHAI)
    assert sunrise == plan.sun.sunrise + TEN_MINUTES
    assert sunrise.date() == next_day
    assert plan.notes == ()
    assert plan.start == datetime.datetime.combine(date, datetime.time(12), tzinfo=SHANGHAI)
    assert plan.end == datetime.datetime.combine(next_day, datetime.time(12), tzinfo=SHANGHAI)


def test_weifang_summer_times() -> None:
    plan = plan_night(WEIFANG, STANDARD, (), datetime.date(2026, 6, 21))
    # Sunset 19:25 and sunrise 04:45 (NOAA, see test_sun.py), shifted by 10 minutes.
    on_at, off_at = plan.changes[0].at, plan.changes[-1].at

    assert datetime.time(19, 13) <= on_at.time() <= datetime.time(19, 17)
    assert datetime.time(4, 53) <= off_at.time() <= datetime.time(4, 57)


def test_level_at_boundaries() -> None:
    plan = plan_night(WEIFANG, STANDARD, (), datetime.date(2026, 12, 21))
    on_at = plan.changes[0].at
    second = datetime.timedelta(seconds=1)

    assert level_at(plan, plan.start) == 0
    assert level_at(plan, on_at - second) == 0
    assert level_at(plan, on_at) == 100
    assert level_at(plan, on_at + second) == 100
    eleven = datetime.datetime(2026, 12, 21, 23, 0, tzinfo=SHANGHAI)
    assert level_at(plan, eleven - second) == 100
    assert level_at(plan, eleven) == 60
    # The same instant written in another zone.
    assert level_at(plan, datetime.datetime(2026, 12, 21, 15, 0, tzinfo=datetime.UTC)) == 60
    assert level_at(plan, datetime.datetime(2026, 12, 22, 1, 0, tzinfo=SHANGHAI)) == 30
    assert level_at(plan, plan.changes[-1].at) == 0
    assert level_at(plan, plan.end) == 0
    assert level_at(plan, plan.start - datetime.timedelta(days=3)) == 0


def test_level_at_refuses_a_naive_datetime() -> None:
    plan = plan_night(WEIFANG, STANDARD, (), datetime.date(2026, 12, 21))

    with pytest.raises(InvalidInstantError, match="naive"):
        level_at(plan, datetime.datetime(2026, 12, 21, 23, 0))  # noqa: DTZ001
    with pytest.raises(ScheduleError):
        level_at(plan, datetime.datetime(2026, 12, 21, 23, 0))  # noqa: DTZ001


def test_tromso_polar_day_keeps_the_clock_steps() -> None:
    plan = plan_night(TROMSO, STANDARD, (), datetime.date(2026, 6, 21))

    assert plan.sun.case is SunCase.POLAR_DAY
    assert _summary(plan) == [("23:00", 60), ("01:00", 30)]
    assert plan.notes == (
        "polar day: the sun does not set on 2026-06-21 at Tromsø; "
        "the steps at sunset-10min and sunrise+10min are skipped",
    )
    _level_defined_everywhere(plan)


def test_tromso_polar_night_follows_the_clock_steps() -> None:
    plan = plan_night(TROMSO, STANDARD, (), datetime.date(2026, 12, 21))

    assert plan.sun.case is SunCase.POLAR_NIGHT
    assert _summary(plan) == [("23:00", 60), ("01:00", 30)]
    assert plan.changes[0].at == datetime.datetime(2026, 12, 21, 23, 0, tzinfo=OSLO)
    assert plan.changes[1].at == datetime.datetime(2026, 12, 22, 1, 0, tzinfo=OSLO)
    (note,) = plan.notes
    assert note.startswith("polar night: the sun does not rise")
    assert "sunset-10min and sunrise+10min are skipped" in note
    assert note.endswith("the lamps follow the clock steps")
    _level_defined_everywhere(plan)


def test_polar_night_with_twilight_steps_and_no_clock_steps() -> None:
    program = Program("twilight", (parse_step("dusk", 100), parse_step("sunrise", 0)))
    plan = plan_night(TROMSO, program, (), datetime.date(2026, 12, 21))

    assert _summary(plan) == [("dusk", 100)]
    (note,) = plan.notes
    assert "the step at sunrise is skipped" in note
    assert note.endswith("the program has no clock steps to fall back on")


def test_white_night_skips_dusk_and_dawn() -> None:
    program = Program("civil", (parse_step("dusk", 80), parse_step("dawn", 0)))
    plan = plan_night(TROMSO, program, (), datetime.date(2026, 6, 21))

    assert plan.changes == ()
    assert plan.notes[0].startswith("white night: the sun does not get 6 degrees below")
    _level_defined_everywhere(plan)


def test_redundant_levels_are_dropped_silently() -> None:
    program = Program(
        "flat",
        (parse_step("sunset", 0), parse_step("23:00", 80), parse_step("01:00", 80)),
    )
    plan = plan_night(WEIFANG, program, (), datetime.date(2026, 6, 21))

    assert _summary(plan) == [("23:00", 80)]
    assert plan.notes == ()


def test_the_later_step_in_the_program_wins_a_tie() -> None:
    program = Program(
        "tie", (parse_step("23:00", 50), parse_step("22:30", 100), parse_step("23:00", 70))
    )
    plan = plan_night(WEIFANG, program, (), datetime.date(2026, 6, 21))

    assert _summary(plan) == [("22:30", 100), ("23:00", 70)]
    assert any("both fall at 2026-06-21 23:00" in note for note in plan.notes)


def test_steps_outside_the_night_are_dropped_with_a_note() -> None:
    program = Program(
        "far",
        (parse_step("sunset-11h", 100), parse_step("22:00", 50), parse_step("sunrise+11h", 0)),
    )
    plan = plan_night(WEIFANG, program, (), datetime.date(2026, 6, 21))

    assert _summary(plan) == [("22:00", 50)]
    assert len(plan.notes) == 2
    assert all("outside the night" in note for note in plan.notes)


def test_noon_belongs_to_the_night_that_starts_then() -> None:
    program = Program("noon", (parse_step("12:00", 10), parse_step("11:59", 0)))
    plan = plan_night(WEIFANG, program, (), datetime.date(2026, 6, 21))

    assert [change.at for change in plan.changes] == [
        plan.start,
        plan.end - datetime.timedelta(minutes=1),
    ]


def test_a_datetime_is_refused_as_the_night_date() -> None:
    with pytest.raises(InvalidInstantError):
        plan_night(WEIFANG, STANDARD, (), datetime.datetime(2026, 6, 21, tzinfo=SHANGHAI))


def _level_defined_everywhere(plan: NightPlan) -> None:
    moment = plan.start - datetime.timedelta(hours=1)
    while moment < plan.end + datetime.timedelta(hours=1):
        assert 0 <= level_at(plan, moment) <= 100
        moment += datetime.timedelta(minutes=7)


def test_a_clock_step_after_a_summer_sunrise_cannot_fire() -> None:
    # GXF's pitfall: a fixed 05:30 "on" for the early traffic, written before sunrise. In
    # June the sun is up at 04:45: taken by the clock, 05:30 would light the lamps for the
    # whole day. The written order holds it to sunrise, which overrules it.
    program = Program(
        "early",
        (
            parse_step("sunset", 100),
            parse_step("23:00", 0),
            parse_step("05:30", 100),
            parse_step("sunrise", 0),
        ),
    )
    summer = plan_night(WEIFANG, program, (), datetime.date(2026, 6, 21))
    winter = plan_night(WEIFANG, program, (), datetime.date(2026, 12, 21))

    assert _summary(summer) == [("sunset", 100), ("23:00", 0)]
    assert level_at(summer, datetime.datetime(2026, 6, 22, 11, 0, tzinfo=SHANGHAI)) == 0
    early = summer.outcomes[2]
    assert early.fate is Fate.OVERRULED
    assert early.written_at == datetime.datetime(2026, 6, 22, 5, 30, tzinfo=SHANGHAI)
    assert early.at == summer.sun.sunrise
    assert any("it cannot fire this night" in note for note in summer.notes)
    assert _summary(winter) == [("sunset", 100), ("23:00", 0), ("05:30", 100), ("sunrise", 0)]


def test_a_clock_step_before_a_late_sunset_runs_with_it() -> None:
    # Tromsø in mid-May: sunset-10min comes after 23:00; the 23:00 dimming runs at that
    # instant (and wins it, being written later) instead of lighting the lamps in daylight.
    plan = plan_night(TROMSO, STANDARD, (), datetime.date(2026, 5, 12))
    assert plan.sun.sunset is not None
    on = plan.sun.sunset - TEN_MINUTES

    assert on.time() > datetime.time(23, 0)
    assert _summary(plan) == [("23:00", 60), ("01:00", 30), ("sunrise+10min", 0)]
    assert plan.changes[0].at == on
    assert [outcome.fate for outcome in plan.outcomes] == [
        Fate.OVERRULED,
        Fate.HELD,
        Fate.FIRED,
        Fate.FIRED,
    ]


def test_sun_steps_out_of_the_written_order_run_by_instant() -> None:
    # sunset+5h and sunrise-5h swap on short nights: both are sun steps, so both run, in
    # time order (validate reports the nights).
    program = Program("swap", (parse_step("sunset+5h", 50), parse_step("sunrise-5h", 80)))
    plan = plan_night(WEIFANG, program, (), datetime.date(2026, 6, 21))

    assert _summary(plan) == [("sunrise-5h", 80), ("sunset+5h", 50)]


def test_a_ramp_fades_the_level_and_the_next_step_cuts_it() -> None:
    program = Program(
        "fade",
        (
            parse_step("22:00", 100, "20min"),
            parse_step("22:10", 20, "40min"),
            parse_step("sunrise", 0),
        ),
    )
    plan = plan_night(WEIFANG, program, (), datetime.date(2026, 12, 21))
    at = datetime.datetime(2026, 12, 21, 22, 0, tzinfo=SHANGHAI)
    minute = datetime.timedelta(minutes=1)

    first, second, _ = plan.changes
    assert (first.start_level, first.level, first.ramp) == (0, 100, 20 * minute)
    assert [level_at(plan, at + n * minute) for n in (0, 1, 5, 9)] == [0, 5, 25, 45]
    # At 22:10 the first ramp is halfway (50 %): the second fades from there to 20 %.
    assert second.start_level == 50
    assert [level_at(plan, at + n * minute) for n in (10, 30, 50, 51)] == [50, 35, 20, 20]
    assert change_in_force(plan, at + 30 * minute) is second
    assert change_in_force(plan, at - minute) is None


def test_a_city_planned_at_once_is_each_zone_planned_alone() -> None:
    # Zones sharing a calendar share its night, but each has its own overrides.
    quiet = Program("quiet", (parse_step("sunset", 60), parse_step("sunrise", 0)))
    date = datetime.date(2026, 11, 24)
    evening = datetime.datetime(2026, 11, 24, 20, tzinfo=SHANGHAI)
    overrides = (
        Override("festival", 20, evening, evening + datetime.timedelta(hours=3), zone="b"),
        Override("works", 0, evening, evening + datetime.timedelta(hours=1), lamp="L7"),
    )
    calendars = {
        "a": STANDARD,
        "b": STANDARD,
        "c": quiet,
        "d": Program(STANDARD.name, STANDARD.steps),
    }
    plans = plan_zones(WEIFANG, calendars, overrides, date)
    assert list(plans) == ["a", "b", "c", "d"]
    for zone, calendar in calendars.items():
        assert plans[zone] == plan_night(WEIFANG, calendar, overrides, date, zone=zone)
    assert level_at(plans["a"], evening + TEN_MINUTES) == 100
    assert level_at(plans["b"], evening + TEN_MINUTES) == 20
    assert [o.name for o in plans["b"].overrides] == ["festival"]
    assert plans["a"].overrides == plans["c"].overrides == ()
