"""The city at a glance: what the operator's dashboard shows, as frozen values.

Built by the controller (``lighting.controller.overview``) from its own state and the record,
sent over the control channel as JSON (``lighting.protocol.control``), shown by the
dashboard. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from lighting.notices import FaultNotice


@dataclass(frozen=True, slots=True)
class ZoneView:
    zone: str
    lamps: int
    lit: int
    out_of_contact: int
    level_in_force: int | None
    """The level last sent to the zone (None: nothing sent since the record began)."""
    level_planned: int
    """The level the plan (with its overrides) puts in force now."""
    power_w: float
    faults: dict[str, int] = field(default_factory=dict)
    """Active faults by severity (faults grouped in an incident included)."""
    energy_tonight_kwh: float = 0.0
    baseline_tonight_kwh: float = 0.0
    """The lamps with energy on record tonight at full power, from sunset to the end of
    the last hour rolled up (as far as ``energy_tonight_kwh`` counts)."""
    next_change_at: datetime | None = None
    next_level: int | None = None
    program: str = ""

    @property
    def saving_pct(self) -> float | None:
        if self.baseline_tonight_kwh <= 0:
            return None
        return 100 * (1 - self.energy_tonight_kwh / self.baseline_tonight_kwh)


@dataclass(frozen=True, slots=True)
class OverrideView:
    override_id: int
    zone: str | None
    lamp_id: str | None
    level: int
    start: datetime
    end: datetime
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class CellDelivery:
    """How far the latest city-wide change got in one cell."""

    cell: str
    acknowledged: int
    pending: int
    failed: int


@dataclass(frozen=True, slots=True)
class CityView:
    site: str
    timezone: str
    at: datetime
    sunset: datetime | None
    sunrise: datetime | None
    zones: tuple[ZoneView, ...]
    overrides: tuple[OverrideView, ...] = ()
    delivery: tuple[CellDelivery, ...] = ()
    delivery_change: str = ""
    """Which change ``delivery`` is about ("change 12: centre to 60 %")."""
    incidents: int = 0

    @property
    def lamps(self) -> int:
        return sum(zone.lamps for zone in self.zones)

    @property
    def lit(self) -> int:
        return sum(zone.lit for zone in self.zones)

    @property
    def power_w(self) -> float:
        return sum(zone.power_w for zone in self.zones)


@dataclass(frozen=True, slots=True)
class LevelPoint:
    """One report of a lamp: when, at what level, drawing what."""

    at: datetime
    level: int
    power_w: float


@dataclass(frozen=True, slots=True)
class CommandView:
    command_id: int
    at: datetime
    level: int
    reason: str
    outcome: str
    attempts: int
    latency_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LampView:
    """One lamp as the operator sees it: its state, its night so far, its faults and orders."""

    lamp_id: str
    zone: str
    cell: str
    latitude: float
    longitude: float
    wattage: float
    level: int | None
    power_w: float | None
    in_contact: bool
    last_seen: datetime | None
    desired_level: int | None
    history: tuple[LevelPoint, ...] = ()
    """Its reports of the night so far, oldest first."""
    faults: tuple[FaultNotice, ...] = ()
    """Its active faults (and those resolved tonight), newest first."""
    commands: tuple[CommandView, ...] = ()
    """Its last commands, newest first."""


@dataclass(frozen=True, slots=True)
class EnergyNight:
    """A zone's energy over one night, against the same lamps at full power."""

    night: date
    zone: str
    energy_kwh: float
    baseline_kwh: float
    lamps: int

    @property
    def saving_pct(self) -> float | None:
        if self.baseline_kwh <= 0:
            return None
        return 100 * (1 - self.energy_kwh / self.baseline_kwh)
