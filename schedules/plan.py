"""The plan of one night: a calendar's program and the overrides, resolved at a site.

``plan_night(site, calendar, overrides, date)`` for the night that starts at local noon of
``date`` and ends at noon the next day:

1. the calendar picks the program (its first matching rule, else its default);
2. the program's steps are placed on the night (``schedules.resolve``: sun events, clock
   times across daylight-saving changes, the written order, ties); a step that would set
   the level already in force (0 at the start of the night) is dropped;
3. the calendar's anti-flap guard bridges short dark gaps and drops short lit periods
   (``schedules.antiflap``);
4. the overrides that concern the plan's zone or lamp are laid over it: while one is in
   force its level holds; when it ends the program resumes exactly where it would be,
   mid-ramp if a ramp is running, so after an override the plan equals the program's.

Each ``Change`` carries its ``Cause`` (the rule, the program and the step, or the override),
so a plan can be explained; ``NightPlan.outcomes`` says what became of every step and
``NightPlan.notes`` why, in words. ``level_at(plan, instant)`` gives the level in force at
any instant, interpolating ramps.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from schedules.antiflap import Guarded, guard
from schedules.calendar import Calendar, Rule, as_calendar
from schedules.errors import InvalidInstantError
from schedules.override import Override, override_in_force
from schedules.program import Program, Step
from schedules.resolve import Fate, Placed, Resolution, StepOutcome, resolve_steps, stamp
from schedules.site import Site
from schedules.sun import NightSun, night_sun
from schedules.wallclock import night_window, utc

__all__ = ["Cause", "CauseKind", "Change", "NightPlan", "change_in_force", "level_at", "plan_night"]

_NO_RAMP = datetime.timedelta(0)


class CauseKind(enum.Enum):
    """Where a change comes from."""

    STEP = "step"  # a step of the night's program
    OVERRIDE = "override"  # an override comes into force
    RESUME = "resume"  # the overrides end and the program resumes


@dataclass(frozen=True, slots=True)
class Cause:
    """Why a change happens: the calendar, its ``rule`` (None for the default program), the
    program and its ``step``; or the ``override`` that starts, or the one that ``ended``."""

    kind: CauseKind
    calendar: Calendar
    rule: Rule | None
    program: str
    step: Step | None = None
    override: Override | None = None
    ended: Override | None = None

    @property
    def source(self) -> str:
        """How the program was chosen: "rule 'weekend' (Friday and Saturday)", "default of
        calendar 'city'", or "every night" for a calendar without rules."""
        return _source(self.calendar, self.rule)

    def __str__(self) -> str:
        if self.kind is CauseKind.OVERRIDE and self.override is not None:
            return str(self.override)
        program = f"program {self.program!r} ({self.source})"
        if self.kind is CauseKind.RESUME:
            ended = f"override {self.ended.name!r}" if self.ended is not None else "the override"
            step = f", step {self.step}" if self.step is not None else ""
            return f"{ended} ends: {program} resumes{step}"
        return f"step {self.step} of {program}"


@dataclass(frozen=True, slots=True)
class Change:
    """At ``at`` (aware, in the site's zone) the lamps go to ``level`` because of ``cause``:
    at once, or along a ramp from ``start_level`` at ``ramp_start`` (``at`` unless given)
    to ``level`` ``ramp`` later.

    ``start_level`` is the level the ramp starts from: the level in force just before
    ``at``, except when the program resumes in the middle of one of its ramps after an
    override: then the change carries that ramp as it is (its ``ramp_start`` before ``at``,
    its ``start_level``), so the lamps rejoin the program's curve exactly.
    """

    at: datetime.datetime
    level: int
    cause: Cause
    ramp: datetime.timedelta = _NO_RAMP
    start_level: int = 0
    ramp_start: datetime.datetime | None = None

    @property
    def step(self) -> Step | None:
        """The program step behind the change (None for an override)."""
        return self.cause.step

    @property
    def override(self) -> Override | None:
        return self.cause.override

    @property
    def settled_at(self) -> datetime.datetime:
        """When the ramp is over (``at`` without a ramp)."""
        origin = utc(self.ramp_start or self.at)
        return (origin + self.ramp).astimezone(self.at.tzinfo)  # elapsed time, not wall time

    @property
    def fade(self) -> datetime.timedelta:
        """How long the lamps take from ``at`` to reach ``level``."""
        return max(utc(self.settled_at) - utc(self.at), _NO_RAMP)

    def level_during(self, instant: datetime.datetime) -> int:
        """The level at ``instant`` (at or after ``at``) if no later change intervenes."""
        if not self.ramp:
            return self.level
        elapsed = utc(instant) - utc(self.ramp_start or self.at)
        if elapsed >= self.ramp:
            return self.level
        value = self.start_level + (self.level - self.start_level) * (elapsed / self.ramp)
        return math.floor(value + 0.5)


