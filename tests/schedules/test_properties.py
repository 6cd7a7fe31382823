"""Property: any site between 60 S and 60 N, any night of 2026, any program gives a plan
whose changes are strictly ordered, inside the night and within 0..100."""

from __future__ import annotations

import datetime
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from schedules import (
    ClockTime,
    Program,
    Site,
    SolarEvent,
    SolarTime,
    Step,
    level_at,
    plan_night,
)

ZONES = [
    "Asia/Shanghai",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "UTC",
]
STANDARD_STEPS = (
    Step(SolarTime(SolarEvent.SUNSET, datetime.timedelta(minutes=-10)), 100),
    Step(ClockTime(datetime.time(23, 0)), 60),
    Step(ClockTime(datetime.time(1, 0)), 30),
    Step(SolarTime(SolarEvent.SUNRISE, datetime.timedelta(minutes=10)), 0),
)

sites = st.builds(
    Site,
    name=st.just("random"),
    latitude=st.floats(-60, 60),
    longitude=st.floats(-180, 180),
    timezone=st.sampled_from(ZONES),
)
dates = st.dates(datetime.date(2026, 1, 1), datetime.date(2026, 12, 31))
anchors = st.one_of(
    st.builds(ClockTime, st.times()),
    st.builds(
        SolarTime,
        st.sampled_from(SolarEvent),
        st.integers(-11 * 60, 11 * 60).map(lambda minutes: datetime.timedelta(minutes=minutes)),
    ),
)
steps = st.builds(Step, anchors, st.integers(0, 100))
programs = st.one_of(
    st.just(Program("standard", STANDARD_STEPS)),
    st.lists(steps, min_size=1, max_size=6).map(lambda found: Program("random", tuple(found))),
)


@settings(max_examples=150, deadline=None)
@given(site=sites, date=dates, program=programs)
def test_plans_are_ordered_inside_the_night_and_in_range(
    site: Site, date: datetime.date, program: Program
) -> None:
    plan = plan_night(site, program, date)
    instants = [change.at.astimezone(datetime.UTC) for change in plan.changes]
    start, end = plan.start.astimezone(datetime.UTC), plan.end.astimezone(datetime.UTC)

    assert all(earlier < later for earlier, later in itertools.pairwise(instants))
    assert all(start <= instant < end for instant in instants)
    assert all(0 <= change.level <= 100 for change in plan.changes)
    assert all(change.at.tzinfo == site.tzinfo for change in plan.changes)
    levels = [0, *(change.level for change in plan.changes)]
    assert all(before != after for before, after in itertools.pairwise(levels))
    for change in plan.changes:
        assert level_at(plan, change.at) == change.level
    assert level_at(plan, plan.start - datetime.timedelta(microseconds=1)) == 0
