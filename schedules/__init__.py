"""citylight's pure scheduling engine: sun times, dimming programs and night plans.

Nothing here reads the clock, sleeps or does I/O: the caller passes the site, the program
and the local date of the night, and gets back a ``NightPlan`` of level changes as aware
datetimes in the site's zone, with notes for everything it left out::

    site = Site("Weifang", 36.71, 119.16, "Asia/Shanghai")
    program = Program("standard", (parse_step("sunset-10min", 100), parse_step("23:00", 60),
                                   parse_step("01:00", 30), parse_step("sunrise+10min", 0)))
    plan = plan_night(site, program, datetime.date(2026, 6, 21))
    level_at(plan, instant)
"""

from schedules.errors import (
    InvalidInstantError,
    InvalidProgramError,
    InvalidSiteError,
    InvalidStepError,
    ScheduleError,
    SunComputationError,
)
from schedules.plan import Change, NightPlan, level_at, plan_night
from schedules.program import (
    Anchor,
    ClockTime,
    Program,
    SolarEvent,
    SolarTime,
    Step,
    parse_anchor,
    parse_step,
)
from schedules.site import Site
from schedules.sun import NightSun, SunCase, night_sun
from schedules.wallclock import LocalInstant, WallTimeKind, resolve_wall_time

__all__ = [
    "Anchor",
    "Change",
    "ClockTime",
    "InvalidInstantError",
    "InvalidProgramError",
    "InvalidSiteError",
    "InvalidStepError",
    "LocalInstant",
    "NightPlan",
    "NightSun",
    "Program",
    "ScheduleError",
    "Site",
    "SolarEvent",
    "SolarTime",
    "Step",
    "SunCase",
    "SunComputationError",
    "WallTimeKind",
    "level_at",
    "night_sun",
    "parse_anchor",
    "parse_step",
    "plan_night",
    "resolve_wall_time",
]