@dataclass(frozen=True, slots=True)
class NightPlan:
    """The level changes of one night at one site, with their causes and notes.

    ``changes`` are strictly increasing in time and lie in [``start``, ``end``); ``program``
    is the program the calendar chose (``rule`` None: its default); ``outcomes`` has one
    entry per step of that program, in program order; ``overrides`` are those in force
    at some point of the night for this plan's ``zone`` and ``lamp``.
    """

    site: Site
    program: Program
    date: datetime.date
    sun: NightSun
    changes: tuple[Change, ...]
    notes: tuple[str, ...]
    calendar: Calendar
    rule: Rule | None = None
    outcomes: tuple[StepOutcome, ...] = ()
    overrides: tuple[Override, ...] = ()
    zone: str | None = None
    lamp: str | None = None

    @property
    def start(self) -> datetime.datetime:
        """Local noon of ``date``: the night's first instant."""
        return night_window(self.date, self.site.tzinfo)[0]

    @property
    def end(self) -> datetime.datetime:
        """Local noon of the next day: the first instant after the night."""
        return night_window(self.date, self.site.tzinfo)[1]

    @property
    def source(self) -> str:
        """Why this program runs tonight, in words (see ``Cause.source``)."""
        return _source(self.calendar, self.rule)


def _source(calendar: Calendar, rule: Rule | None) -> str:
    if rule is not None:
        return str(rule)
    return f"default of calendar {calendar.name!r}" if calendar.rules else "every night"


def plan_night(
    site: Site,
    calendar: Calendar | Program,
    overrides: Iterable[Override],
    date: datetime.date,
    *,
    zone: str | None = None,
    lamp: str | None = None,
) -> NightPlan:
    """The plan of ``zone`` (or of ``lamp`` in ``zone``) at ``site`` for the night of
    ``date``, following ``calendar`` (or a lone program) and ``overrides``."""
    return _with_overrides(_own_night(site, calendar, date), overrides, zone, lamp)


def plan_zones(
    site: Site,
    calendars: Mapping[str, Calendar | Program],
    overrides: Iterable[Override],
    date: datetime.date,
) -> dict[str, NightPlan]:
    """Each zone's plan for the night of ``date``: ``plan_night`` for every zone of
    ``calendars`` (zone name to its calendar), with each calendar's own night worked out
    once and shared by the zones that follow that very calendar object (a city has a
    handful of calendars for hundreds of zones). The same plans as ``plan_night``, zone by
    zone. (Calendars that are only equal are planned apart: a rule's description does not
    take part in equality, and a zone's plan must name its own.)"""
    given = tuple(overrides)
    nights: dict[int, _OwnNight] = {}
    plans = {}
    for zone, calendar in calendars.items():
        own = nights.get(id(calendar))  # the calendars live as long as this call
        if own is None:
            own = nights[id(calendar)] = _own_night(site, calendar, date)
        plans[zone] = _with_overrides(own, given, zone, None)
    return plans


@dataclass(frozen=True, slots=True)
class _OwnNight:
    """What a calendar makes of a night at a site, before any override: the same for
    every zone that follows the calendar."""

    site: Site
    date: datetime.date
    calendar: Calendar
    rule: Rule | None
    program: Program
    sun: NightSun
    start: datetime.datetime
    end: datetime.datetime
    resolution: Resolution
    redundant: frozenset[int]
    guarded: Guarded
    base: Cause
    own: tuple[Change, ...]


