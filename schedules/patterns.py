"""The common programs, one short declaration each.

::

    all_night("main", 100)                                   sunset 100 %, sunrise off
    evening_only("shops", until="22:00")                     sunset 100 %, 22:00 off
    morning_only("bus", start="05:30")                       05:30 100 %, sunrise off
    part_night("road", 100, [("23:00", 50), ("05:00", 100)]) 100 % until 23:00, 50 % until
                                                             05:00, 100 % until sunrise
    midnight_dimming("astro", 100, dimmed=50, window="6h")   50 % for the 6 hours centred on
                                                             solar midnight (AstroDIM)

Every pattern takes ``on`` and ``off`` anchors (sunset and sunrise by default, e.g.
``on="dusk"`` or ``off="sunrise+10min"``) and a ``ramp`` applied to each of its steps.
On nights too short for them the written order keeps them sensible: an evening that ends
before sunset never lights, a morning that starts after sunrise never lights, a dimming
window longer than the night dims the whole night (``schedules.resolve``).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TypeAlias

from schedules.errors import InvalidProgramError
from schedules.program import (
    Anchor,
    Program,
    SolarEvent,
    SolarTime,
    Step,
    parse_anchor,
    parse_duration,
)

__all__ = ["all_night", "evening_only", "midnight_dimming", "morning_only", "part_night"]

AnchorLike: TypeAlias = str | Anchor
DurationLike: TypeAlias = str | datetime.timedelta
_NO_RAMP = datetime.timedelta(0)


def all_night(
    name: str,
    level: int = 100,
    *,
    on: AnchorLike = "sunset",
    off: AnchorLike = "sunrise",
    ramp: DurationLike = _NO_RAMP,
) -> Program:
    """Lit at ``level`` from ``on`` to ``off``."""
    fade = _duration(ramp)
    return Program(name, (_step(on, level, fade), _step(off, 0, fade)))


def evening_only(
    name: str,
    until: AnchorLike,
    level: int = 100,
    *,
    on: AnchorLike = "sunset",
    ramp: DurationLike = _NO_RAMP,
) -> Program:
    """Lit at ``level`` from ``on`` (sunset) until a fixed time ``until``."""
    return all_night(name, level, on=on, off=until, ramp=ramp)


def morning_only(
    name: str,
    start: AnchorLike,
    level: int = 100,
    *,
    off: AnchorLike = "sunrise",
    ramp: DurationLike = _NO_RAMP,
) -> Program:
    """Lit at ``level`` from a fixed time ``start`` until ``off`` (sunrise)."""
    return all_night(name, level, on=start, off=off, ramp=ramp)


def part_night(
    name: str,
    level: int,
    dims: Sequence[tuple[AnchorLike, int] | Step],
    *,
    on: AnchorLike = "sunset",
    off: AnchorLike = "sunrise",
    ramp: DurationLike = _NO_RAMP,
) -> Program:
    """Lit at ``level`` from ``on``, then each ``(anchor, level)`` of ``dims`` in turn,
    off at ``off``: ``part_night("p", 100, [("23:00", 50), ("05:00", 100)])``. A ``Step``
    in ``dims`` is taken as it is (with its own ramp)."""
    if not dims:
        raise InvalidProgramError("part-night dimming needs at least one dimming step", name=name)
    fade = _duration(ramp)
    middle = tuple(dim if isinstance(dim, Step) else _step(dim[0], dim[1], fade) for dim in dims)
    return Program(name, (_step(on, level, fade), *middle, _step(off, 0, fade)))


def midnight_dimming(
    name: str,
    level: int,
    dimmed: int,
    window: DurationLike,
    *,
    on: AnchorLike = "sunset",
    off: AnchorLike = "sunrise",
    ramp: DurationLike = _NO_RAMP,
) -> Program:
    """Lit at ``level``, dimmed to ``dimmed`` for ``window`` centred on solar midnight.

    Solar midnight moves with the seasons and the longitude, not with the clocks, so the
    window stays in the middle of the night all year, as AstroDIM drivers do.
    """
    length = _duration(window)
    if not datetime.timedelta(0) < length < datetime.timedelta(hours=24):
        raise InvalidProgramError("the dimming window must be between 0 and 24h", name=name)
    fade = _duration(ramp)
    half = length / 2
    return Program(
        name,
        (
            _step(on, level, fade),
            Step(SolarTime(SolarEvent.MIDNIGHT, -half), dimmed, fade),
            Step(SolarTime(SolarEvent.MIDNIGHT, half), level, fade),
            _step(off, 0, fade),
        ),
    )


def _step(anchor: AnchorLike, level: int, ramp: datetime.timedelta) -> Step:
    return Step(parse_anchor(anchor) if isinstance(anchor, str) else anchor, level, ramp)


def _duration(value: DurationLike) -> datetime.timedelta:
    return parse_duration(value) if isinstance(value, str) else value
