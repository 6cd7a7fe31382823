"""Properties of night plans, for any site, zone, night, calendar and overrides.

* Latitudes -66..66, every IANA zone (the site's longitude near the zone's offset, as a
  real site in that zone would be), every night of 2026, random calendars of random
  programs (patterns, ramps, every kind of anchor and rule) and random overrides: changes
  are ordered inside the night, levels within 0..100, the level defined at every instant,
  each override's level held while it wins, and the program's exactly everywhere else.
* Polar latitudes (66..90 either side): the same, and the polar cases explicit.
* A full year at a few real sites: the same every night, nights back to back.
"""

from __future__ import annotations

import datetime
import itertools
import zoneinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules import (
    AntiFlap,
    Calendar,
    ClockTime,
    DateRange,
    Dates,
    DaySelector,
    Fate,
    NightPlan,
    NthWeekday,
    Override,
    Program,
    Rule,
    Site,
    SolarEvent,
    SolarTime,
    Step,
    SunCase,
    Weekdays,
    Yearly,
    all_night,
    level_at,
    midnight_dimming,
    override_in_force,
    part_night,
    plan_night,
)
from tests.schedules.sites import BERLIN, MCMURDO, MURMANSK, STANDARD, SYDNEY, TROMSO, WEIFANG

UTC = datetime.UTC
ZONES = sorted(zoneinfo.available_timezones() - {"localtime", "Factory", "posixrules"})
MINUTE = datetime.timedelta(minutes=1)
FIRST, LAST = datetime.date(2026, 1, 1), datetime.date(2026, 12, 31)
ZONE = "centre"


def _longitude(zone: str, shift: float) -> float:
    """A longitude a site in ``zone`` could have: its January offset times 15, +- ``shift``."""
    offset = zoneinfo.ZoneInfo(zone).utcoffset(datetime.datetime(2026, 1, 15))  # noqa: DTZ001
    hours = 0.0 if offset is None else offset.total_seconds() / 3600
    return (15 * hours + shift + 180) % 360 - 180


def sites(latitudes: st.SearchStrategy[float]) -> st.SearchStrategy[Site]:
    return st.builds(
        lambda zone, latitude, shift: Site("random", latitude, _longitude(zone, shift), zone),
        st.sampled_from(ZONES),
        latitudes,
        st.floats(-20, 20),
    )


durations = st.integers(0, 3600).map(lambda seconds: datetime.timedelta(seconds=seconds))
anchors = st.one_of(
    st.builds(ClockTime, st.times()),
    st.builds(
        SolarTime,
        st.sampled_from(SolarEvent),
        st.integers(-11 * 60, 11 * 60).map(lambda minutes: minutes * MINUTE),
    ),
)
steps = st.builds(Step, anchors, st.integers(0, 100), st.one_of(st.just(MINUTE * 0), durations))
programs = st.one_of(
    st.just(STANDARD),
    st.builds(
        lambda level, ramp: all_night("all-night", level, ramp=ramp), st.integers(1, 100), durations
    ),
    st.builds(
        lambda dim, window: (
            part_night("part", 100, [("23:00", dim), ("05:00", 100)], ramp="1min")
            if window
            else midnight_dimming("astro", 100, dim, "5h")
        ),
        st.integers(0, 100),
        st.booleans(),
    ),
    st.lists(steps, min_size=1, max_size=6).map(lambda found: Program("random", tuple(found))),
)
days = st.dates(FIRST, LAST)
selectors: st.SearchStrategy[DaySelector] = st.one_of(
    st.builds(Weekdays, st.frozensets(st.integers(0, 6), min_size=1)),
    st.builds(lambda a, b: DateRange(min(a, b), max(a, b)), days, days),
    st.builds(lambda a, b: Yearly((a.month, a.day), (b.month, b.day)), days, days),
    st.builds(NthWeekday, st.integers(0, 6), st.sampled_from([1, 2, 3, 4, 5, -1])),
    st.builds(Dates, st.frozensets(days, min_size=1, max_size=4)),
)
rules = st.lists(st.tuples(programs, st.lists(selectors, min_size=1, max_size=2)), max_size=3).map(
    lambda found: tuple(
        Rule(f"rule-{number}", program, tuple(when)) for number, (program, when) in enumerate(found)
    )
)
guards = st.builds(AntiFlap, durations.map(lambda d: d / 2), durations.map(lambda d: d / 2))
calendars = st.builds(
    lambda default, found, guard: Calendar("random", default, found, guard), programs, rules, guards
)


@st.composite
def overrides_of(draw: st.DrawFn, night: NightPlan) -> list[Override]:
    """Up to three overrides around ``night`` (some for another zone, some city-wide)."""
    found = []
    for number in range(draw(st.integers(0, 3))):
        start = night.start.astimezone(UTC) + draw(st.integers(-12 * 60, 30 * 60)) * MINUTE
        end = start + draw(st.integers(1, 10 * 60)) * MINUTE  # elapsed time, in UTC
        found.append(
            Override(
                f"override-{number}",
                draw(st.integers(0, 100)),
                start.astimezone(night.site.tzinfo),
                end.astimezone(night.site.tzinfo),
                draw(st.integers(0, 3)),
                zone=draw(st.sampled_from([ZONE, "elsewhere", None])),
            )
        )
    return found


def _instants(plan: NightPlan) -> list[datetime.datetime]:
    """Every 17 minutes from an hour before the night to an hour after it, and around each
    change and the end of each ramp."""
    start, end = plan.start.astimezone(UTC), plan.end.astimezone(UTC)
    moments = []
    moment = start - 60 * MINUTE
    while moment < end + 60 * MINUTE:
        moments.append(moment)
        moment += 17 * MINUTE
    second = datetime.timedelta(seconds=1)
    for change in plan.changes:
        for at in (change.at, change.settled_at):
            moments.extend((at - second, at.astimezone(UTC), at + second))
    return moments


