"""Energy, pure: from a lamp's counters to its hours, and from nights to the energy report.

Nothing here reads the clock or touches the database: the roll-up
(``lighting.storage.energy``) hands in readings, the CLI and the dashboard hand in the
site, the nights' records and ``until`` (now, for a night in progress).

Counters to hours. A lamp reports counters since its power-up (energy, burning time) and
its level. Two readings in a row close an interval (``interval``): what the counters grew
by in between, and the level of the earlier one (sample and hold). ``hour_shares`` spreads
an interval over the UTC hours it overlaps, in proportion to time, so that an interval
across an hour boundary is split between both hours. The rules for a restart (a counter
that went down, a new boot) are in ``interval``.

Nights to the report. The baseline of a night is the same lamps at full power from dusk to
dawn: the sum of their rated wattage times the hours from sunset to sunrise of the night
at the site (``dark_window``; the whole night, noon to noon, in polar night, none in polar
day). The saving is the baseline less the energy drawn, in kWh and in percent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from schedules import Site, SunCase, night_sun
from schedules.wallclock import night_window

if TYPE_CHECKING:
    from lighting.storage.records import NightEnergy

HOUR = timedelta(hours=1)
FIRST_REPORT_MAX_BURNING_S = 86_400
"""A lamp's first reading on record counts whole only if it burned at most this long; longer
counters began before the record did."""
RESTART_SLACK_S = 120.0
"""Clock slack allowed when judging whether a new boot restarted its counters."""


# -- counters to hours ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """A lamp's counters as one report gave them; ``ref`` names the report (its id)."""

    lamp_id: str
    boot: int
    seq: int
    at: datetime
    level: int
    power_w: float
    energy_wh: float
    burning_s: float
    ref: int = 0

    @property
    def order(self) -> tuple[int, int]:
        """The lamp's own order: registrations (boots), then sequence numbers."""
        return self.boot, self.seq


@dataclass(frozen=True, slots=True)
class Interval:
    """The time between two readings of a lamp, and what its counters grew by in it."""

    start: datetime
    end: datetime
    energy_wh: float
    burning_s: float
    level: int


@dataclass(frozen=True, slots=True)
class HourShare:
    """The part of an interval that falls in one UTC hour (``hour`` is its start)."""

    hour: datetime
    energy_wh: float
    burning_s: float
    level_s: float
    """Level (percent) times seconds."""
    covered_s: float


