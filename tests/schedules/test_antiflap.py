"""The anti-flap guard: no lit period shorter than min-lit, no dark gap shorter than min-gap."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from schedules import (
    AntiFlap,
    Calendar,
    Fate,
    Override,
    Program,
    evening_only,
    format_duration,
    level_at,
    parse_step,
    plan_night,
)
from tests.schedules.sites import WEIFANG

SHANGHAI = ZoneInfo("Asia/Shanghai")
SUMMER = datetime.date(2026, 6, 21)  # sunset 19:25
MINUTE = datetime.timedelta(minutes=1)


def _with(program: Program, guard: AntiFlap) -> Calendar:
    return Calendar(program.name, program, anti_flap=guard)


def test_a_lit_period_shorter_than_min_lit_is_dropped() -> None:
    shops = evening_only("shops", until="19:30")  # sunset 19:25: five minutes of light
    guarded = plan_night(WEIFANG, _with(shops, AntiFlap()), (), SUMMER)
    unguarded = plan_night(WEIFANG, _with(shops, AntiFlap.off()), (), SUMMER)

    assert guarded.changes == ()
    assert [outcome.fate for outcome in guarded.outcomes] == [Fate.ANTI_FLAP, Fate.ANTI_FLAP]
    (note,) = guarded.notes
    assert guarded.sun.sunset is not None
    lit = datetime.datetime(2026, 6, 21, 19, 30, tzinfo=SHANGHAI) - guarded.sun.sunset
    assert 4 * MINUTE < lit < 5 * MINUTE
    assert note.startswith(f"anti-flap: the lamps would be lit for only {format_duration(lit)}")
    assert note.endswith("they stay off")
    assert [change.level for change in unguarded.changes] == [100, 0]
    # The default guard is a calendar's; a lone program gets it too.
    assert plan_night(WEIFANG, shops, (), SUMMER).changes == ()


def test_a_gap_shorter_than_min_gap_is_bridged_at_the_level_before() -> None:
    program = Program(
        "gap",
        (
            parse_step("sunset", 80),
            parse_step("23:00", 0),
            parse_step("23:05", 40),
            parse_step("sunrise", 0),
        ),
    )
    plan = plan_night(WEIFANG, program, (), SUMMER)

    assert [(f"{change.at:%H:%M}", change.level) for change in plan.changes] == [
        ("19:25", 80),
        ("23:05", 40),
        ("04:45", 0),
    ]
    assert level_at(plan, datetime.datetime(2026, 6, 21, 23, 2, tzinfo=SHANGHAI)) == 80
    fates = [outcome.fate for outcome in plan.outcomes]
    assert fates == [Fate.FIRED, Fate.ANTI_FLAP, Fate.FIRED, Fate.FIRED]
    assert "they stay at 80%" in plan.notes[0]


def test_a_bridged_gap_back_to_the_same_level_leaves_no_change() -> None:
    program = Program(
        "blink",
        (
            parse_step("sunset", 60),
            parse_step("23:00", 0),
            parse_step("23:05", 60),
            parse_step("sunrise", 0),
        ),
    )
    plan = plan_night(WEIFANG, _with(program, AntiFlap(min_gap=6 * MINUTE)), (), SUMMER)

    assert [change.level for change in plan.changes] == [60, 0]
    assert plan.outcomes[2].fate is Fate.ANTI_FLAP


def test_a_lamp_lit_at_the_end_of_the_night_is_kept_however_short() -> None:
    program = Program("late", (parse_step("11:55", 100),))
    plan = plan_night(WEIFANG, program, (), SUMMER)

    assert [change.level for change in plan.changes] == [100]


def test_overrides_are_never_guarded() -> None:
    check = Override(
        "test",
        100,
        datetime.datetime(2026, 6, 21, 14, 0, tzinfo=SHANGHAI),
        datetime.datetime(2026, 6, 21, 14, 2, tzinfo=SHANGHAI),
    )
    plan = plan_night(WEIFANG, evening_only("e", "22:00"), [check], SUMMER)

    assert [(f"{change.at:%H:%M}", change.level) for change in plan.changes][:2] == [
        ("14:00", 100),
        ("14:02", 0),
    ]
