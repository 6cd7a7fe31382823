"""Calendars: which program runs on which night, first matching rule wins.

A calendar is an ordered list of rules, then a default program, as TALQ calendars and
uCIFI's scheduler objects work::

    Calendar(
        "city",
        default=main_road,
        rules=(
            Rule("spring-festival", festival, (DateRange(date(2026, 2, 16), date(2026, 2, 22)),)),
            Rule("christmas-eve", festival, (Yearly((12, 24)),)),
            Rule("weekend", late, (Weekdays(frozenset({4, 5})),)),
        ),
    )

A rule matches a night when *all* of its selectors match the night's date (the evening's
date: a night runs from noon to noon, so Saturday's 01:00 step is part of Saturday's
night). Put special days first: the first rule that matches wins, and ``validate`` reports
a rule that can never win because earlier ones take all of its nights.

The calendar also carries the anti-flap guard (``AntiFlap``) applied to its programs.
A ``Program`` is accepted wherever a calendar is: it is a calendar with only a default.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from schedules.const import MIN_GAP, MIN_LIT
from schedules.days import DateRange, Dates, DaySelector, NthWeekday, Weekdays, Yearly
from schedules.errors import InvalidCalendarError, InvalidRuleError
from schedules.program import Program, format_duration

__all__ = ["AntiFlap", "Calendar", "Rule", "as_calendar"]

_SELECTORS = (Weekdays, DateRange, Yearly, NthWeekday, Dates)
_LONGEST_GUARD = datetime.timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class AntiFlap:
    """A program never lights the lamps for less than ``min_lit``, and never switches them
    off for less than ``min_gap`` in the middle of the night.

    A lit period shorter than ``min_lit`` is dropped (the lamps stay off); a dark gap
    shorter than ``min_gap`` is bridged (the lamps stay at the level before it). A lit
    period still running at the end of the night is kept whatever its length. Overrides
    are operators' decisions and are never changed by the guard.
    """

    min_lit: datetime.timedelta = MIN_LIT
    min_gap: datetime.timedelta = MIN_GAP

    def __post_init__(self) -> None:
        for name in ("min_lit", "min_gap"):
            value = getattr(self, name)
            if not isinstance(value, datetime.timedelta) or not (
                datetime.timedelta(0) <= value <= _LONGEST_GUARD
            ):
                raise InvalidCalendarError(
                    f"{name} must be a duration of 0 to 6h", name="anti-flap"
                )

    @classmethod
    def off(cls) -> AntiFlap:
        """No guard: every change of the program is kept."""
        return cls(datetime.timedelta(0), datetime.timedelta(0))

    def __str__(self) -> str:
        return f"min-lit {format_duration(self.min_lit)}, min-gap {format_duration(self.min_gap)}"


@dataclass(frozen=True, slots=True)
class Rule:
    """Run ``program`` on the nights whose date matches every selector of ``when``."""

    name: str
    program: Program
    when: tuple[DaySelector, ...]
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidRuleError("a rule needs a name")
        if not isinstance(self.program, Program):
            raise InvalidRuleError(f"{self.program!r} is not a Program", rule=self.name)
        when = (self.when,) if isinstance(self.when, _SELECTORS) else self.when
        if not isinstance(when, tuple | list) or not when:
            raise InvalidRuleError(
                "needs at least one day selector (weekdays, dates, a date range, a yearly day "
                "or an nth weekday); the calendar's default covers every other night",
                rule=self.name,
            )
        for selector in when:
            if not isinstance(selector, _SELECTORS):
                raise InvalidRuleError(f"{selector!r} is not a day selector", rule=self.name)
        object.__setattr__(self, "when", tuple(when))

    def matches(self, date: datetime.date) -> bool:
        """True when the night of ``date`` satisfies every selector."""
        return all(selector.matches(date) for selector in self.when)

    @property
    def condition(self) -> str:
        """The selectors in words: "every 24 December", "Saturday and Sunday, from ..."."""
        return ", ".join(str(selector) for selector in self.when)

    def __str__(self) -> str:
        return f"rule {self.name!r} ({self.condition})"


@dataclass(frozen=True, slots=True)
class Calendar:
    """Rules in order (the first that matches a night wins), then the ``default`` program."""

    name: str
    default: Program
    rules: tuple[Rule, ...] = ()
    anti_flap: AntiFlap = AntiFlap()

    def __post_init__(self) -> None:
        if not isinstance(self.default, Program):
            raise InvalidCalendarError(f"default {self.default!r} is not a Program", name=self.name)
        if not isinstance(self.rules, tuple | list):
            raise InvalidCalendarError("rules must be a tuple of Rule", name=self.name)
        object.__setattr__(self, "rules", tuple(self.rules))
        seen: set[str] = set()
        for rule in self.rules:
            if not isinstance(rule, Rule):
                raise InvalidCalendarError(f"{rule!r} is not a Rule", name=self.name)
            if rule.name in seen:
                raise InvalidCalendarError(f"two rules are named {rule.name!r}", name=self.name)
            seen.add(rule.name)
        if not isinstance(self.anti_flap, AntiFlap):
            raise InvalidCalendarError("anti_flap must be an AntiFlap", name=self.name)

    def select(self, date: datetime.date) -> Rule | None:
        """The first rule matching the night of ``date``; None when the default applies."""
        return next((rule for rule in self.rules if rule.matches(date)), None)

    def program_for(self, date: datetime.date) -> Program:
        """The program that runs on the night of ``date``."""
        rule = self.select(date)
        return self.default if rule is None else rule.program

    @property
    def programs(self) -> tuple[Program, ...]:
        """Every program the calendar can run, the default first, without repeats."""
        return tuple(dict.fromkeys((self.default, *(rule.program for rule in self.rules))))


def as_calendar(value: Calendar | Program) -> Calendar:
    """``value`` itself, or a calendar that runs the program ``value`` every night."""
    if isinstance(value, Calendar):
        return value
    if isinstance(value, Program):
        return Calendar(value.name, value)
    raise InvalidCalendarError(f"{value!r} is neither a Calendar nor a Program", name="?")