def hour_of(instant: datetime) -> datetime:
    """The start of the UTC hour that holds ``instant`` (aware)."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def restarted(prev: Reading, reading: Reading) -> bool:
    """Whether ``reading``'s counters started again from zero after ``prev``.

    They did if they went down; on a new boot (a lamp registers at power-up) they did,
    unless the lamp has burned longer than the time since ``prev``: then it registered
    again without a power-up, and its counters carried on.
    """
    if reading.energy_wh < prev.energy_wh or reading.burning_s < prev.burning_s:
        return True
    if reading.boot != prev.boot:
        since = (reading.at - prev.at).total_seconds()
        return reading.burning_s <= since + RESTART_SLACK_S
    return False


def interval(prev: Reading | None, reading: Reading) -> Interval:
    """The interval that ``reading`` closes, ``prev`` being the lamp's reading before it.

    - Counters that carried on: their growth, from ``prev`` to ``reading``; a reading
      received before ``prev`` (out of order) closes a zero-length interval at its receipt.
    - Counters that restarted (or the lamp's first reading): counted whole, over the burning
      time before ``reading`` (not before ``prev``), at its own level; a first reading with
      more than ``FIRST_REPORT_MAX_BURNING_S`` counts nothing.
    """
    end = reading.at
    if prev is not None and not restarted(prev, reading):
        return Interval(
            start=min(prev.at, end),
            end=end,
            energy_wh=reading.energy_wh - prev.energy_wh,
            burning_s=reading.burning_s - prev.burning_s,
            level=prev.level,
        )
    if prev is None and reading.burning_s > FIRST_REPORT_MAX_BURNING_S:
        return Interval(start=end, end=end, energy_wh=0.0, burning_s=0.0, level=reading.level)
    start = end - timedelta(seconds=reading.burning_s)
    if prev is not None:
        start = max(start, min(prev.at, end))
    return Interval(start, end, reading.energy_wh, reading.burning_s, reading.level)


def hour_shares(span: Interval) -> Iterator[HourShare]:
    """The interval hour by hour, in proportion to its time in each; a zero-length one all
    in the hour of its end."""
    if span.end <= span.start:
        yield HourShare(hour_of(span.end), span.energy_wh, span.burning_s, 0.0, 0.0)
        return
    total = (span.end - span.start).total_seconds()
    hour = hour_of(span.start)
    while hour < span.end:
        part = (min(span.end, hour + HOUR) - max(span.start, hour)).total_seconds()
        if part > 0:
            share = part / total
            yield HourShare(
                hour, span.energy_wh * share, span.burning_s * share, span.level * part, part
            )
        hour += HOUR


# -- nights to the report -------------------------------------------------------------------


def dark_window(site: Site, night: date) -> tuple[datetime, datetime] | None:
    """From sunset to sunrise of the night of ``night`` at ``site``: the hours a lamp at full
    power from dusk to dawn burns. The whole night (noon to noon) in polar night, from noon
    to sunrise on the night it ends and from sunset to noon on the night it begins; None in
    polar day."""
    sun = night_sun(site, night)
    start, end = night_window(night, site.tzinfo)
    if sun.sunset is None and sun.sunrise is None:
        return (start, end) if sun.case is SunCase.POLAR_NIGHT else None
    return sun.sunset or start, sun.sunrise or end


def dark_hours(site: Site, night: date, until: datetime | None = None) -> float:
    """Hours of ``dark_window``, only those before ``until`` if given."""
    window = dark_window(site, night)
    if window is None:
        return 0.0
    start, end = (moment.astimezone(UTC) for moment in window)
    if until is not None:
        end = min(end, until.astimezone(UTC))
    return max(0.0, (end - start).total_seconds() / 3600)


@dataclass(frozen=True, slots=True)
class EnergyLine:
    """One night of a zone (or of one lamp, ``lamp_id``) against full power."""

    night: date
    zone: str
    lamp_id: str | None
    lamps: int
    energy_kwh: float
    baseline_kwh: float
    """The same lamps at full power from sunset to sunrise."""
    dark_h: float
    burning_h: float
    """Burning hours per lamp, on average."""
    covered_h: float
    """Hours per lamp that its reports cover, on average: under the night's 24, the lamps
    were not on record all night, and the baseline counts the whole night all the same."""
    mean_level: float | None
    partial: bool = False
    """The night is still in progress: energy and baseline so far."""

    @property
    def saving_kwh(self) -> float:
        return self.baseline_kwh - self.energy_kwh

    @property
    def saving_pct(self) -> float | None:
        return 100 * self.saving_kwh / self.baseline_kwh if self.baseline_kwh > 0 else None


def energy_report(
    site: Site, records: Iterable[NightEnergy], *, until: datetime | None = None
) -> list[EnergyLine]:
    """Each record against the full-power baseline of its night at ``site``; a night that
    ``until`` (now) falls in is partial, its baseline counted up to ``until``."""
    lines = []
    for record in records:
        end = night_window(record.night, site.tzinfo)[1]
        partial = until is not None and until < end
        dark = dark_hours(site, record.night, until if partial else None)
        lines.append(
            EnergyLine(
                night=record.night,
                zone=record.zone,
                lamp_id=record.lamp_id,
                lamps=record.lamps,
                energy_kwh=record.energy_wh / 1000,
                baseline_kwh=record.wattage_w * dark / 1000,
                dark_h=dark,
                burning_h=record.burning_s / 3600 / record.lamps if record.lamps else 0.0,
                covered_h=record.covered_s / 3600 / record.lamps if record.lamps else 0.0,
                mean_level=record.mean_level,
                partial=partial,
            )
        )
    return sorted(lines, key=lambda line: (line.night, line.zone, line.lamp_id or ""))


@dataclass(frozen=True, slots=True)
class EnergyTotal:
    """Lines added up: the energy and the baseline of a range of nights."""

    nights: int
    energy_kwh: float
    baseline_kwh: float

    @property
    def saving_kwh(self) -> float:
        return self.baseline_kwh - self.energy_kwh

    @property
    def saving_pct(self) -> float | None:
        return 100 * self.saving_kwh / self.baseline_kwh if self.baseline_kwh > 0 else None


def total(lines: Iterable[EnergyLine]) -> EnergyTotal:
    found = list(lines)
    return EnergyTotal(
        nights=len({line.night for line in found}),
        energy_kwh=sum(line.energy_kwh for line in found),
        baseline_kwh=sum(line.baseline_kwh for line in found),
    )


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def line_dict(line: EnergyLine) -> dict[str, Any]:
    """A line for JSON and CSV: energy in kWh to the Wh, shares in percent to 0.1."""
    return {
        "night": line.night.isoformat(),
        "zone": line.zone,
        "lamp": line.lamp_id,
        "lamps": line.lamps,
        "energy_kwh": round(line.energy_kwh, 3),
        "full_power_kwh": round(line.baseline_kwh, 3),
        "saving_kwh": round(line.saving_kwh, 3),
        "saving_pct": _round(line.saving_pct, 1),
        "dark_h": round(line.dark_h, 2),
        "burning_h": round(line.burning_h, 2),
        "covered_h": round(line.covered_h, 2),
        "mean_level": _round(line.mean_level, 1),
        "partial": line.partial,
    }