def _own_night(site: Site, calendar: Calendar | Program, date: datetime.date) -> _OwnNight:
    if isinstance(date, datetime.datetime):
        raise InvalidInstantError("pass the local date of the night, not a datetime", value=date)
    chosen = as_calendar(calendar)
    rule = chosen.select(date)
    program = chosen.default if rule is None else rule.program
    sun = night_sun(site, date)
    start, end = night_window(date, site.tzinfo)
    resolution = resolve_steps(site, program, date, sun)
    levelled, redundant = _drop_redundant(resolution.placed)
    guarded = guard(levelled, chosen.anti_flap)
    base = Cause(CauseKind.STEP, chosen, rule, program.name)
    own = _settle(
        [
            _Event(
                item.at, item.step.level, item.step.ramp, dataclasses.replace(base, step=item.step)
            )
            for item in guarded.kept
        ]
    )
    return _OwnNight(
        site, date, chosen, rule, program, sun, start, end, resolution, redundant, guarded,
        base, tuple(own),
    )  # fmt: skip


def _with_overrides(
    night: _OwnNight, overrides: Iterable[Override], zone: str | None, lamp: str | None
) -> NightPlan:
    start, end = night.start, night.end
    relevant = tuple(
        override
        for override in overrides
        if override.applies_to(zone, lamp)
        and utc(override.start) < utc(end)
        and utc(override.end) > utc(start)
    )
    changes, hidden = _overlay(list(night.own), relevant, start, end, night.base)
    guarded = night.guarded
    notes = [
        *night.resolution.notes,
        *guarded.notes,
        *_override_notes(relevant, hidden, start, end),
    ]
    hidden_steps = {guarded.kept[position].index for position in hidden}  # own[i] is kept[i]
    outcomes = _outcomes(
        night.program, night.resolution, night.redundant, guarded.removed, frozenset(hidden_steps)
    )
    return NightPlan(
        site=night.site,
        program=night.program,
        date=night.date,
        sun=night.sun,
        changes=tuple(changes),
        notes=tuple(notes),
        calendar=night.calendar,
        rule=night.rule,
        outcomes=outcomes,
        overrides=relevant,
        zone=zone,
        lamp=lamp,
    )


def level_at(plan: NightPlan, instant: datetime.datetime) -> int:
    """The level ``plan`` has in force at ``instant`` (aware, in any zone).

    0 before the plan's first change; inside a ramp, the level the ramp has reached
    (rounded to a whole percent); the last change's level from then on, including after
    ``plan.end`` (the next night's plan takes over from there).
    """
    change = change_in_force(plan, instant)
    return 0 if change is None else change.level_during(instant)


