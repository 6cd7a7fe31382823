"""Frozen records that the storage layer hands out: what the CLI, the dashboard and the
controller read, independent of the tables behind them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from lighting.model import FaultKind, Severity


@dataclass(frozen=True, slots=True)
class LampRecord:
    lamp_id: str
    zone: str
    latitude: float
    longitude: float
    wattage: float
    cell: str
    address: str
    port: int
    report_period_s: int
    registered_at: datetime
    last_seen: datetime | None
    level: int | None
    power_w: float | None
    energy_wh: float | None
    in_contact: bool
    queue_mode: bool = False
    desired_level: int | None = None
    desired_change_id: int | None = None
    desired_command_id: int | None = None
    delivered: bool = False
    unreachable: bool = False

    @property
    def status(self) -> str:
        if not self.in_contact:
            return "out-of-contact"
        return "unreachable" if self.unreachable else "ok"


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """One stored state report of a lamp."""

    lamp_id: str
    boot: int
    seq: int
    received_at: datetime
    level: int
    power_w: float
    energy_wh: float
    burning_s: int
    voltage_v: float | None
    faults: tuple[FaultKind, ...]


@dataclass(frozen=True, slots=True)
class FaultRecord:
    fault_id: int
    lamp_id: str
    zone: str
    cell: str
    kind: FaultKind
    source: str
    status: str
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    count: int
    latitude: float
    longitude: float
    detail: str
    note: str
    incident_id: int | None

    @property
    def severity(self) -> Severity:
        return self.kind.severity

    @property
    def active(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """Many lamps of one cell with the same fault at once."""

    incident_id: int
    kind: FaultKind
    cell: str
    zones: tuple[str, ...]
    status: str
    lamps: int
    peak: int
    latitude: float
    longitude: float
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    note: str

    @property
    def severity(self) -> Severity:
        return self.kind.severity

    @property
    def active(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class CommandRecord:
    command_id: int
    change_id: int | None
    lamp_id: str
    level: int
    reason: str
    created_at: datetime
    outcome: str
    completed_at: datetime | None
    latency_ms: float | None
    attempts: int
    error: str | None


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    change_id: int
    zone: str
    level: int
    reason: str
    planned_at: datetime
    started_at: datetime
    finished_at: datetime | None
    total: int
    acknowledged: int
    failed: int


@dataclass(frozen=True, slots=True)
class ChangeSummary:
    """How far a change has got: its commands by outcome, and when the last one landed."""

    change: ChangeRecord
    acknowledged: int
    failed: int
    pending: int
    superseded: int
    last_acknowledged_at: datetime | None

    @property
    def took_s(self) -> float | None:
        if self.last_acknowledged_at is None:
            return None
        return (self.last_acknowledged_at - self.change.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What became of one command, to be written back in a batch."""

    command_id: int
    lamp_id: str
    outcome: str  # "acknowledged" or "failed"
    completed_at: datetime
    latency_ms: float | None
    attempts: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HourlyRecord:
    """One lamp's hour (UTC start) as rolled up from its reports."""

    lamp_id: str
    zone: str
    hour: datetime
    energy_wh: float
    burning_s: float
    level_s: float
    covered_s: float
    power_max_w: float
    reports: int

    @property
    def mean_level(self) -> float | None:
        """The reported level (percent) averaged over the seconds that reports cover."""
        return self.level_s / self.covered_s if self.covered_s > 0 else None

    @property
    def mean_power_w(self) -> float | None:
        return self.energy_wh * 3600 / self.covered_s if self.covered_s > 0 else None


@dataclass(frozen=True, slots=True)
class NightEnergy:
    """The energy of one night (local noon to noon) of a zone, or of one lamp of it.

    ``lamps`` counts the lamps with roll-ups in the night and ``wattage_w`` sums their rated
    wattage: the same lamps at full power make the baseline (``lighting.energy``).
    """

    night: date
    zone: str
    lamp_id: str | None
    lamps: int
    wattage_w: float
    energy_wh: float
    burning_s: float
    level_s: float
    covered_s: float
    reports: int

    @property
    def mean_level(self) -> float | None:
        return self.level_s / self.covered_s if self.covered_s > 0 else None


@dataclass(frozen=True, slots=True)
class RollupResult:
    """What one roll-up batch did: reports counted, hourly rows written, and whether the
    reports received before its ``until`` are all counted now."""

    reports: int
    hours: int
    last_report_id: int
    done: bool


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one prune batch deleted, and whether nothing older than retention is left."""

    reports: int
    hourly: int
    done: bool


@dataclass(frozen=True, slots=True)
class OverrideRecord:
    """An operator's order: hold a zone (or one lamp) at a level from start to end."""

    override_id: int
    zone: str | None
    lamp_id: str | None
    level: int
    start: datetime
    end: datetime
    by: str
    reason: str
    created_at: datetime
    cancelled_at: datetime | None
    cancelled_by: str | None

    @property
    def name(self) -> str:
        """Its name among the plan's overrides: ``operator-12``."""
        return f"operator-{self.override_id}"

    def active(self, now: datetime) -> bool:
        return self.cancelled_at is None and self.start <= now < self.end


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Who did what to which lamp, fault, incident or override, and when."""

    entry_id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: str
