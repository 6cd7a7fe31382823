"""Dimming programs: steps that set a level at a clock time or relative to a sun event.

Anchors are written the way operators and uCIFI write them::

    sunset            sunset-10min      sunrise+10min      dusk+1h30m      dawn-45s
    solar-midnight-3h (the middle of the night, as AstroDIM drivers use it)
    23:00             01:30             23:00:30
    S+30              R-20              (uCIFI short form: S = sunset, R = sunrise, minutes)

A clock time from 12:00 up belongs to the evening of the night's date, one before 12:00 to
the next morning: a night runs from noon to noon. A solar offset is elapsed time and must
be shorter than 12 hours either way. ``str(anchor)`` gives back the canonical text.

A step may fade: ``ramp`` is the time the lamps take to go from the level in force to the
step's level, starting at the step's instant (at most ``MAX_RAMP``, the protocol's limit).

Steps are written in night order. Sunset, sunrise, dusk and dawn bound the night (they are
*bounding* anchors); clock times and solar midnight fall between them. On a night where a
clock step crosses a bounding step of the program (06:00 after a summer sunrise), the plan
keeps the written order: see ``schedules.resolve``.
"""

from __future__ import annotations

import datetime
import enum
import re
from dataclasses import dataclass
from datetime import time as wall_time
from typing import TypeAlias

from schedules.const import LEVEL_MAX, LEVEL_MIN, MAX_RAMP, MAX_SOLAR_OFFSET, NIGHT_BOUNDARY
from schedules.errors import InvalidProgramError, InvalidStepError

__all__ = [
    "Anchor",
    "ClockTime",
    "Program",
    "SolarEvent",
    "SolarTime",
    "Step",
    "format_duration",
    "is_bounding",
    "parse_anchor",
    "parse_duration",
    "parse_step",
]


class SolarEvent(enum.Enum):
    """The sun events a step can be anchored to (dusk and dawn are civil, 6 degrees;
    solar midnight is the sun's lowest point, the middle of the night)."""

    SUNSET = "sunset"
    SUNRISE = "sunrise"
    DUSK = "dusk"
    DAWN = "dawn"
    MIDNIGHT = "solar-midnight"

    @property
    def bounding(self) -> bool:
        """True for the events that open or close the dark part of the night."""
        return self is not SolarEvent.MIDNIGHT


@dataclass(frozen=True, slots=True)
class ClockTime:
    """A local wall-clock time (naive ``datetime.time``), read in the site's zone."""

    at: datetime.time

    def __post_init__(self) -> None:
        if not isinstance(self.at, datetime.time):
            raise InvalidStepError(f"a clock time needs a datetime.time, not {self.at!r}")
        if self.at.tzinfo is not None:
            raise InvalidStepError(
                f"clock time {self.at.isoformat()} carries a zone: clock times are local "
                "wall-clock times, read in the site's zone"
            )

    @property
    def evening(self) -> bool:
        """True when the time falls on the evening of the night's date (12:00 and later)."""
        return self.at >= NIGHT_BOUNDARY

    def __str__(self) -> str:
        return self.at.isoformat(timespec="seconds" if self.at.second else "minutes")


@dataclass(frozen=True, slots=True)
class SolarTime:
    """A sun event shifted by ``offset`` (negative: before the event)."""

    event: SolarEvent
    offset: datetime.timedelta = datetime.timedelta(0)

    def __post_init__(self) -> None:
        if not isinstance(self.event, SolarEvent):
            raise InvalidStepError(f"unknown sun event {self.event!r}")
        if not isinstance(self.offset, datetime.timedelta):
            raise InvalidStepError(f"a solar offset needs a timedelta, not {self.offset!r}")
        if abs(self.offset) >= MAX_SOLAR_OFFSET:
            raise InvalidStepError(
                f"offset {_format_offset(self.offset)} from {self.event.value} is too large: "
                "it must be shorter than 12h"
            )

    def __str__(self) -> str:
        if not self.offset:
            return self.event.value
        return f"{self.event.value}{_format_offset(self.offset)}"


Anchor: TypeAlias = ClockTime | SolarTime


def is_bounding(anchor: Anchor) -> bool:
    """True when ``anchor`` is sunset, sunrise, dusk or dawn (with any offset)."""
    return isinstance(anchor, SolarTime) and anchor.event.bounding


@dataclass(frozen=True, slots=True)
class Step:
    """Set the lamps to ``level`` percent (0 is off) at ``anchor``, fading over ``ramp``."""

    anchor: Anchor
    level: int
    ramp: datetime.timedelta = datetime.timedelta(0)

    def __post_init__(self) -> None:
        if not isinstance(self.anchor, ClockTime | SolarTime):
            raise InvalidStepError(f"a step needs a ClockTime or SolarTime, not {self.anchor!r}")
        if isinstance(self.level, bool) or not isinstance(self.level, int):
            raise InvalidStepError(
                f"step at {self.anchor}: level must be an integer percentage, not {self.level!r}",
                level=self.level,
            )
        if not LEVEL_MIN <= self.level <= LEVEL_MAX:
            raise InvalidStepError(
                f"step at {self.anchor}: level {self.level} is outside {LEVEL_MIN}..{LEVEL_MAX}",
                level=self.level,
            )
        if not isinstance(self.ramp, datetime.timedelta):
            raise InvalidStepError(f"step at {self.anchor}: a ramp needs a timedelta")
        if not datetime.timedelta(0) <= self.ramp <= MAX_RAMP:
            raise InvalidStepError(
                f"step at {self.anchor}: ramp {format_duration(self.ramp)} is outside 0..1h"
            )

    def __str__(self) -> str:
        fade = f" over {format_duration(self.ramp)}" if self.ramp else ""
        return f"{self.anchor} {self.level}%{fade}"


