"""Day selectors: which nights a calendar rule applies to.

A selector looks at the *date of the night*, the evening's date: the night of Saturday
24 December runs from Saturday noon to Sunday noon, so its 01:00 step belongs to Saturday.

=================  ===============================  ==========================================
selector           text (``parse_*``)               matches
=================  ===============================  ==========================================
``Weekdays``       ``mon-fri``, ``sat,sun``         those days of the week
``DateRange``      (two dates)                      every night from ``first`` to ``last``
``Yearly``         ``12-24``, ``12-20..01-06``      those days every year (a range may wrap)
``NthWeekday``     ``second monday of may``,        the nth (1st to 5th) or last such day
                   ``last friday``                  of those months (every month if none)
``Dates``          (a set of dates)                 exactly those nights
=================  ===============================  ==========================================

``str(selector)`` reads as English ("every 24 December", "the last Friday of every month").
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from schedules.errors import InvalidRuleError

__all__ = [
    "DateRange",
    "Dates",
    "DaySelector",
    "NthWeekday",
    "Weekdays",
    "Yearly",
    "parse_nth_weekday",
    "parse_weekdays",
    "parse_yearly",
]

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "last": -1,
}
_ORDINAL_NAMES = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}
_ALL_MONTHS = frozenset(range(1, 13))
_LEAP_YEAR = 2000  # month-day pairs are checked against a leap year, so 02-29 is allowed


@dataclass(frozen=True, slots=True)
class Weekdays:
    """Days of the week, 0 = Monday to 6 = Sunday (``datetime.date.weekday``)."""

    days: frozenset[int]

    def __post_init__(self) -> None:
        days = frozenset(self.days)
        if not days or not days <= frozenset(range(7)):
            raise InvalidRuleError(f"weekdays must be a non-empty subset of 0..6, not {days}")
        object.__setattr__(self, "days", days)

    def matches(self, date: datetime.date) -> bool:
        return date.weekday() in self.days

    def __str__(self) -> str:
        days = sorted(self.days)
        names = [_DAY_NAMES[day].capitalize() for day in days]
        if len(days) >= 3 and days == list(range(days[0], days[-1] + 1)):
            return f"{names[0]} to {names[-1]}"
        return _and(names)


@dataclass(frozen=True, slots=True)
class DateRange:
    """Every night from ``first`` to ``last``, both included; either end may be open."""

    first: datetime.date | None = None
    last: datetime.date | None = None

    def __post_init__(self) -> None:
        for end in (self.first, self.last):
            if isinstance(end, datetime.datetime) or not isinstance(end, datetime.date | None):
                raise InvalidRuleError(f"a date range takes dates, not {end!r}")
        if self.first is None and self.last is None:
            raise InvalidRuleError("a date range needs a first or a last date")
        if self.first is not None and self.last is not None and self.first > self.last:
            raise InvalidRuleError(f"the date range {self.first} to {self.last} is reversed")

    def matches(self, date: datetime.date) -> bool:
        return (self.first is None or self.first <= date) and (
            self.last is None or date <= self.last
        )

    def __str__(self) -> str:
        if self.last is None:
            return f"from {self.first}"
        if self.first is None:
            return f"until {self.last}"
        return f"from {self.first} to {self.last}"


@dataclass(frozen=True, slots=True)
class Yearly:
    """The same days every year: ``first`` to ``last`` as (month, day), wrapping over the
    new year when ``last`` comes before ``first``; ``last`` defaults to ``first``."""

    first: tuple[int, int]
    last: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "first", _month_day(self.first))
        object.__setattr__(self, "last", self.first if self.last is None else _month_day(self.last))

    def matches(self, date: datetime.date) -> bool:
        key = (date.month, date.day)
        last = self.last or self.first
        if self.first <= last:
            return self.first <= key <= last
        return key >= self.first or key <= last

    def __str__(self) -> str:
        if self.last == self.first:
            return f"every {_day_text(self.first)}"
        return f"every year from {_day_text(self.first)} to {_day_text(self.last or self.first)}"


@dataclass(frozen=True, slots=True)
class NthWeekday:
    """The ``nth`` (1 to 5, or -1 for the last) ``weekday`` of each month in ``months``."""

    weekday: int
    nth: int
    months: frozenset[int] = _ALL_MONTHS

    def __post_init__(self) -> None:
        if self.weekday not in range(7):
            raise InvalidRuleError(f"weekday {self.weekday!r} is not 0 (Monday) to 6 (Sunday)")
        if self.nth not in _ORDINAL_NAMES:
            raise InvalidRuleError(f"nth {self.nth!r} is not 1 to 5 or -1 (the last)")
        months = frozenset(self.months)
        if not months or not months <= _ALL_MONTHS:
            raise InvalidRuleError(f"months must be a non-empty subset of 1..12, not {months}")
        object.__setattr__(self, "months", months)

    def matches(self, date: datetime.date) -> bool:
        if date.weekday() != self.weekday or date.month not in self.months:
            return False
        if self.nth == -1:
            return (date + datetime.timedelta(days=7)).month != date.month
        return (date.day - 1) // 7 + 1 == self.nth

    def __str__(self) -> str:
        months = (
            "every month"
            if self.months == _ALL_MONTHS
            else _and([_MONTH_NAMES[m - 1].capitalize() for m in sorted(self.months)])
        )
        day = _DAY_NAMES[self.weekday].capitalize()
        return f"the {_ORDINAL_NAMES[self.nth]} {day} of {months}"


@dataclass(frozen=True, slots=True)
class Dates:
    """Exactly these nights: special days such as a festival or a holiday."""

    dates: frozenset[datetime.date]

    def __post_init__(self) -> None:
        dates = frozenset(self.dates)
        if not dates:
            raise InvalidRuleError("a list of special days needs at least one date")
        for date in dates:
            if isinstance(date, datetime.datetime) or not isinstance(date, datetime.date):
                raise InvalidRuleError(f"special days are dates, not {date!r}")
        object.__setattr__(self, "dates", dates)

    def matches(self, date: datetime.date) -> bool:
        return date in self.dates

    def __str__(self) -> str:
        shown = [str(date) for date in sorted(self.dates)]
        if len(shown) > 4:
            shown = [*shown[:3], f"{len(shown) - 3} more"]
        return f"on {_and(shown)}"


DaySelector: TypeAlias = Weekdays | DateRange | Yearly | NthWeekday | Dates


def parse_weekdays(text: str | Iterable[str]) -> Weekdays:
    """``"mon-fri"``, ``"sat,sun"``, ``"friday-monday"`` (wraps) or a list of such parts."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    days: set[int] = set()
    for part in parts:
        if not isinstance(part, str):
            raise InvalidRuleError(f"cannot read weekday {part!r}", text=str(part))
        first, dash, last = part.strip().partition("-")
        start = _weekday(first, part)
        end = _weekday(last, part) if dash else start
        days.update((start + shift) % 7 for shift in range((end - start) % 7 + 1))
    if not days:
        raise InvalidRuleError("no weekdays given", text=str(text))
    return Weekdays(frozenset(days))


