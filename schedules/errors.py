"""Errors of the schedules package.

One base, two levels, structured attributes::

    ScheduleError
    ├── InvalidSiteError      a site that cannot be planned for (field, value)
    ├── InvalidStepError      a program step or anchor that cannot be used (text, level)
    ├── InvalidProgramError   a program that cannot be used (name)
    ├── InvalidRuleError      a calendar rule or day selector that cannot be used (rule, text)
    ├── InvalidCalendarError  a calendar that cannot be used (name)
    ├── InvalidOverrideError  an override that cannot be used (name)
    ├── InvalidInstantError   a datetime the engine refuses, e.g. a naive one (value)
    └── SunComputationError   astral failed for a reason other than the sun's geometry (date)

Validation findings (``schedules.validate``) are values, not exceptions: a calendar with
errors is still a calendar; the caller decides whether to refuse it.

astral signals "this event does not happen on this date" with a ``ValueError``; ``sun.py``
turns that into an explicit polar-day / polar-night result, never into an error. Any other
failure of astral (or of the date arithmetic around it) is translated into
``SunComputationError`` with ``raise ... from err``.
"""

from __future__ import annotations

import datetime


class ScheduleError(Exception):
    """Base of every error raised by the schedules package."""


class InvalidSiteError(ScheduleError):
    """A site whose coordinates or time zone cannot be used."""

    def __init__(self, message: str, *, field: str, value: object) -> None:
        super().__init__(f"site {field}={value!r}: {message}")
        self.field = field
        self.value = value


class InvalidStepError(ScheduleError):
    """A program step, or the text of its anchor, that cannot be used.

    ``text`` is the anchor text as given (when the error comes from parsing), ``level`` the
    offending level (when the error is about the level).
    """

    def __init__(self, message: str, *, text: str | None = None, level: object = None) -> None:
        super().__init__(message)
        self.text = text
        self.level = level


class InvalidProgramError(ScheduleError):
    """A program that cannot be used, e.g. one without steps."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(f"program {name!r}: {message}")
        self.name = name


class InvalidRuleError(ScheduleError):
    """A calendar rule, or the text of one of its day selectors, that cannot be used.

    ``rule`` names the rule (when known), ``text`` is the selector text as given.
    """

    def __init__(self, message: str, *, rule: str | None = None, text: str | None = None) -> None:
        super().__init__(f"rule {rule!r}: {message}" if rule else message)
        self.rule = rule
        self.text = text


class InvalidCalendarError(ScheduleError):
    """A calendar that cannot be used, e.g. two rules with one name."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(f"calendar {name!r}: {message}")
        self.name = name


class InvalidOverrideError(ScheduleError):
    """An override that cannot be used: naive or reversed times, a level out of range."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(f"override {name!r}: {message}")
        self.name = name


class InvalidInstantError(ScheduleError):
    """A datetime the engine cannot place on the time line (a naive one)."""

    def __init__(self, message: str, *, value: datetime.datetime) -> None:
        super().__init__(f"{value.isoformat()}: {message}")
        self.value = value


class SunComputationError(ScheduleError):
    """astral failed on a date for a reason other than the sun not crossing an elevation."""

    def __init__(self, message: str, *, date: datetime.date) -> None:
        super().__init__(f"{date.isoformat()}: {message}")
        self.date = date