@dataclass(frozen=True, slots=True)
class Program:
    """A named list of steps, in night order as the operator wrote them (at least one).

    The written order decides two things: of steps falling on the same instant the later
    one wins, and a clock step that crosses a bounding step on some night is held to it
    (``schedules.resolve``). ``schedules.patterns`` builds the common programs in one line.
    """

    name: str
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if isinstance(self.steps, Step) or not isinstance(self.steps, tuple | list):
            raise InvalidProgramError("steps must be a tuple of Step", name=self.name)
        # A list is accepted and frozen into a tuple, so the program stays hashable.
        object.__setattr__(self, "steps", tuple(self.steps))
        if not self.steps:
            raise InvalidProgramError("needs at least one step", name=self.name)
        for step in self.steps:
            if not isinstance(step, Step):
                raise InvalidProgramError(f"{step!r} is not a Step", name=self.name)


_EXPECTED = (
    "expected sunset, sunrise, dusk or dawn with an optional offset (sunset-10min, "
    "dusk+1h30m), a uCIFI offset in minutes (S+30, R-20) or a local time (23:00, 01:30)"
)
_CLOCK = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?")
_SOLAR = re.compile(
    r"(?P<event>sunset|sunrise|dusk|dawn|solar-midnight)(?:\s*(?P<sign>[+-])\s*(?P<offset>.*))?",
    re.IGNORECASE,
)
_UCIFI = re.compile(r"(?P<event>[SR])(?:\s*(?P<sign>[+-])\s*(?P<minutes>\d{1,3}))?", re.IGNORECASE)
_UCIFI_EVENTS = {"S": SolarEvent.SUNSET, "R": SolarEvent.SUNRISE}
_DURATION = re.compile(
    r"(?:(?P<hours>\d+)\s*h)?\s*(?:(?P<minutes>\d+)\s*(?:min|m))?\s*(?:(?P<seconds>\d+)\s*s)?",
    re.IGNORECASE,
)


def parse_anchor(text: str) -> Anchor:
    """Read an anchor written as in the module docstring.

    Raises ``InvalidStepError`` naming ``text`` when it is none of those forms, when a
    clock time is out of range or when an offset has no unit or reaches 12 hours.
    """
    if not isinstance(text, str):
        raise InvalidStepError(f"cannot read anchor {text!r}: {_EXPECTED}", text=str(text))
    cleaned = text.strip()
    if match := _CLOCK.fullmatch(cleaned):
        return ClockTime(_clock_time(text, match))
    if match := _SOLAR.fullmatch(cleaned):
        event = SolarEvent(match["event"].lower())
        if match["sign"] is None:
            return SolarTime(event)
        return _solar(text, event, match["sign"], _duration(text, match["offset"]))
    if match := _UCIFI.fullmatch(cleaned):
        event = _UCIFI_EVENTS[match["event"].upper()]
        if match["sign"] is None:
            return SolarTime(event)
        return _solar(text, event, match["sign"], datetime.timedelta(minutes=int(match["minutes"])))
    raise InvalidStepError(f"cannot read anchor {text!r}: {_EXPECTED}", text=text)


def parse_step(anchor: str, level: int, ramp: str | datetime.timedelta | None = None) -> Step:
    """A step from its anchor text, level and optional ramp, e.g.
    ``parse_step("sunset-10min", 100)`` or ``parse_step("23:00", 50, "5min")``."""
    if isinstance(ramp, str):
        ramp = parse_duration(ramp)
    return Step(parse_anchor(anchor), level, ramp or datetime.timedelta(0))


def parse_duration(text: str) -> datetime.timedelta:
    """A duration written with units: ``10min``, ``45m``, ``1h30m``, ``2h``, ``30s``, ``0s``."""
    if not isinstance(text, str):
        raise InvalidStepError(f"cannot read duration {text!r}", text=str(text))
    return _duration(text, text, what="duration")


def format_duration(duration: datetime.timedelta) -> str:
    """The canonical text of a duration, as ``parse_duration`` reads it (``1h30min``)."""
    return _format_offset(duration)[1:]


def _clock_time(text: str, match: re.Match[str]) -> datetime.time:
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidStepError(
            f"cannot read anchor {text!r}: a local time runs from 00:00 to 23:59", text=text
        )
    return wall_time(hour, minute, second)


def _duration(text: str, written: str, *, what: str = "the offset in anchor") -> datetime.timedelta:
    match = _DURATION.fullmatch(written.strip())
    if match is None or not any(match.groups()):
        raise InvalidStepError(
            f"cannot read {what} {text!r}: write it with units, e.g. 10min, 45m, 1h30m, 2h or 30s",
            text=text,
        )
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return datetime.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _solar(text: str, event: SolarEvent, sign: str, offset: datetime.timedelta) -> SolarTime:
    try:
        return SolarTime(event, -offset if sign == "-" else offset)
    except InvalidStepError as err:
        raise InvalidStepError(f"cannot use anchor {text!r}: {err}", text=text) from err


def _format_offset(offset: datetime.timedelta) -> str:
    sign = "-" if offset < datetime.timedelta(0) else "+"
    minutes, seconds = divmod(abs(offset), datetime.timedelta(minutes=1))
    hours, minutes = divmod(minutes, 60)
    text = "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "min")) if value)
    if seconds or not text:
        text += f"{seconds.total_seconds():g}s"
    return sign + text
