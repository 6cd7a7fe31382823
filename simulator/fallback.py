"""The program a lamp runs by itself when the controller has gone quiet.

Real NB-IoT lamp nodes keep an astronomical clock: when they have not heard from the
central system for a while they light by a program of their own, so a city stays lit when
its controller is down. Here that program is a ``schedules`` program (or calendar) planned
for the lamp's own place and zone, night by night, with the same engine the controller
uses. Pure: instants in, levels out.

Plans are shared: lamps a few hundred metres apart see the same sunset within seconds, so
the site is the lamp's position rounded to ``SITE_GRID_DEG`` and a night's plan is computed
once per (site, program, night) and kept in a small cache.
"""

from __future__ import annotations

import bisect
import datetime
import functools

from schedules import Calendar, NightPlan, Program, Site, level_at, night_of, plan_night

SITE_GRID_DEG = 0.05
"""Positions are rounded to this grid (about 5 km): sunset moves by seconds within it."""
_PLAN_CACHE = 4096


@functools.lru_cache(maxsize=_PLAN_CACHE)
def _plan(site: Site, program: Calendar | Program, date: datetime.date) -> NightPlan:
    return plan_night(site, program, (), date)


def site_for(latitude: float, longitude: float, timezone: str) -> Site:
    """The site a lamp at (``latitude``, ``longitude``) plans its nights for."""

    def snap(value: float) -> float:
        return round(round(value / SITE_GRID_DEG) * SITE_GRID_DEG, 6)

    return Site("lamp", snap(latitude), snap(longitude), timezone)


class Fallback:
    """A lamp's own program: ``program`` at ``site``, taken up after ``after_s`` of silence.

    One object serves every lamp of a site; it keeps the changes of the nights it has
    planned as POSIX times, so a lamp asks "what changes between a and b" with a bisection.
    """

    __slots__ = ("_changes", "_covered", "_nights", "_times", "after_s", "program", "site")

    def __init__(self, site: Site, program: Calendar | Program, after_s: float = 900.0) -> None:
        if after_s <= 0:
            raise ValueError(f"the fallback needs a silence longer than 0 s, not {after_s}")
        self.site = site
        self.program = program
        self.after_s = after_s
        self._nights: set[datetime.date] = set()
        self._times: list[float] = []
        self._changes: list[tuple[float, int, float]] = []
        self._covered = (0.0, 0.0)
        """POSIX times between which every night is planned (the last span asked for)."""

    def __repr__(self) -> str:
        return f"Fallback({self.site!r}, {self.program.name!r}, after_s={self.after_s})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fallback):
            return NotImplemented
        return (self.site, self.program, self.after_s) == (other.site, other.program, other.after_s)

    def __hash__(self) -> int:
        return hash((self.site, self.program, self.after_s))

    def plan(self, date: datetime.date) -> NightPlan:
        """The plan of the night of ``date`` (cached)."""
        return _plan(self.site, self.program, date)

    def level_at(self, instant: datetime.datetime) -> int:
        """The level the program has in force at ``instant`` (aware)."""
        return level_at(self.plan(night_of(instant, self.site.tzinfo)), instant)

    def changes(self, start: float, end: float) -> list[tuple[float, int, float]]:
        """The program's changes in (``start``, ``end``], POSIX seconds: instant, level and
        ramp seconds."""
        if end <= start:
            return []
        self._cover(start, end)
        times = self._times
        return self._changes[bisect.bisect_right(times, start) : bisect.bisect_right(times, end)]

    def _cover(self, start: float, end: float) -> None:
        low, high = self._covered
        if low <= start and end <= high:
            return
        tz = self.site.tzinfo
        first = night_of(datetime.datetime.fromtimestamp(start, datetime.UTC), tz)
        last = night_of(datetime.datetime.fromtimestamp(end, datetime.UTC), tz)
        date = first
        added = False
        while date <= last:
            if date not in self._nights:
                self._nights.add(date)
                self._changes.extend(
                    (change.at.timestamp(), change.level, change.fade.total_seconds())
                    for change in self.plan(date).changes
                )
                added = True
            date += datetime.timedelta(days=1)
        if added:
            self._changes.sort()
            self._times = [change[0] for change in self._changes]
        self._covered = (self.plan(first).start.timestamp(), self.plan(last).end.timestamp())