def check_plan(plan: NightPlan, site: Site) -> None:
    """The invariants every plan keeps."""
    instants = [change.at.astimezone(UTC) for change in plan.changes]
    start, end = plan.start.astimezone(UTC), plan.end.astimezone(UTC)
    assert all(earlier < later for earlier, later in itertools.pairwise(instants))
    assert all(start <= instant < end for instant in instants)
    assert all(change.at.tzinfo == site.tzinfo for change in plan.changes)
    for change in plan.changes:
        assert 0 <= change.level <= 100
        assert 0 <= change.start_level <= 100
        assert level_at(plan, change.at) == change.level_during(change.at)
    for previous, change in itertools.pairwise(plan.changes):
        settled = change.at.astimezone(UTC) >= previous.settled_at.astimezone(UTC)
        unchanged = (
            previous.level_during(change.at) == change.level == change.level_during(change.at)
        )
        assert not (settled and unchanged), change  # every change changes something
    for moment in _instants(plan):
        assert 0 <= level_at(plan, moment) <= 100
    assert level_at(plan, plan.start - datetime.timedelta(microseconds=1)) == 0
    assert [outcome.index for outcome in plan.outcomes] == list(range(len(plan.program.steps)))
    assert plan.program is plan.calendar.program_for(plan.date)


def check_overrides(plan: NightPlan) -> None:
    """While an override wins, its level; everywhere else in the night, the program's."""
    alone = plan_night(plan.site, plan.calendar, (), plan.date, zone=plan.zone)
    assert all(override.zone in (None, plan.zone) for override in plan.overrides)
    for moment in _instants(plan):
        if not plan.start.astimezone(UTC) <= moment < plan.end.astimezone(UTC):
            continue
        winner = override_in_force(plan.overrides, moment)
        expected = level_at(alone, moment) if winner is None else winner.level
        assert level_at(plan, moment) == expected, (moment, winner)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(site=sites(st.floats(-66, 66)), date=days, calendar=calendars, data=st.data())
def test_plans_are_ordered_in_range_and_defined_everywhere(
    site: Site, date: datetime.date, calendar: Calendar, data: st.DataObject
) -> None:
    bare = plan_night(site, calendar, (), date, zone=ZONE)
    check_plan(bare, site)
    plan = plan_night(site, calendar, data.draw(overrides_of(bare)), date, zone=ZONE)
    check_plan(plan, site)
    check_overrides(plan)


polar_latitudes = st.one_of(st.floats(66, 90), st.floats(-90, -66))
HORIZON = {SolarEvent.SUNSET, SolarEvent.SUNRISE}


@settings(max_examples=150, deadline=None)
@given(site=sites(polar_latitudes), date=days, calendar=calendars)
def test_polar_plans_keep_the_invariants_and_say_which_case_they_are(
    site: Site, date: datetime.date, calendar: Calendar
) -> None:
    plan = plan_night(site, calendar, (), date, zone=ZONE)
    check_plan(plan, site)
    sun = plan.sun
    on_horizon = [
        outcome
        for outcome in plan.outcomes
        if isinstance(outcome.step.anchor, SolarTime) and outcome.step.anchor.event in HORIZON
    ]
    if sun.case is SunCase.POLAR_DAY:
        assert sun.sunset is None
        assert sun.sunrise is None
        assert all(outcome.fate is Fate.SKIPPED for outcome in on_horizon)
        assert not on_horizon or any(note.startswith("polar day") for note in plan.notes)
    elif sun.case is SunCase.POLAR_NIGHT:
        # The night polar night begins keeps its last sunset, the night it ends its first
        # sunrise (found by hypothesis at the South Pole on the September equinox): never both.
        assert sun.sunset is None or sun.sunrise is None
        sunrise_steps = any(o.step.anchor.event is SolarEvent.SUNRISE for o in on_horizon)  # type: ignore[union-attr]
        if sun.sunrise is None and sunrise_steps:
            assert any(note.startswith("polar night") for note in plan.notes)
    else:
        missing = sun.sunset is None or sun.sunrise is None
        skipped = [outcome for outcome in on_horizon if outcome.fate is Fate.SKIPPED]
        assert bool(skipped) <= missing
        assert not skipped or any("outside the noon-to-noon night" in n for n in plan.notes)
    if sun.sunset is not None and sun.sunrise is not None:
        assert sun.sunset < sun.solar_midnight < sun.sunrise


YEAR_CALENDAR = Calendar(
    "year",
    part_night("road", 100, [("23:00", 50), ("05:00", 100)], ramp="2min"),
    rules=(
        Rule("eve", all_night("festival"), (Yearly((12, 24)),)),
        Rule(
            "weekend",
            midnight_dimming("astro", 90, 40, "6h", ramp="5min"),
            (Weekdays(frozenset({4, 5})),),
        ),
        Rule("market", STANDARD, (NthWeekday(2, -1),)),
    ),
)


@pytest.mark.parametrize(
    "site", [WEIFANG, BERLIN, SYDNEY, TROMSO, MCMURDO, MURMANSK], ids=lambda s: s.name
)
def test_every_night_of_a_year(site: Site) -> None:
    previous: NightPlan | None = None
    for number in range(365):
        plan = plan_night(site, YEAR_CALENDAR, (), FIRST + datetime.timedelta(days=number))
        check_plan(plan, site)
        if previous is not None:
            assert previous.end == plan.start
        previous = plan
