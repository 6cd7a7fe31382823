"""Overrides: in force from start to expiry, by priority, per zone or lamp; the program
resumes where it would be, mid-ramp included."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from schedules import (
    CauseKind,
    Fate,
    InvalidOverrideError,
    NightPlan,
    Override,
    Program,
    ScheduleError,
    level_at,
    override_in_force,
    parse_step,
    plan_night,
)
from tests.schedules.sites import WEIFANG

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = datetime.date(2026, 12, 21)  # sunset 16:51, sunrise 07:12
MINUTE = datetime.timedelta(minutes=1)
RAMPED = Program(
    "ramped",
    (
        parse_step("sunset", 100),
        parse_step("23:00", 50, "30min"),
        parse_step("sunrise", 0),
    ),
)


def _at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def _override(
    name: str,
    level: int,
    start: datetime.datetime,
    end: datetime.datetime,
    *,
    zone: str | None = None,
    lamp: str | None = None,
    priority: int = 0,
) -> Override:
    return Override(name, level, start, end, priority, zone=zone, lamp=lamp)


def _program_only(plan: NightPlan) -> NightPlan:
    return plan_night(plan.site, plan.calendar, (), plan.date, zone=plan.zone)


def test_an_override_holds_its_level_and_the_program_resumes() -> None:
    storm = _override("storm", 100, _at(21, 22, 0), _at(22, 2, 0), zone="centre", priority=5)
    plan = plan_night(WEIFANG, RAMPED, [storm], NIGHT, zone="centre")

    # The override starts at the level already in force, so it changes nothing at 22:00
    # (the notes say it is in force); it hides the 23:00 ramp; at 02:00 the program resumes.
    kinds = [(change.cause.kind, change.level) for change in plan.changes]
    assert kinds == [(CauseKind.STEP, 100), (CauseKind.RESUME, 50), (CauseKind.STEP, 0)]
    assert level_at(plan, _at(21, 23, 15)) == 100  # the program would be ramping down
    assert level_at(plan, _at(22, 1, 59)) == 100
    assert level_at(plan, _at(22, 2, 0)) == 50
    resume = plan.changes[1]
    assert resume.cause.ended is storm
    assert resume.step is not None
    assert str(resume.step.anchor) == "23:00"
    assert plan.overrides == (storm,)
    outcome = next(o for o in plan.outcomes if str(o.step.anchor) == "23:00")
    assert outcome.fate is Fate.OVERRIDDEN
    assert any(
        "override 'storm'" in note and "hides 1 program change" in note for note in plan.notes
    )


def test_an_override_that_changes_the_level_shows_in_the_plan() -> None:
    dim = _override("works", 20, _at(21, 20, 0), _at(21, 21, 0), zone="centre")
    plan = plan_night(WEIFANG, RAMPED, [dim], NIGHT, zone="centre")

    starts = [change for change in plan.changes if change.cause.kind is CauseKind.OVERRIDE]
    assert [(change.at, change.level, change.override) for change in starts] == [
        (_at(21, 20, 0), 20, dim)
    ]
    assert level_at(plan, _at(21, 20, 30)) == 20
    assert level_at(plan, _at(21, 21, 0)) == 100
    assert "override 'works'" in str(starts[0].cause)


def test_an_override_expiring_in_the_middle_of_a_ramp() -> None:
    # The program ramps from 100 to 50 between 23:00 and 23:30. The override ends at 23:10:
    # the lamps go to where the ramp has got (83 %) and finish it with the program, at 23:30,
    # on exactly the program's curve.
    off = _override("blackout", 0, _at(21, 22, 0), _at(21, 23, 10), zone="centre")
    plan = plan_night(WEIFANG, RAMPED, [off], NIGHT, zone="centre")
    alone = _program_only(plan)

    resume = next(change for change in plan.changes if change.cause.kind is CauseKind.RESUME)
    assert resume.at == _at(21, 23, 10)
    assert resume.level == 50
    assert (resume.ramp_start, resume.start_level, resume.ramp) == (_at(21, 23), 100, 30 * MINUTE)
    assert resume.fade == 20 * MINUTE
    assert resume.settled_at == _at(21, 23, 30)
    assert level_at(plan, resume.at) == 83
    assert level_at(plan, _at(21, 23, 9)) == 0
    moment = _at(21, 23, 10)
    while moment < _at(22, 11, 0):
        assert level_at(plan, moment) == level_at(alone, moment), moment
        moment += 2 * MINUTE
    assert level_at(plan, _at(21, 23, 20)) == 67


def test_the_highest_priority_wins_and_the_lower_one_takes_over_after() -> None:
    low = _override("festival", 100, _at(21, 18, 0), _at(22, 2, 0), zone="centre", priority=1)
    high = _override("incident", 30, _at(21, 20, 0), _at(21, 21, 0), zone="centre", priority=9)
    plan = plan_night(WEIFANG, RAMPED, [high, low], NIGHT, zone="centre")

    assert override_in_force([high, low], _at(21, 20, 30)) is high
    assert override_in_force([high, low], _at(21, 21, 0)) is low
    assert override_in_force([high, low], _at(22, 3, 0)) is None
    assert level_at(plan, _at(21, 19, 0)) == 100
    assert level_at(plan, _at(21, 20, 30)) == 30
    assert level_at(plan, _at(21, 21, 30)) == 100
    assert level_at(plan, _at(22, 2, 30)) == 50
    back = next(change for change in plan.changes if change.at == _at(21, 21, 0))
    assert back.override is low


def test_ties_in_priority_go_to_the_later_start() -> None:
    first = _override("a", 10, _at(21, 18, 0), _at(21, 22, 0))
    second = _override("b", 20, _at(21, 19, 0), _at(21, 20, 0))

    assert override_in_force([second, first], _at(21, 19, 30)) is second
    assert override_in_force([first, second], _at(21, 19, 30)) is second


def test_targets_zone_lamp_and_every_zone() -> None:
    zone = _override("zone", 10, _at(21, 20, 0), _at(21, 21, 0), zone="centre")
    lamp = _override("lamp", 20, _at(21, 20, 0), _at(21, 21, 0), zone="centre", lamp="L-7")
    city = _override("city", 30, _at(21, 22, 0), _at(21, 23, 0))
    at_eight, at_ten = _at(21, 20, 30), _at(21, 22, 30)
    everything = [zone, lamp, city]

    centre = plan_night(WEIFANG, RAMPED, everything, NIGHT, zone="centre")
    lamp_plan = plan_night(WEIFANG, RAMPED, everything, NIGHT, zone="centre", lamp="L-7")
    north = plan_night(WEIFANG, RAMPED, everything, NIGHT, zone="north")

    assert (level_at(centre, at_eight), level_at(centre, at_ten)) == (10, 30)
    assert (level_at(lamp_plan, at_eight), level_at(lamp_plan, at_ten)) == (20, 30)
    assert (level_at(north, at_eight), level_at(north, at_ten)) == (100, 30)
    assert centre.overrides == (zone, city)
    assert lamp_plan.overrides == (zone, lamp, city)


def test_an_override_from_the_day_before_holds_at_the_start_of_the_night() -> None:
    long = _override("works", 60, _at(20, 9, 0), _at(21, 18, 0), zone="centre")
    plan = plan_night(WEIFANG, RAMPED, [long], NIGHT, zone="centre")

    first = plan.changes[0]
    assert first.at == plan.start
    assert first.level == 60
    assert level_at(plan, _at(21, 17, 59)) == 60
    assert level_at(plan, _at(21, 18, 0)) == 100  # the program: lit since sunset


def test_overrides_outside_the_night_change_nothing() -> None:
    past = _override("past", 60, _at(19, 20, 0), _at(19, 21, 0), zone="centre")
    plan = plan_night(WEIFANG, RAMPED, [past], NIGHT, zone="centre")

    assert plan.overrides == ()
    assert plan.changes == _program_only(plan).changes


@pytest.mark.parametrize(
    ("start", "end", "level", "message"),
    [
        (_at(21, 20), _at(21, 19), 10, "before it starts"),
        (_at(21, 20), _at(21, 20), 10, "before it starts"),
        (_at(21, 20).replace(tzinfo=None), _at(21, 21), 10, "naive"),
        (_at(21, 20), _at(21, 21), 101, "outside 0..100"),
    ],
)
def test_bad_overrides_are_refused(
    start: datetime.datetime, end: datetime.datetime, level: int, message: str
) -> None:
    with pytest.raises(InvalidOverrideError, match=message) as caught:
        Override("bad", level, start, end)
    assert isinstance(caught.value, ScheduleError)
    assert caught.value.name == "bad"