_YEARLY = re.compile(r"(\d{1,2})-(\d{1,2})(?:\s*\.\.\s*(\d{1,2})-(\d{1,2}))?")


def parse_yearly(text: str) -> Yearly:
    """``"12-24"`` (month-day) or a range ``"12-20..01-06"``, which may wrap."""
    match = _YEARLY.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidRuleError(
            f"cannot read yearly day {text!r}: write MM-DD or MM-DD..MM-DD (12-24, 12-20..01-06)",
            text=str(text),
        )
    numbers = [int(group) if group else None for group in match.groups()]
    first = (numbers[0] or 0, numbers[1] or 0)
    last = None if numbers[2] is None else (numbers[2], numbers[3] or 0)
    try:
        return Yearly(first, last)
    except InvalidRuleError as err:
        raise InvalidRuleError(f"cannot use yearly day {text!r}: {err}", text=text) from err


_NTH = re.compile(r"(?:the\s+)?(\w+)\s+(\w+)(?:\s+of\s+(.+))?", re.IGNORECASE)


def parse_nth_weekday(text: str) -> NthWeekday:
    """``"second monday of may"``, ``"last friday"``, ``"1st sun of march, september"``."""
    match = _NTH.fullmatch(text.strip()) if isinstance(text, str) else None
    nth = _ORDINALS.get(match[1].lower()) if match else None
    if match is None or nth is None:
        raise InvalidRuleError(
            f"cannot read {text!r}: write e.g. 'second monday of may', 'last friday' "
            "(first to fifth, or last; months optional)",
            text=str(text),
        )
    weekday = _weekday(match[2], text)
    months = _ALL_MONTHS
    if match[3] and match[3].strip().lower() not in ("every month", "month"):
        months = frozenset(
            _month(name, text) for name in re.split(r"\s*(?:,|\band\b)\s*", match[3])
        )
    return NthWeekday(weekday, nth, months)


def _weekday(name: str, text: str) -> int:
    key = name.strip().lower()
    found = [index for index, day in enumerate(_DAY_NAMES) if len(key) >= 3 and day.startswith(key)]
    if len(found) != 1:
        raise InvalidRuleError(
            f"cannot read weekday {name.strip()!r} in {text!r}: use mon, tue, ... or monday, ...",
            text=text,
        )
    return found[0]


def _month(name: str, text: str) -> int:
    key = name.strip().lower()
    if key.isdigit() and 1 <= int(key) <= 12:
        return int(key)
    found = [
        index
        for index, month in enumerate(_MONTH_NAMES, 1)
        if len(key) >= 3 and month.startswith(key)
    ]
    if len(found) != 1:
        raise InvalidRuleError(f"cannot read month {name.strip()!r} in {text!r}", text=text)
    return found[0]


def _month_day(value: object) -> tuple[int, int]:
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(part, int) and not isinstance(part, bool) for part in value)
    ):
        raise InvalidRuleError(f"a yearly day is a (month, day) pair, not {value!r}")
    month, day = value
    try:
        datetime.date(_LEAP_YEAR, month, day)
    except ValueError as err:
        raise InvalidRuleError(f"{month:02d}-{day:02d} is not a day of the year") from err
    return month, day


def _day_text(month_day: tuple[int, int]) -> str:
    month, day = month_day
    return f"{day} {_MONTH_NAMES[month - 1].capitalize()}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
