"""Overrides: an operator's level for a zone or a lamp, from a start to an expiry.

An override beats the program while it is in force, ``start`` included and ``end``
excluded; when it ends the program resumes exactly where it would be (mid-ramp if a ramp is
running: ``schedules.plan``). Of overrides in force at once the highest ``priority`` wins,
then the one that started last, then the one given last.

Targets: an override with a ``lamp`` applies to that lamp's plan only; one with a ``zone``
to the zone's plan and to the plans of its lamps; one with neither to every plan.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

from schedules.const import LEVEL_MAX, LEVEL_MIN
from schedules.errors import InvalidOverrideError
from schedules.wallclock import utc

__all__ = ["Override", "override_in_force"]


@dataclass(frozen=True, slots=True)
class Override:
    """Hold ``level`` from ``start`` (included) to ``end`` (excluded), aware datetimes."""

    name: str
    level: int
    start: datetime.datetime
    end: datetime.datetime
    priority: int = 0
    zone: str | None = None
    lamp: str | None = None
    reason: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidOverrideError("needs a name", name=str(self.name))
        if isinstance(self.level, bool) or not isinstance(self.level, int):
            raise InvalidOverrideError(f"level {self.level!r} is not an integer", name=self.name)
        if not LEVEL_MIN <= self.level <= LEVEL_MAX:
            raise InvalidOverrideError(
                f"level {self.level} is outside {LEVEL_MIN}..{LEVEL_MAX}", name=self.name
            )
        for label, moment in (("start", self.start), ("end", self.end)):
            if not isinstance(moment, datetime.datetime):
                raise InvalidOverrideError(f"{label} {moment!r} is not a datetime", name=self.name)
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise InvalidOverrideError(
                    f"{label} {moment.isoformat()} is naive: give it a zone", name=self.name
                )
        if utc(self.end) <= utc(self.start):
            raise InvalidOverrideError(
                f"ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})",
                name=self.name,
            )
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise InvalidOverrideError(
                f"priority {self.priority!r} is not an integer", name=self.name
            )

    def applies_to(self, zone: str | None, lamp: str | None) -> bool:
        """True when this override concerns the plan of ``zone`` (and ``lamp``, if given)."""
        if self.lamp is not None:
            return lamp == self.lamp
        return self.zone is None or zone == self.zone

    def in_force(self, instant: datetime.datetime) -> bool:
        return utc(self.start) <= utc(instant) < utc(self.end)

    @property
    def target(self) -> str:
        if self.lamp is not None:
            return f"lamp {self.lamp}"
        return "every zone" if self.zone is None else f"zone {self.zone}"

    def __str__(self) -> str:
        first = self.start.isoformat(timespec="minutes")
        last = self.end.isoformat(timespec="minutes")
        return (
            f"override {self.name!r} ({self.target}, {self.level}%, priority {self.priority}, "
            f"{first} to {last})"
        )


def override_in_force(overrides: Sequence[Override], instant: datetime.datetime) -> Override | None:
    """The override that wins at ``instant``: highest priority, then latest start, then the
    last one given; None when none is in force."""
    found = [
        (override.priority, utc(override.start), index, override)
        for index, override in enumerate(overrides)
        if override.in_force(instant)
    ]
    return max(found, key=lambda item: item[:3])[3] if found else None
