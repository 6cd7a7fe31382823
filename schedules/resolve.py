"""A program's steps placed on one night: instants, the written order, ties, missing events.

For the night of ``date`` (local noon to noon) each step gets an instant:

* solar anchors: the event from ``night_sun`` plus the offset, as elapsed time (so an
  offset across a daylight-saving transition is still that many minutes);
* clock anchors: the wall-clock time on the evening of ``date`` (12:00 and later) or the
  morning of ``date + 1``; a time in the spring-forward gap runs at the first valid instant
  after it, an ambiguous one in the fall-back fold at its first occurrence
  (``schedules.wallclock``); the plan says so in its notes.

Steps whose sun event does not happen that night are skipped, steps that land outside the
night are dropped, both with a note.

**The written order.** Sunset, sunrise, dusk and dawn are *bounding* steps; clock times and
solar midnight fall between them. A non-bounding step that falls before a bounding step
written ahead of it is *held* to that step's instant (and, written later, wins the tie): a
23:00 dimming step on a night whose sunset is 23:40 dims at 23:40. One that falls after a
bounding step written behind it is held there and overruled by it: a 06:00 "on" written
before sunrise cannot fire on a summer night whose sunrise is 04:45, instead of lighting
the lamps for the whole day (GXF leaves that to its users). The same rule ends an evening
before a late sunset and fits a midnight dimming window into a short night.

The remaining steps are ordered by instant; of steps on the same instant the one written
later wins.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from schedules.program import ClockTime, Program, SolarEvent, SolarTime, Step, is_bounding
from schedules.site import Site
from schedules.sun import NightSun, SunCase
from schedules.wallclock import WallTimeKind, night_window, resolve_wall_time, utc

__all__ = ["Fate", "Placed", "Resolution", "StepOutcome", "resolve_steps", "stamp"]

_HORIZON_EVENTS = (SolarEvent.SUNSET, SolarEvent.SUNRISE)
_TWILIGHT_EVENTS = (SolarEvent.DUSK, SolarEvent.DAWN)


class Fate(enum.Enum):
    """What became of a program step on one night."""

    FIRED = "fired"  # it changed the level at its instant
    HELD = "held"  # held to a bounding step written before it, and changed the level there
    OVERRULED = "overruled"  # a step written after it took its instant (a tie, or held)
    REDUNDANT = "redundant"  # it would set the level already in force
    SKIPPED = "skipped"  # its sun event does not happen that night
    OUTSIDE = "outside"  # it falls outside the night (noon to noon)
    ANTI_FLAP = "anti-flap"  # the anti-flap guard removed it
    OVERRIDDEN = "overridden"  # an override was in force at its instant

    @property
    def fired(self) -> bool:
        return self in (Fate.FIRED, Fate.HELD)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """Step number ``index`` of the night's program, its ``fate`` and its instants.

    ``written_at`` is the instant its anchor gives; ``at`` the one it ran at (or would
    have): they differ when the step is held. Both are None for a skipped step.
    """

    index: int
    step: Step
    fate: Fate
    at: datetime.datetime | None
    written_at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class Placed:
    """A step that won its instant: ``at`` in the site's zone, ``index`` in the program."""

    at: datetime.datetime
    index: int
    step: Step
    written_at: datetime.datetime

    @property
    def held(self) -> bool:
        return utc(self.at) != utc(self.written_at)


@dataclass(frozen=True, slots=True)
class Resolution:
    """``placed``: strictly increasing instants, one step each; ``decided``: the outcome of
    every step that did not win an instant; ``notes``: why, in words."""

    placed: tuple[Placed, ...]
    decided: tuple[StepOutcome, ...]
    notes: tuple[str, ...]


def resolve_steps(site: Site, program: Program, date: datetime.date, sun: NightSun) -> Resolution:
    """Place the steps of ``program`` on the night of ``date`` at ``site``."""
    tz = site.tzinfo
    start, end = night_window(date, tz)
    notes: list[str] = []
    decided: list[StepOutcome] = []
    inside: list[Placed] = []
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
            decided.append(StepOutcome(index, step, Fate.SKIPPED, None, None))
            continue
        if not utc(start) <= utc(at) < utc(end):
            notes.append(
                f"the step at {anchor} falls at {stamp(at)}, outside the night "
                f"({stamp(start)} to {stamp(end)}); it is dropped"
            )
            decided.append(StepOutcome(index, step, Fate.OUTSIDE, at, at))
            continue
        inside.append(Placed(at, index, step, at))
    notes[:0] = _missing_notes(site, program, sun, start, missing)
    held = [_hold(item, inside, notes) for item in inside]
    placed = _ties(held, notes, decided)
    return Resolution(tuple(placed), tuple(decided), tuple(notes))


