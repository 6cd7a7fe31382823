"""citylight's pure scheduling engine: sun times, programs, calendars, overrides, night
plans and their validation.

Nothing here reads the clock, sleeps or does I/O: the caller passes the site, the calendar,
the overrides and the local date of the night, and gets back a ``NightPlan`` of level
changes as aware datetimes in the site's zone, each with its cause, and notes for
everything it left out::

    site = Site("Weifang", 36.71, 119.16, "Asia/Shanghai")
    road = part_night("road", 100, [("23:00", 50), ("05:00", 100)])
    city = Calendar("city", road, rules=(Rule("eve", all_night("full"), (Yearly((12, 24)),)),))
    plan = plan_night(site, city, overrides, datetime.date(2026, 12, 24), zone="centre")
    level_at(plan, instant)
    validate(city, site, datetime.date(2026, 1, 1))  # a year of nights, with dates
"""

from schedules.calendar import AntiFlap, Calendar, Rule, as_calendar
from schedules.days import (
    DateRange,
    Dates,
    DaySelector,
    NthWeekday,
    Weekdays,
    Yearly,
    parse_nth_weekday,
    parse_weekdays,
    parse_yearly,
)
from schedules.errors import (
    InvalidCalendarError,
    InvalidInstantError,
    InvalidOverrideError,
    InvalidProgramError,
    InvalidRuleError,
    InvalidSiteError,
    InvalidStepError,
    ScheduleError,
    SunComputationError,
)
from schedules.override import Override, override_in_force
from schedules.patterns import (
    all_night,
    evening_only,
    midnight_dimming,
    morning_only,
    part_night,
)
from schedules.plan import (
    Cause,
    CauseKind,
    Change,
    NightPlan,
    change_in_force,
    level_at,
    plan_night,
    plan_zones,
)
from schedules.program import (
    Anchor,
    ClockTime,
    Program,
    SolarEvent,
    SolarTime,
    Step,
    format_duration,
    is_bounding,
    parse_anchor,
    parse_duration,
    parse_step,
)
from schedules.resolve import Fate, StepOutcome
from schedules.site import Site
from schedules.sun import NightSun, SunCase, night_sun
from schedules.validate import Problem, Report, Severity, describe_dates, validate
from schedules.wallclock import LocalInstant, WallTimeKind, night_of, resolve_wall_time

__all__ = [
    "Anchor",
    "AntiFlap",
    "Calendar",
    "Cause",
    "CauseKind",
    "Change",
    "ClockTime",
    "DateRange",
    "Dates",
    "DaySelector",
    "Fate",
    "InvalidCalendarError",
    "InvalidInstantError",
    "InvalidOverrideError",
    "InvalidProgramError",
    "InvalidRuleError",
    "InvalidSiteError",
    "InvalidStepError",
    "LocalInstant",
    "NightPlan",
    "NightSun",
    "NthWeekday",
    "Override",
    "Problem",
    "Program",
    "Report",
    "Rule",
    "ScheduleError",
    "Severity",
    "Site",
    "SolarEvent",
    "SolarTime",
    "Step",
    "StepOutcome",
    "SunCase",
    "SunComputationError",
    "WallTimeKind",
    "Weekdays",
    "Yearly",
    "all_night",
    "as_calendar",
    "change_in_force",
    "describe_dates",
    "evening_only",
    "format_duration",
    "is_bounding",
    "level_at",
    "midnight_dimming",
    "morning_only",
    "night_of",
    "night_sun",
    "override_in_force",
    "parse_anchor",
    "parse_duration",
    "parse_nth_weekday",
    "parse_step",
    "parse_weekdays",
    "parse_yearly",
    "part_night",
    "plan_night",
    "plan_zones",
    "resolve_wall_time",
    "validate",
]
