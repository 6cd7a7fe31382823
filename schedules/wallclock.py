"""Local wall-clock times turned into instants, across daylight-saving transitions.

A wall-clock time on a date names zero, one or two instants in a zone:

* none in the spring-forward gap (02:30 on 2026-03-29 in Europe/Berlin): we take the first
  valid instant after it, the transition itself (03:00 CEST), so a step in the gap runs as
  soon as its time has passed on the wall clock;
* two in the fall-back fold (02:30 on 2026-10-25 in Europe/Berlin): we take the first
  occurrence (``fold=0``, 02:30 CEST), so the step runs once, at its first chance.

Python compares and subtracts datetimes sharing one ``tzinfo`` by wall time, ignoring
``fold``; code in this package therefore compares instants in UTC (see ``utc``).
"""

from __future__ import annotations

import datetime
import enum
import functools
import math
from dataclasses import dataclass

from schedules.const import NIGHT_BOUNDARY

__all__ = [
    "LocalInstant",
    "WallTimeKind",
    "night_of",
    "night_window",
    "resolve_wall_time",
    "utc",
]

_UTC = datetime.UTC
_ONE_DAY = datetime.timedelta(days=1)


class WallTimeKind(enum.Enum):
    """How a wall-clock time maps onto the time line on a given date."""

    EXACT = "exact"  # one instant
    SKIPPED = "skipped"  # in a spring-forward gap: moved to the end of the gap
    REPEATED = "repeated"  # in a fall-back fold: the first occurrence is used


@dataclass(frozen=True, slots=True)
class LocalInstant:
    """The instant chosen for a wall-clock time: ``at`` is aware, in the requested zone."""

    wall: datetime.datetime  # the naive wall-clock time asked for
    at: datetime.datetime
    kind: WallTimeKind


def utc(instant: datetime.datetime) -> datetime.datetime:
    """``instant`` in UTC, for comparisons and arithmetic that must respect ``fold``."""
    return instant.astimezone(_UTC)


@functools.lru_cache(maxsize=1 << 16)
def resolve_wall_time(day: datetime.date, at: datetime.time, tz: datetime.tzinfo) -> LocalInstant:
    """The instant at which wall-clock time ``at`` occurs on ``day`` in ``tz``.

    Pure, and asked again for every zone of a city that shares a time zone: memoised (the
    zone's rules are read through ``astimezone``, a tenth of a year's planning)."""
    wall = datetime.datetime.combine(day, at.replace(tzinfo=None, fold=0))
    first = utc(wall.replace(tzinfo=tz, fold=0))
    second = utc(wall.replace(tzinfo=tz, fold=1))
    if first == second:
        return LocalInstant(wall, first.astimezone(tz), WallTimeKind.EXACT)
    if first < second:
        return LocalInstant(wall, first.astimezone(tz), WallTimeKind.REPEATED)
    # In a gap, fold=1 reads the wall time with the later offset and lands before the
    # transition, fold=0 with the earlier offset and lands after it.
    return LocalInstant(wall, _transition(second, first, tz).astimezone(tz), WallTimeKind.SKIPPED)


@functools.lru_cache(maxsize=1 << 14)
def night_window(
    date: datetime.date, tz: datetime.tzinfo
) -> tuple[datetime.datetime, datetime.datetime]:
    """The night of ``date``: local noon of ``date`` (included) to noon of the next day."""
    start = resolve_wall_time(date, NIGHT_BOUNDARY, tz).at
    end = resolve_wall_time(date + datetime.timedelta(days=1), NIGHT_BOUNDARY, tz).at
    return start, end


def night_of(instant: datetime.datetime, tz: datetime.tzinfo) -> datetime.date:
    """The date of the night ``instant`` (aware) belongs to in ``tz``: nights run from noon
    to noon, so 01:00 on the 25th belongs to the night of the 24th."""
    local = instant.astimezone(tz)
    return local.date() if local.time() >= NIGHT_BOUNDARY else local.date() - _ONE_DAY


def _transition(
    before: datetime.datetime, after: datetime.datetime, tz: datetime.tzinfo
) -> datetime.datetime:
    """The first instant in (``before``, ``after``] with the offset in force at ``after``.

    Zone transitions fall on whole seconds, so a bisection over whole seconds finds it.
    """
    offset_after = after.astimezone(tz).utcoffset()
    low = math.floor(before.timestamp())  # an instant with the earlier offset
    high = math.ceil(after.timestamp())  # an instant with the later offset
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.datetime.fromtimestamp(middle, _UTC).astimezone(tz).utcoffset() == (
            offset_after
        ):
            high = middle
        else:
            low = middle
    return datetime.datetime.fromtimestamp(high, _UTC)