def change_in_force(plan: NightPlan, instant: datetime.datetime) -> Change | None:
    """The last change of ``plan`` at or before ``instant`` (None before the first one)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidInstantError("a naive datetime is ambiguous: give it a zone", value=instant)
    position = bisect.bisect_right(plan.changes, utc(instant), key=lambda change: utc(change.at))
    return plan.changes[position - 1] if position else None


@dataclass(frozen=True, slots=True)
class _Event:
    at: datetime.datetime
    level: int
    ramp: datetime.timedelta
    cause: Cause
    start_level: int | None = None  # set for program changes laid over, and resumptions
    ramp_start: datetime.datetime | None = None  # set when the program resumes mid-ramp


def _drop_redundant(placed: tuple[Placed, ...]) -> tuple[tuple[Placed, ...], frozenset[int]]:
    """Steps that would set the level already in force (0 at noon) are dropped silently."""
    kept: list[Placed] = []
    dropped: set[int] = set()
    level = 0
    for item in placed:
        if item.step.level == level:
            dropped.add(item.index)
            continue
        level = item.step.level
        kept.append(item)
    return tuple(kept), frozenset(dropped)


def _settle(events: list[_Event]) -> list[Change]:
    """Changes from ``events`` (in time order): start levels filled in, and events that
    would leave the level exactly as it is dropped."""
    changes: list[Change] = []
    for event in events:
        previous = changes[-1] if changes else None
        before = 0 if previous is None else previous.level_during(event.at)
        settled = previous is None or utc(event.at) >= utc(previous.settled_at)
        start = before if event.start_level is None else event.start_level
        change = Change(event.at, event.level, event.cause, event.ramp, start, event.ramp_start)
        if settled and before == change.level == change.level_during(event.at):
            continue
        changes.append(change)
    return changes


def _overlay(
    own: list[Change],
    overrides: tuple[Override, ...],
    start: datetime.datetime,
    end: datetime.datetime,
    base: Cause,
) -> tuple[list[Change], dict[int, Override]]:
    """Lay ``overrides`` over the program's changes ``own``; the changes, and the program
    changes hidden (by position in ``own``) with the override that hid them."""
    if not overrides:
        return own, {}
    tz = start.tzinfo
    bounds = sorted(
        {utc(start)}
        | {
            utc(moment)
            for override in overrides
            for moment in (override.start, override.end)
            if utc(start) < utc(moment) < utc(end)
        }
    )
    events: list[_Event] = []
    resumed_at: set[datetime.datetime] = set()
    current: Override | None = None
    for bound in bounds:
        winner = override_in_force(overrides, bound)
        if winner is current:
            continue
        at = bound.astimezone(tz)
        if winner is not None:
            cause = dataclasses.replace(base, kind=CauseKind.OVERRIDE, override=winner)
            events.append(_Event(at, winner.level, _NO_RAMP, cause))
        else:
            events.append(_resume(own, at, base, current))
            resumed_at.add(bound)
        current = winner
    hidden: dict[int, Override] = {}
    for position, change in enumerate(own):
        winner = override_in_force(overrides, change.at)
        if winner is not None:
            hidden[position] = winner
        elif utc(change.at) not in resumed_at:
            events.append(
                _Event(
                    change.at,
                    change.level,
                    change.ramp,
                    change.cause,
                    change.start_level,
                    change.ramp_start,
                )
            )
    events.sort(key=lambda event: utc(event.at))
    return _settle(events), hidden


def _resume(
    own: list[Change], at: datetime.datetime, base: Cause, ended: Override | None
) -> _Event:
    """The program taking over again at ``at``: where its own curve is at that instant."""
    position = bisect.bisect_right(own, utc(at), key=lambda change: utc(change.at))
    cause = dataclasses.replace(base, kind=CauseKind.RESUME, ended=ended)
    if not position:
        return _Event(at, 0, _NO_RAMP, cause, 0)
    change = own[position - 1]
    cause = dataclasses.replace(cause, step=change.step)
    if utc(change.settled_at) > utc(at):  # mid-ramp: carry the program's ramp as it is
        origin = change.ramp_start or change.at
        return _Event(at, change.level, change.ramp, cause, change.start_level, origin)
    return _Event(at, change.level, _NO_RAMP, cause)


def _override_notes(
    overrides: tuple[Override, ...],
    hidden: dict[int, Override],
    start: datetime.datetime,
    end: datetime.datetime,
) -> Iterable[str]:
    tz = start.tzinfo
    for override in overrides:
        first = max(utc(override.start), utc(start)).astimezone(tz)
        last = min(utc(override.end), utc(end)).astimezone(tz)
        count = sum(1 for winner in hidden.values() if winner is override)
        hides = f"; it hides {count} program change{'s' * (count != 1)}" if count else ""
        yield (
            f"override {override.name!r} ({override.target}, {override.level}%, priority "
            f"{override.priority}) is in force from {stamp(first)} to {stamp(last)}{hides}"
        )


def _outcomes(
    program: Program,
    resolution: Resolution,
    redundant: frozenset[int],
    flapped: frozenset[int],
    hidden: frozenset[int],
) -> tuple[StepOutcome, ...]:
    known = {outcome.index: outcome for outcome in resolution.decided}
    placed = {item.index: item for item in resolution.placed}
    outcomes = []
    for index, step in enumerate(program.steps):
        if index in known:
            outcomes.append(known[index])
            continue
        item = placed.get(index)
        if index in redundant:
            fate = Fate.REDUNDANT
        elif index in flapped:
            fate = Fate.ANTI_FLAP
        elif index in hidden:
            fate = Fate.OVERRIDDEN
        else:
            fate = Fate.HELD if item is not None and item.held else Fate.FIRED
        outcomes.append(StepOutcome(index, step, fate, *_instants(item)))
    return tuple(outcomes)


def _instants(
    item: Placed | None,
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    return (None, None) if item is None else (item.at, item.written_at)
