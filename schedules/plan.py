"""The plan of one night: a program's steps resolved to instants at a site.

``plan_night`` resolves each step for the night of ``date`` (local noon to noon):

* solar anchors: the event from ``night_sun`` plus the offset, as elapsed time (so an
  offset across a daylight-saving transition is still that many minutes);
* clock anchors: the wall-clock time on the evening of ``date`` (12:00 and later) or the
  morning of ``date + 1``; a time in the spring-forward gap runs at the first valid instant
  after it, an ambiguous one in the fall-back fold at its first occurrence
  (see ``schedules.wallclock``), and the plan says so in ``notes``.

Steps whose sun event does not happen that night are skipped; steps that land outside the
night are dropped; both are explained in ``notes``. The rest are ordered by instant; of
steps landing on the same instant the later one in the program wins; a step that would set
the level already in force (0 at the start of the night) is dropped silently.
"""

from __future__ import annotations

import bisect
import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from schedules.errors import InvalidInstantError
from schedules.program import ClockTime, Program, SolarEvent, SolarTime, Step
from schedules.site import Site
from schedules.sun import NightSun, SunCase, night_sun
from schedules.wallclock import WallTimeKind, night_window, resolve_wall_time, utc

__all__ = ["Change", "NightPlan", "level_at", "plan_night"]

_HORIZON_EVENTS = (SolarEvent.SUNSET, SolarEvent.SUNRISE)
_TWILIGHT_EVENTS = (SolarEvent.DUSK, SolarEvent.DAWN)


@dataclass(frozen=True, slots=True)
class Change:
    """At ``at`` (aware, in the site's zone) the lamps go to ``level``, because of ``step``."""

    at: datetime.datetime
    level: int
    step: Step


@dataclass(frozen=True, slots=True)
class NightPlan:
    """The level changes of one night at one site, with the reasons for anything left out.

    ``changes`` are strictly increasing in time and lie in [``start``, ``end``).
    """

    site: Site
    program: Program
    date: datetime.date
    sun: NightSun
    changes: tuple[Change, ...]
    notes: tuple[str, ...]

    @property
    def start(self) -> datetime.datetime:
        """Local noon of ``date``: the night's first instant."""
        return night_window(self.date, self.site.tzinfo)[0]

    @property
    def end(self) -> datetime.datetime:
        """Local noon of the next day: the first instant after the night."""
        return night_window(self.date, self.site.tzinfo)[1]


@dataclass(frozen=True, slots=True)
class _Resolved:
    at: datetime.datetime  # in the site's zone
    index: int  # position in the program
    step: Step


def plan_night(site: Site, program: Program, date: datetime.date) -> NightPlan:
    """Resolve ``program`` at ``site`` for the night that starts at local noon of ``date``."""
    if isinstance(date, datetime.datetime):
        raise InvalidInstantError("pass the local date of the night, not a datetime", value=date)
    tz = site.tzinfo
    sun = night_sun(site, date)
    start, end = night_window(date, tz)
    notes: list[str] = []
    resolved: list[_Resolved] = []
    missing: list[Step] = []
    for index, step in enumerate(program.steps):
        anchor = step.anchor
        at = (
            _clock(anchor, date, tz, notes)
            if isinstance(anchor, ClockTime)
            else _solar(anchor, sun, tz)
        )
        if at is None:
            missing.append(step)
            continue
        if not utc(start) <= utc(at) < utc(end):
            notes.append(
                f"the step at {anchor} falls at {_stamp(at)}, outside the night "
                f"({_stamp(start)} to {_stamp(end)}); it is dropped"
            )
            continue
        resolved.append(_Resolved(at, index, step))
    notes[:0] = _missing_notes(site, program, sun, start, missing)
    changes = _changes(resolved, notes)
    return NightPlan(site, program, date, sun, changes, tuple(notes))


