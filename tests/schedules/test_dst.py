"""Daylight-saving nights in Europe/Berlin with a 02:30 clock step.

Documented choice (schedules/wallclock.py): a wall-clock time in the spring-forward gap runs
at the first valid instant after it (02:30 -> 03:00 CEST on 2026-03-29); one in the
fall-back fold runs at its first occurrence (02:30 CEST, not 02:30 CET, on 2026-10-25).
Solar offsets are elapsed time. Everything is ordered by instant, not by wall time.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from schedules import (
    Program,
    WallTimeKind,
    level_at,
    parse_step,
    plan_night,
    resolve_wall_time,
)
from tests.schedules.sites import BERLIN

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
    plan = plan_night(BERLIN, PROGRAM, datetime.date(2026, 3, 28))

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
    plan = plan_night(BERLIN, PROGRAM, datetime.date(2026, 10, 24))

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
    plan = plan_night(BERLIN, program, datetime.date(2026, 10, 24))

    assert [change.level for change in plan.changes] == [50, 20]
    late = plan.changes[1].at
    assert late.fold == 1
    assert late.time() < HALF_PAST_TWO
    assert _utc(plan.changes[0].at) < _utc(late)


def test_solar_offsets_are_elapsed_time_across_the_gap() -> None:
    program = Program("early", (parse_step("sunrise-4h", 40),))
    plan = plan_night(BERLIN, program, datetime.date(2026, 3, 28))

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
