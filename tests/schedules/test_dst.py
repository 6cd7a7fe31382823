"""Daylight-saving nights in Europe/Berlin and Australia/Sydney with a 02:30 clock step,
ramps, overrides and calendars.

Documented choice (schedules/wallclock.py): a wall-clock time in the spring-forward gap runs
at the first valid instant after it (02:30 -> 03:00 CEST on 2026-03-29); one in the
fall-back fold runs at its first occurrence (02:30 CEST, not 02:30 CET, on 2026-10-25).
Solar offsets are elapsed time. Everything is ordered by instant, not by wall time.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from schedules import (
    Calendar,
    Override,
    Program,
    Rule,
    WallTimeKind,
    Weekdays,
    level_at,
    parse_step,
    plan_night,
    resolve_wall_time,
)
from tests.schedules.sites import BERLIN, SYDNEY

BERLIN_TZ = ZoneInfo("Europe/Berlin")
UTC = datetime.UTC
HALF_PAST_TWO = datetime.time(2, 30)
PROGRAM = Program(
    "dst",
    (parse_step("sunset-10min", 100), parse_step("02:30", 50), parse_step("sunrise+10min", 0)),
)


def _utc(moment: datetime.datetime) -> datetime.datetime:
    return moment.astimezone(UTC)


def test_spring_forward_gap_runs_at_the_end_of_the_gap() -> None:
    plan = plan_night(BERLIN, PROGRAM, (), datetime.date(2026, 3, 28))

    assert [change.level for change in plan.changes] == [100, 50, 0]
    step = plan.changes[1]
    assert _utc(step.at) == datetime.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert step.at.strftime("%H:%M %Z") == "03:00 CEST"
    instants = [_utc(change.at) for change in plan.changes]
    assert instants == sorted(instants)
    assert len(set(instants)) == 3
    assert _utc(plan.end) - _utc(plan.start) == datetime.timedelta(hours=23)
    (note,) = plan.notes
    assert "02:30 does not exist on 2026-03-29" in note
    assert "2026-03-29 03:00 CEST" in note


def test_fall_back_fold_runs_at_the_first_occurrence() -> None:
    plan = plan_night(BERLIN, PROGRAM, (), datetime.date(2026, 10, 24))

    assert [change.level for change in plan.changes] == [100, 50, 0]
    step = plan.changes[1]
    assert _utc(step.at) == datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert step.at.strftime("%H:%M %Z") == "02:30 CEST"
    assert _utc(plan.end) - _utc(plan.start) == datetime.timedelta(hours=25)
    (note,) = plan.notes
    assert "02:30 happens twice on 2026-10-25" in note
    assert "first occurrence, 2026-10-25 02:30 CEST" in note
    # The second 02:30 (CET) is an hour later: the step has already run once.
    second_time = datetime.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN_TZ)
    assert _utc(second_time) == datetime.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert level_at(plan, second_time) == 50
    assert level_at(plan, step.at - datetime.timedelta(seconds=1)) == 100


def test_order_is_by_instant_inside_the_fold() -> None:
    # sunrise 06:49:57 CET - 4h30min = 02:19:57 CET, the second pass through the fold:
    # later than 02:30 CEST although its wall time reads earlier.
    program = Program("fold", (parse_step("02:30", 50), parse_step("sunrise-4h30min", 20)))
    plan = plan_night(BERLIN, program, (), datetime.date(2026, 10, 24))

    assert [change.level for change in plan.changes] == [50, 20]
    late = plan.changes[1].at
    assert late.fold == 1
    assert late.time() < HALF_PAST_TWO
    assert _utc(plan.changes[0].at) < _utc(late)


def test_solar_offsets_are_elapsed_time_across_the_gap() -> None:
    program = Program("early", (parse_step("sunrise-4h", 40),))
    plan = plan_night(BERLIN, program, (), datetime.date(2026, 3, 28))

    (change,) = plan.changes
    assert plan.sun.sunrise is not None
    assert _utc(plan.sun.sunrise) - _utc(change.at) == datetime.timedelta(hours=4)
    assert change.at.strftime("%Z") == "CET"  # 01:48 CET, before the gap


def test_resolve_wall_time_kinds() -> None:
    gap = resolve_wall_time(datetime.date(2026, 3, 29), HALF_PAST_TWO, BERLIN_TZ)
    fold = resolve_wall_time(datetime.date(2026, 10, 25), HALF_PAST_TWO, BERLIN_TZ)
    plain = resolve_wall_time(datetime.date(2026, 7, 1), HALF_PAST_TWO, BERLIN_TZ)

    assert gap.kind is WallTimeKind.SKIPPED
    assert gap.at == datetime.datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN_TZ)
    assert fold.kind is WallTimeKind.REPEATED
    assert fold.at.utcoffset() == datetime.timedelta(hours=2)
    assert plain.kind is WallTimeKind.EXACT
    assert plain.at == datetime.datetime(2026, 7, 1, 2, 30, tzinfo=BERLIN_TZ)
    # A 30-minute gap (Lord Howe Island) ends at 02:30 local.
    lord_howe = resolve_wall_time(
        datetime.date(2026, 10, 4), datetime.time(2, 10), ZoneInfo("Australia/Lord_Howe")
    )
    assert lord_howe.kind is WallTimeKind.SKIPPED
    assert lord_howe.at.time() == HALF_PAST_TWO


SYDNEY_TZ = ZoneInfo("Australia/Sydney")
WEEKEND = Program(
    "weekend",
    (
        parse_step("sunset", 100),
        parse_step("02:30", 40, "10min"),
        parse_step("sunrise", 0),
    ),
)
SYDNEY_CALENDAR = Calendar(
    "sydney", PROGRAM, rules=(Rule("saturday", WEEKEND, (Weekdays(frozenset({5})),)),)
)


def test_sydney_autumn_night_gains_an_hour() -> None:
    # DST ends on Sunday 2026-04-05 at 03:00 AEDT (back to 02:00 AEST): Saturday's night
    # lasts 25 hours, 02:30 happens twice and runs at its first occurrence (AEDT), and the
    # step still comes from Saturday's rule although it happens on Sunday.
    plan = plan_night(SYDNEY, SYDNEY_CALENDAR, (), datetime.date(2026, 4, 4))

    assert _utc(plan.end) - _utc(plan.start) == datetime.timedelta(hours=25)
    assert plan.rule is not None
    assert plan.rule.name == "saturday"
    dim = plan.changes[1]
    assert dim.at.strftime("%a %H:%M %Z") == "Sun 02:30 AEDT"
    assert _utc(dim.at) == datetime.datetime(2026, 4, 4, 15, 30, tzinfo=UTC)
    assert "02:30 happens twice on 2026-04-05" in plan.notes[0]
    # Ten minutes of ramp are ten minutes of elapsed time, whatever the wall clock says.
    assert level_at(plan, dim.at + datetime.timedelta(minutes=5)) == 70
    second = datetime.datetime(2026, 4, 5, 2, 30, fold=1, tzinfo=SYDNEY_TZ)
    assert level_at(plan, second) == 40
    instants = [_utc(change.at) for change in plan.changes]
    assert instants == sorted(instants)


def test_sydney_spring_night_loses_an_hour() -> None:
    # DST starts on Sunday 2026-10-04 at 02:00 AEST (to 03:00 AEDT): 02:30 does not exist
    # and runs at 03:00 AEDT; the night lasts 23 hours.
    plan = plan_night(SYDNEY, SYDNEY_CALENDAR, (), datetime.date(2026, 10, 3))

    assert _utc(plan.end) - _utc(plan.start) == datetime.timedelta(hours=23)
    dim = plan.changes[1]
    assert dim.at.strftime("%H:%M %Z") == "03:00 AEDT"
    assert _utc(dim.at) == datetime.datetime(2026, 10, 3, 16, 0, tzinfo=UTC)
    assert "02:30 does not exist on 2026-10-04" in plan.notes[0]
    before = datetime.datetime(2026, 10, 4, 1, 59, tzinfo=SYDNEY_TZ)
    assert level_at(plan, before) == 100
    assert level_at(plan, dim.at + datetime.timedelta(minutes=10)) == 40


def test_a_ramp_across_the_spring_forward_gap_is_elapsed_time() -> None:
    program = Program("ramp", (parse_step("01:50", 100, "20min"), parse_step("sunrise", 0)))
    plan = plan_night(BERLIN, program, (), datetime.date(2026, 3, 28))
    ramp = plan.changes[0]

    assert ramp.at.strftime("%H:%M %Z") == "01:50 CET"
    assert ramp.settled_at.astimezone(BERLIN_TZ).strftime("%H:%M %Z") == "03:10 CEST"
    halfway = datetime.datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN_TZ)  # 10 minutes later
    assert level_at(plan, halfway) == 50


def test_an_override_through_the_fall_back_fold() -> None:
    # From 02:15 CEST to 02:15 CET: one hour on the time line, not zero on the wall clock.
    start = datetime.datetime(2026, 10, 25, 2, 15, fold=0, tzinfo=BERLIN_TZ)
    end = datetime.datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=BERLIN_TZ)
    check = Override("check", 20, start, end, zone="old-town")
    plan = plan_night(BERLIN, PROGRAM, [check], datetime.date(2026, 10, 24), zone="old-town")

    assert _utc(end) - _utc(start) == datetime.timedelta(hours=1)
    assert level_at(plan, datetime.datetime(2026, 10, 25, 2, 45, fold=0, tzinfo=BERLIN_TZ)) == 20
    assert level_at(plan, datetime.datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=BERLIN_TZ)) == 50
    starts = [change for change in plan.changes if change.override is check]
    assert [_utc(change.at) for change in starts] == [_utc(start)]