def level_at(plan: NightPlan, instant: datetime.datetime) -> int:
    """The level ``plan`` has in force at ``instant`` (aware, in any zone).

    0 before the plan's first change, the last change's level from then on, including
    after ``plan.end`` (the next night's plan takes over from there).
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidInstantError("a naive datetime is ambiguous: give it a zone", value=instant)
    position = bisect.bisect_right(plan.changes, utc(instant), key=lambda change: utc(change.at))
    return plan.changes[position - 1].level if position else 0


def _clock(
    anchor: ClockTime, date: datetime.date, tz: datetime.tzinfo, notes: list[str]
) -> datetime.datetime:
    day = date if anchor.evening else date + datetime.timedelta(days=1)
    local = resolve_wall_time(day, anchor.at, tz)
    if local.kind is WallTimeKind.SKIPPED:
        notes.append(
            f"{anchor} does not exist on {day} in {tz} (the clocks spring forward); "
            f"the step runs at the first valid instant after it, {_stamp(local.at)}"
        )
    elif local.kind is WallTimeKind.REPEATED:
        notes.append(
            f"{anchor} happens twice on {day} in {tz} (the clocks fall back); "
            f"the step runs at the first occurrence, {_stamp(local.at)}"
        )
    return local.at


def _solar(anchor: SolarTime, sun: NightSun, tz: datetime.tzinfo) -> datetime.datetime | None:
    event = _when(sun, anchor.event)
    if event is None:
        return None
    return (utc(event) + anchor.offset).astimezone(tz)


def _changes(resolved: list[_Resolved], notes: list[str]) -> tuple[Change, ...]:
    """Order by instant, let the later program step win a tie, drop redundant levels."""
    ordered = sorted(resolved, key=lambda item: (utc(item.at), item.index))
    winners: list[_Resolved] = []
    for item in ordered:
        if winners and utc(winners[-1].at) == utc(item.at):
            loser = winners.pop()
            notes.append(
                f"the steps at {loser.step.anchor} and {item.step.anchor} both fall at "
                f"{_stamp(item.at)}; the later one in the program ({item.step}) applies"
            )
        winners.append(item)
    changes: list[Change] = []
    level = 0
    for item in winners:
        if item.step.level != level:
            level = item.step.level
            changes.append(Change(item.at, level, item.step))
    return tuple(changes)


def _missing_notes(
    site: Site, program: Program, sun: NightSun, start: datetime.datetime, missing: list[Step]
) -> Iterable[str]:
    """One note per kind of missing event (horizon, twilight) that skipped steps."""
    has_clock_steps = any(isinstance(step.anchor, ClockTime) for step in program.steps)
    for events, case in ((_HORIZON_EVENTS, sun.case), (_TWILIGHT_EVENTS, sun.twilight)):
        skipped = [step for step in missing if _event(step) in events]
        if not skipped:
            continue
        steps = _listing(skipped)
        if case is SunCase.POLAR_NIGHT:
            fallback = (
                "the lamps follow the clock steps"
                if has_clock_steps
                else "the program has no clock steps to fall back on"
            )
            yield f"{_polar_night(sun, events, site)}; {steps} skipped and {fallback}"
        elif case is SunCase.POLAR_DAY:
            yield f"{_polar_day(sun, events, site)}; {steps} skipped"
        else:
            names = " / ".join(event.value for event in events if _when(sun, event) is None)
            yield (
                f"no {names} between {_stamp(start)} and the next noon at "
                f"{site.name} (it falls just outside the noon-to-noon night); {steps} skipped"
            )


def _polar_night(sun: NightSun, events: tuple[SolarEvent, ...], site: Site) -> str:
    next_day = sun.date + datetime.timedelta(days=1)
    evening, morning = (_when(sun, event) for event in events)
    if evening is None and morning is None:
        days = f"on {sun.date} or {next_day}"
    elif morning is None:
        days = f"on {next_day}"
    else:
        days = f"on {sun.date}"
    if events == _HORIZON_EVENTS:
        return f"polar night: the sun does not rise {days} at {site.name}"
    return (
        f"polar night: the sun stays more than 6 degrees below the horizon {days} at "
        f"{site.name}, so there is no civil dusk or dawn"
    )


def _polar_day(sun: NightSun, events: tuple[SolarEvent, ...], site: Site) -> str:
    if events == _HORIZON_EVENTS:
        return f"polar day: the sun does not set on {sun.date} at {site.name}"
    return (
        f"white night: the sun does not get 6 degrees below the horizon on the night of "
        f"{sun.date} at {site.name}, so there is no civil dusk or dawn"
    )


def _event(step: Step) -> SolarEvent | None:
    return step.anchor.event if isinstance(step.anchor, SolarTime) else None


def _when(sun: NightSun, event: SolarEvent) -> datetime.datetime | None:
    return {
        SolarEvent.SUNSET: sun.sunset,
        SolarEvent.SUNRISE: sun.sunrise,
        SolarEvent.DUSK: sun.dusk,
        SolarEvent.DAWN: sun.dawn,
    }[event]


def _listing(steps: list[Step]) -> str:
    anchors = [str(step.anchor) for step in steps]
    if len(anchors) == 1:
        return f"the step at {anchors[0]} is"
    return f"the steps at {', '.join(anchors[:-1])} and {anchors[-1]} are"


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z")
