"""The anti-flap guard: no program lights the lamps for a few minutes, or darkens them briefly.

Given the changes of a program on one night (each changing the level), ``guard``

1. bridges every dark gap shorter than ``min_gap`` in the middle of the night: the lamps
   stay at the level they had before it (light is the safe side);
2. then drops every lit period shorter than ``min_lit``: the lamps stay off.

Bridging only lengthens lit periods and dropping only lengthens dark ones, so one pass of
each leaves no gap or lit period that is too short. A lit period still running at the end
of the night is kept: its length depends on the next night. Overrides are not guarded.
"""

from __future__ import annotations

from dataclasses import dataclass

from schedules.calendar import AntiFlap
from schedules.program import format_duration
from schedules.resolve import Placed, stamp
from schedules.wallclock import utc

__all__ = ["Guarded", "guard"]


@dataclass(frozen=True, slots=True)
class Guarded:
    """The changes kept, the program indexes of those removed, and why."""

    kept: tuple[Placed, ...]
    removed: frozenset[int]
    notes: tuple[str, ...]


def guard(changes: tuple[Placed, ...], anti_flap: AntiFlap) -> Guarded:
    """Apply ``anti_flap`` to ``changes``: strictly increasing, each changing the level."""
    notes: list[str] = []
    removed: set[int] = set()
    bridged = _bridge(list(changes), anti_flap, notes, removed)
    kept = _drop_short(bridged, anti_flap, notes, removed)
    return Guarded(tuple(kept), frozenset(removed), tuple(notes))


def _bridge(
    changes: list[Placed], anti_flap: AntiFlap, notes: list[str], removed: set[int]
) -> list[Placed]:
    kept: list[Placed] = []
    position = 0
    while position < len(changes):
        item = changes[position]
        before = kept[-1].step.level if kept else 0
        after = changes[position + 1] if position + 1 < len(changes) else None
        if before > 0 and item.step.level == 0 and after is not None:
            gap = utc(after.at) - utc(item.at)
            if gap < anti_flap.min_gap:
                notes.append(
                    f"anti-flap: the lamps would be off for only {format_duration(gap)} from "
                    f"{stamp(item.at)} (min-gap {format_duration(anti_flap.min_gap)}); "
                    f"they stay at {before}%"
                )
                removed.add(item.index)
                if after.step.level == before:
                    removed.add(after.index)
                    position += 2
                else:
                    position += 1
                continue
        kept.append(item)
        position += 1
    return kept


def _drop_short(
    changes: list[Placed], anti_flap: AntiFlap, notes: list[str], removed: set[int]
) -> list[Placed]:
    kept: list[Placed] = []
    position = 0
    while position < len(changes):
        item = changes[position]
        before = kept[-1].step.level if kept else 0
        if before == 0 and item.step.level > 0:
            off = next(
                (k for k in range(position + 1, len(changes)) if changes[k].step.level == 0), None
            )
            if off is not None:
                lit = utc(changes[off].at) - utc(item.at)
                if lit < anti_flap.min_lit:
                    notes.append(
                        f"anti-flap: the lamps would be lit for only {format_duration(lit)} from "
                        f"{stamp(item.at)} (min-lit {format_duration(anti_flap.min_lit)}); "
                        "they stay off"
                    )
                    removed.update(changes[k].index for k in range(position, off + 1))
                    position = off + 1
                    continue
        kept.append(item)
        position += 1
    return kept
