"""The lighting tables of the settings file: site, programs, calendars, zones, overrides.

Each table is a pydantic model that refuses unknown keys; the text forms ("sunset-10min",
"mon-fri", "12-24") are checked with the parsers of ``schedules`` so that an error names
the key it came from.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Self

from pydantic import Field, field_validator, model_validator

from lighting.config.section import Section
from schedules import (
    DateRange,
    Dates,
    DaySelector,
    Program,
    ScheduleError,
    all_night,
    evening_only,
    midnight_dimming,
    morning_only,
    parse_anchor,
    parse_duration,
    parse_nth_weekday,
    parse_step,
    parse_weekdays,
    parse_yearly,
    part_night,
)


class SiteConfig(Section):
    name: str = Field(min_length=1, max_length=100)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    timezone: str = Field(min_length=1, description="an IANA time zone such as Asia/Shanghai")


def _checked(parse: Callable[[str], object], value: str) -> str:
    """``value`` if ``parse`` accepts it; its ``ScheduleError`` as the ``ValueError`` pydantic
    reports under the key being validated."""
    try:
        parse(value)
    except ScheduleError as err:
        raise ValueError(str(err)) from err
    return value


def _anchor(value: str) -> str:
    return _checked(parse_anchor, value)


def _duration(value: str) -> str:
    return _checked(parse_duration, value)


class StepConfig(Section):
    at: str = Field(description='"sunset-10min", "23:00", "sunrise+10min", "S+30", ...')
    level: int = Field(ge=0, le=100)
    ramp: str = Field(default="0s", description='fade time: "30s", "2min" (at most 1h)')

    _at = field_validator("at")(_anchor)
    _ramp = field_validator("ramp")(_duration)


class _LitPattern(Section):
    """What every one-line pattern has: the level it lights at and its fade."""

    level: int = Field(default=100, ge=0, le=100)
    ramp: str = "0s"

    _ramp = field_validator("ramp")(_duration)


class AllNightConfig(_LitPattern):
    on: str = "sunset"
    off: str = "sunrise"

    _anchors = field_validator("on", "off")(_anchor)


class EveningConfig(_LitPattern):
    until: str
    on: str = "sunset"

    _anchors = field_validator("until", "on")(_anchor)


class MorningConfig(_LitPattern):
    start: str = Field(alias="from")
    off: str = "sunrise"

    _anchors = field_validator("start", "off")(_anchor)


class PartNightConfig(_LitPattern):
    dim: list[StepConfig] = Field(min_length=1)
    on: str = "sunset"
    off: str = "sunrise"

    _anchors = field_validator("on", "off")(_anchor)


class MidnightDimConfig(Section):
    dimmed: int = Field(ge=0, le=100)
    window: str = Field(description='length of the dimmed window around solar midnight: "6h"')
    level: int = Field(default=100, ge=0, le=100)
    on: str = "sunset"
    off: str = "sunrise"
    ramp: str = "0s"

    _anchors = field_validator("on", "off")(_anchor)
    _durations = field_validator("window", "ramp")(_duration)


_PROGRAM_FORMS = ("steps", "all-night", "evening", "morning", "part-night", "midnight-dim")


class ProgramConfig(Section):
    """A program: its own ``steps``, or exactly one of the common patterns."""

    description: str = ""
    steps: list[StepConfig] | None = Field(default=None, min_length=1)
    all_night: AllNightConfig | None = Field(default=None, alias="all-night")
    evening: EveningConfig | None = None
    morning: MorningConfig | None = None
    part_night: PartNightConfig | None = Field(default=None, alias="part-night")
    midnight_dim: MidnightDimConfig | None = Field(default=None, alias="midnight-dim")

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        given = [
            form
            for form, value in zip(_PROGRAM_FORMS, self._forms(), strict=True)
            if value is not None
        ]
        if len(given) != 1:
            found = ", ".join(given) or "none"
            raise ValueError(f"give exactly one of {', '.join(_PROGRAM_FORMS)} (found: {found})")
        return self

    def _forms(self) -> tuple[object, ...]:
        return (
            self.steps,
            self.all_night,
            self.evening,
            self.morning,
            self.part_night,
            self.midnight_dim,
        )

    def value(self, name: str) -> Program:
        """The ``schedules.Program`` this table declares."""
        if self.steps is not None:
            return Program(name, tuple(parse_step(s.at, s.level, s.ramp) for s in self.steps))
        if (p := self.all_night) is not None:
            return all_night(name, p.level, on=p.on, off=p.off, ramp=p.ramp)
        if (e := self.evening) is not None:
            return evening_only(name, e.until, e.level, on=e.on, ramp=e.ramp)
        if (m := self.morning) is not None:
            return morning_only(name, m.start, m.level, off=m.off, ramp=m.ramp)
        if (n := self.part_night) is not None:
            dims = [  # a dimming step's own ramp, else the pattern's
                parse_step(s.at, s.level, s.ramp if "ramp" in s.model_fields_set else n.ramp)
                for s in n.dim
            ]
            return part_night(name, n.level, dims, on=n.on, off=n.off, ramp=n.ramp)
        if (d := self.midnight_dim) is not None:
            return midnight_dimming(
                name, d.level, d.dimmed, d.window, on=d.on, off=d.off, ramp=d.ramp
            )
        raise ScheduleError(f"program {name!r} declares no steps")  # _one_form prevents it


class RuleConfig(Section):
    """A calendar rule: ``program`` on the nights matching every selector given."""

    name: str = Field(min_length=1)
    program: str
    description: str = ""
    weekdays: list[str] | None = Field(default=None, description='"mon-fri" or ["sat", "sun"]')
    first: datetime.date | None = Field(default=None, alias="from")
    until: datetime.date | None = None
    yearly: str | None = Field(default=None, description='"12-24" or "12-20..01-06"')
    nth: str | None = Field(default=None, description='"second monday of may", "last friday"')
    dates: list[datetime.date] | None = Field(default=None, min_length=1)

    @field_validator("weekdays", mode="before")
    @classmethod
    def _one_string(cls, value: object) -> object:
        return value.split(",") if isinstance(value, str) else value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str] | None) -> list[str] | None:
        try:
            _ = value is None or parse_weekdays(value)
        except ScheduleError as err:
            raise ValueError(str(err)) from err
        return value

    _yearly = field_validator("yearly")(lambda value: _checked(parse_yearly, value))
    _nth = field_validator("nth")(lambda value: _checked(parse_nth_weekday, value))

    @model_validator(mode="after")
    def _selectors(self) -> Self:
        if not self.selectors():
            raise ValueError(
                "a rule needs at least one of weekdays, from/until, yearly, nth or dates "
                "(the calendar's default covers every other night)"
            )
        if self.first and self.until and self.first > self.until:
            raise ValueError(f"from {self.first} is after until {self.until}")
        return self

    def selectors(self) -> tuple[DaySelector, ...]:
        found: list[DaySelector] = []
        if self.weekdays is not None:
            found.append(parse_weekdays(self.weekdays))
        if self.first is not None or self.until is not None:
            found.append(DateRange(self.first, self.until))
        if self.yearly is not None:
            found.append(parse_yearly(self.yearly))
        if self.nth is not None:
            found.append(parse_nth_weekday(self.nth))
        if self.dates is not None:
            found.append(Dates(frozenset(self.dates)))
        return tuple(found)


class CalendarConfig(Section):
    """Rules in order (the first matching one wins), then the ``default`` program."""

    default: str
    description: str = ""
    min_lit: str = Field(default="10min", alias="min-lit", description="anti-flap: shortest lit")
    min_gap: str = Field(default="10min", alias="min-gap", description="anti-flap: shortest gap")
    rules: list[RuleConfig] = Field(default_factory=list)

    _guards = field_validator("min_lit", "min_gap")(_duration)


class OverrideConfig(Section):
    """A level held for a zone (or a lamp, or every zone) from ``start`` to ``end``.

    Times without an offset are read in the site's zone."""

    name: str = Field(min_length=1)
    level: int = Field(ge=0, le=100)
    start: datetime.datetime
    end: datetime.datetime
    priority: int = 0
    zone: str | None = None
    lamp: str | None = None
    reason: str = ""


class ZoneConfig(Section):
    """A zone runs a ``calendar``, or a ``program`` every night."""

    program: str | None = None
    calendar: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _one_schedule(self) -> Self:
        if (self.program is None) == (self.calendar is None):
            raise ValueError("give either program or calendar")
        return self