def _hold(item: Placed, inside: list[Placed], notes: list[str]) -> Placed:
    """``item`` moved into the span its bounding neighbours in the program leave it."""
    if is_bounding(item.step.anchor):
        return item
    before = [
        other for other in inside if other.index < item.index and is_bounding(other.step.anchor)
    ]
    after = [
        other for other in inside if other.index > item.index and is_bounding(other.step.anchor)
    ]
    low = max(before, key=lambda other: utc(other.at), default=None)
    high = min(after, key=lambda other: utc(other.at), default=None)
    if low is not None and high is not None and utc(low.at) > utc(high.at):
        return item  # the bounding steps themselves are out of order: nothing to hold to
    anchor = item.step.anchor
    if low is not None and utc(item.at) < utc(low.at):
        notes.append(
            f"the step at {anchor} falls at {stamp(item.at)}, before {low.step.anchor} "
            f"({stamp(low.at)}), which comes first in the program; it runs with it"
        )
        return Placed(low.at, item.index, item.step, item.at)
    if high is not None and utc(item.at) > utc(high.at):
        notes.append(
            f"the step at {anchor} falls at {stamp(item.at)}, after {high.step.anchor} "
            f"({stamp(high.at)}), which comes later in the program; it cannot fire this night"
        )
        return Placed(high.at, item.index, item.step, item.at)
    return item


def _ties(held: list[Placed], notes: list[str], decided: list[StepOutcome]) -> list[Placed]:
    """Order by instant; of steps on one instant the one written later wins."""
    ordered = sorted(held, key=lambda item: (utc(item.at), item.index))
    winners: list[Placed] = []
    for item in ordered:
        if winners and utc(winners[-1].at) == utc(item.at):
            loser = winners.pop()
            decided.append(
                StepOutcome(loser.index, loser.step, Fate.OVERRULED, loser.at, loser.written_at)
            )
            if not loser.held and not item.held:
                notes.append(
                    f"the steps at {loser.step.anchor} and {item.step.anchor} both fall at "
                    f"{stamp(item.at)}; the later one in the program ({item.step}) applies"
                )
        winners.append(item)
    return winners


def _clock(
    anchor: ClockTime, date: datetime.date, tz: datetime.tzinfo, notes: list[str]
) -> datetime.datetime:
    day = date if anchor.evening else date + datetime.timedelta(days=1)
    local = resolve_wall_time(day, anchor.at, tz)
    if local.kind is WallTimeKind.SKIPPED:
        notes.append(
            f"{anchor} does not exist on {day} in {tz} (the clocks spring forward); "
            f"the step runs at the first valid instant after it, {stamp(local.at)}"
        )
    elif local.kind is WallTimeKind.REPEATED:
        notes.append(
            f"{anchor} happens twice on {day} in {tz} (the clocks fall back); "
            f"the step runs at the first occurrence, {stamp(local.at)}"
        )
    return local.at


def _solar(anchor: SolarTime, sun: NightSun, tz: datetime.tzinfo) -> datetime.datetime | None:
    event = when(sun, anchor.event)
    if event is None:
        return None
    return (utc(event) + anchor.offset).astimezone(tz)


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
            names = " / ".join(event.value for event in events if when(sun, event) is None)
            yield (
                f"no {names} between {stamp(start)} and the next noon at "
                f"{site.name} (it falls just outside the noon-to-noon night); {steps} skipped"
            )


def _polar_night(sun: NightSun, events: tuple[SolarEvent, ...], site: Site) -> str:
    next_day = sun.date + datetime.timedelta(days=1)
    evening, morning = (when(sun, event) for event in events)
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


def when(sun: NightSun, event: SolarEvent) -> datetime.datetime | None:
    """The instant of ``event`` on the night ``sun`` describes (None if it does not happen)."""
    return {
        SolarEvent.SUNSET: sun.sunset,
        SolarEvent.SUNRISE: sun.sunrise,
        SolarEvent.DUSK: sun.dusk,
        SolarEvent.DAWN: sun.dawn,
        SolarEvent.MIDNIGHT: sun.solar_midnight,
    }[event]


def _listing(steps: list[Step]) -> str:
    anchors = [str(step.anchor) for step in steps]
    if len(anchors) == 1:
        return f"the step at {anchors[0]} is"
    return f"the steps at {', '.join(anchors[:-1])} and {anchors[-1]} are"


def stamp(moment: datetime.datetime) -> str:
    """``2026-12-24 17:05 CST``: an instant as the notes show it."""
    return moment.strftime("%Y-%m-%d %H:%M %Z")
