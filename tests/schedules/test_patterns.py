"""The common programs in one line each, and how they behave on long and short nights."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from schedules import (
    Fate,
    InvalidProgramError,
    NightPlan,
    SolarEvent,
    SolarTime,
    all_night,
    evening_only,
    level_at,
    midnight_dimming,
    morning_only,
    parse_step,
    part_night,
    plan_night,
)
from tests.schedules.sites import BERLIN, WEIFANG

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN_TZ = ZoneInfo("Europe/Berlin")
WINTER = datetime.date(2026, 12, 21)
SUMMER = datetime.date(2026, 6, 21)
MINUTE = datetime.timedelta(minutes=1)


def _levels(plan: NightPlan) -> list[tuple[str, int]]:
    tz = plan.site.tzinfo
    return [(f"{change.at.astimezone(tz):%H:%M}", change.level) for change in plan.changes]


def test_each_pattern_is_one_declaration() -> None:
    assert [str(step) for step in all_night("a", 80).steps] == ["sunset 80%", "sunrise 0%"]
    assert [str(step) for step in evening_only("e", "22:00").steps] == [
        "sunset 100%",
        "22:00 0%",
    ]
    assert [str(step) for step in morning_only("m", "05:30", off="R+5").steps] == [
        "05:30 100%",
        "sunrise+5min 0%",
    ]
    assert [str(step) for step in part_night("p", 100, [("23:00", 50), ("05:00", 100)]).steps] == [
        "sunset 100%",
        "23:00 50%",
        "05:00 100%",
        "sunrise 0%",
    ]
    astro = midnight_dimming("d", 100, 50, "6h", ramp="5min")
    assert [str(step) for step in astro.steps] == [
        "sunset 100% over 5min",
        "solar-midnight-3h 50% over 5min",
        "solar-midnight+3h 100% over 5min",
        "sunrise 0% over 5min",
    ]
    assert astro.steps[1].anchor == SolarTime(SolarEvent.MIDNIGHT, -3 * 60 * MINUTE)


def test_all_night_runs_from_sunset_to_sunrise() -> None:
    plan = plan_night(WEIFANG, all_night("a", 80, on="sunset-10min"), (), WINTER)

    assert plan.sun.sunset is not None
    assert plan.sun.sunrise is not None
    assert [change.at for change in plan.changes] == [
        plan.sun.sunset - 10 * MINUTE,
        plan.sun.sunrise,
    ]
    assert [change.level for change in plan.changes] == [80, 0]


def test_evening_only_stops_at_its_time_and_never_lights_after_a_late_sunset() -> None:
    shops = evening_only("shops", until="21:00")
    winter = plan_night(BERLIN, shops, (), WINTER)
    summer = plan_night(BERLIN, shops, (), SUMMER)  # sunset 21:33 CEST

    assert winter.changes[-1].at == datetime.datetime(2026, 12, 21, 21, 0, tzinfo=BERLIN_TZ)
    assert [change.level for change in winter.changes] == [100, 0]
    assert summer.changes == ()  # not lit for a moment at sunset, not lit all night
    fates = {str(outcome.step.anchor): outcome.fate for outcome in summer.outcomes}
    assert fates == {"sunset": Fate.OVERRULED, "21:00": Fate.REDUNDANT}
    assert any("21:00 falls at 2026-06-21 21:00" in note for note in summer.notes)


def test_morning_only_does_not_light_the_day_when_the_sun_is_up_first() -> None:
    bus = morning_only("bus", start="05:00")
    winter = plan_night(WEIFANG, bus, (), WINTER)  # sunrise 07:12
    summer = plan_night(WEIFANG, bus, (), SUMMER)  # sunrise 04:45

    assert _levels(winter)[0] == ("05:00", 100)
    assert [change.level for change in winter.changes] == [100, 0]
    assert summer.changes == ()
    assert level_at(summer, datetime.datetime(2026, 6, 22, 9, 0, tzinfo=SHANGHAI)) == 0
    (early,) = (outcome for outcome in summer.outcomes if outcome.step.level == 100)
    assert early.fate is Fate.OVERRULED
    assert early.written_at == datetime.datetime(2026, 6, 22, 5, 0, tzinfo=SHANGHAI)
    assert early.at == summer.sun.sunrise


def test_part_night_dimming() -> None:
    road = part_night("road", 100, [("23:00", 50), ("05:00", 100)])
    winter = plan_night(WEIFANG, road, (), WINTER)
    summer = plan_night(WEIFANG, road, (), SUMMER)

    assert [level for _, level in _levels(winter)] == [100, 50, 100, 0]
    assert _levels(winter)[1:3] == [("23:00", 50), ("05:00", 100)]
    # In June the sun is up before 05:00: the lamps go off at sunrise and stay off.
    assert [level for _, level in _levels(summer)] == [100, 50, 0]
    assert summer.changes[-1].at == summer.sun.sunrise


def test_midnight_dimming_is_centred_on_solar_midnight() -> None:
    astro = midnight_dimming("astro", 100, dimmed=40, window="6h")
    plan = plan_night(WEIFANG, astro, (), WINTER)
    middle = plan.sun.solar_midnight

    on, dim, back, off = plan.changes
    assert (on.level, dim.level, back.level, off.level) == (100, 40, 100, 0)
    assert dim.at == middle - 3 * 60 * MINUTE
    assert back.at == middle + 3 * 60 * MINUTE
    assert dim.at + (back.at - dim.at) / 2 == middle


def test_a_dimming_window_longer_than_the_night_dims_the_whole_night() -> None:
    # Berlin's midsummer night lasts about 7.2 hours: a 10-hour window covers all of it,
    # so the lamps light at sunset at the dimmed level and go off at sunrise.
    plan = plan_night(BERLIN, midnight_dimming("astro", 100, 30, "10h"), (), SUMMER)

    assert [change.level for change in plan.changes] == [30, 0]
    assert plan.changes[0].at == plan.sun.sunset
    assert plan.changes[1].at == plan.sun.sunrise
    fates = [outcome.fate for outcome in plan.outcomes]
    assert fates == [Fate.OVERRULED, Fate.HELD, Fate.OVERRULED, Fate.FIRED]


def test_a_ramp_applies_to_each_step_of_a_pattern() -> None:
    plan = plan_night(WEIFANG, all_night("a", 100, ramp="10min"), (), WINTER)
    on = plan.changes[0]

    assert on.ramp == 10 * MINUTE
    assert level_at(plan, on.at) == 0
    assert level_at(plan, on.at + 5 * MINUTE) == 50
    assert level_at(plan, on.at + 10 * MINUTE) == 100


def test_patterns_refuse_what_makes_no_sense() -> None:
    with pytest.raises(InvalidProgramError, match="at least one dimming step"):
        part_night("p", 100, [])
    with pytest.raises(InvalidProgramError, match="window"):
        midnight_dimming("d", 100, 50, "24h")
    with pytest.raises(InvalidProgramError, match="window"):
        midnight_dimming("d", 100, 50, datetime.timedelta(0))
    assert parse_step("solar-midnight+1h", 20).anchor == SolarTime(SolarEvent.MIDNIGHT, 60 * MINUTE)
