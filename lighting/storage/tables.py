"""SQLModel tables: the controller's record of lamps, reports, changes, commands and faults.

Tables stay in this package; the rest of the system sees the frozen records of
``lighting.storage.records``. Every timestamp is stored in UTC and comes back zone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Column, Field, SQLModel

BIG_ID = BigInteger().with_variant(Integer, "sqlite")
"""A 64-bit key for the tables a city fills by the million (10,000 lamps reporting each
minute pass 2**31 reports in five months); on SQLite an INTEGER PRIMARY KEY, which is
already 64-bit and the rowid."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and returned zone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored: pass a zone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class LampRow(SQLModel, table=True):
    __tablename__ = "lamp"

    lamp_id: str = Field(primary_key=True, max_length=64)
    zone: str = Field(index=True, max_length=64)
    latitude: float
    longitude: float
    wattage: float
    cell: str = Field(default="", index=True, max_length=64)
    firmware: str = Field(default="", max_length=64)
    address: str = Field(max_length=64)
    port: int
    report_period_s: int = 60
    registered_at: datetime = _ts()
    last_seen: datetime | None = _ts(nullable=True)
    # What a lamp says may be any unsigned 63-bit number (protocol v1): 64-bit columns, or
    # PostgreSQL's 32-bit integer refuses a lamp whose count passed 2**31, and its batch.
    last_seq: int = Field(default=0, sa_type=BigInteger)
    level: int | None = None
    power_w: float | None = None
    energy_wh: float | None = None
    burning_s: int | None = Field(default=None, sa_type=BigInteger)
    voltage_v: float | None = None
    last_command_id: int | None = Field(default=None, sa_type=BigInteger)
    in_contact: bool = True
    boot: int = 0
    """Registrations so far: a lamp's sequence numbers start again at each power-up."""
    queue_mode: bool = False
    # Delivery, after TALQ's target / feedback / actual light state: the level the lamp should
    # have now, the command that carries it, and whether the lamp acknowledged that command.
    # The reported level above is the actual state.
    desired_level: int | None = None
    desired_change_id: int | None = None
    desired_command_id: int | None = None
    delivered: bool = False
    unreachable: bool = False


class ReportRow(SQLModel, table=True):
    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("lamp_id", "boot", "seq", name="uq_report_lamp_boot_seq"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    lamp_id: str = Field(index=True, max_length=64)
    boot: int = 0
    seq: int = Field(sa_type=BigInteger)
    received_at: datetime = _ts(index=True)
    level: int
    power_w: float
    energy_wh: float
    burning_s: int = Field(sa_type=BigInteger)
    voltage_v: float | None = None
    faults: str = ""


class ChangeRow(SQLModel, table=True):
    """A level ordered for a whole zone: a step of the plan or an operator's order."""

    __tablename__ = "change"

    id: int | None = Field(default=None, primary_key=True)
    zone: str = Field(index=True, max_length=64)
    level: int
    reason: str = Field(max_length=200)
    planned_at: datetime = _ts()
    started_at: datetime = _ts(index=True)
    finished_at: datetime | None = _ts(nullable=True)
    total: int = 0
    acknowledged: int = 0
    failed: int = 0


class CommandRow(SQLModel, table=True):
    """One command to one lamp; its primary key is the command id on the wire."""

    __tablename__ = "command"

    id: int | None = Field(default=None, primary_key=True)
    change_id: int | None = Field(default=None, index=True, foreign_key="change.id")
    lamp_id: str = Field(index=True, max_length=64)
    level: int
    reason: str = Field(default="", max_length=200)
    created_at: datetime = _ts(index=True)
    outcome: str = Field(default="pending", index=True, max_length=16)
    completed_at: datetime | None = _ts(nullable=True)
    latency_ms: float | None = None
    attempts: int = 0
    error: str | None = Field(default=None, max_length=200)


class FaultRow(SQLModel, table=True):
    __tablename__ = "fault"

    id: int | None = Field(default=None, primary_key=True)
    lamp_id: str = Field(index=True, max_length=64)
    kind: str = Field(index=True, max_length=32)
    source: str = Field(max_length=16)
    status: str = Field(default="open", index=True, max_length=16)
    opened_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    resolved_at: datetime | None = _ts(nullable=True)
    resolved_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = _ts(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=64)
    count: int = 1
    """How many times it occurred: a fault back within the flap window is the same fault."""
    detail: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=500)
    """The crew's word on closing it."""
    incident_id: int | None = Field(default=None, index=True, foreign_key="incident.id")


class IncidentRow(SQLModel, table=True):
    """Many lamps of one cell with the same fault at once, grouped into one job."""

    __tablename__ = "incident"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=32)
    cell: str = Field(index=True, max_length=64)
    zones: str = Field(default="", max_length=500)
    status: str = Field(default="open", index=True, max_length=16)
    lamps: int = 0
    """Lamps with the fault now."""
    peak: int = 0
    """Most lamps with the fault at once."""
    latitude: float = 0.0
    longitude: float = 0.0
    opened_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    resolved_at: datetime | None = _ts(nullable=True)
    resolved_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = _ts(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=500)


class HourlyRow(SQLModel, table=True):
    """One lamp's hour (UTC, from its start): what its reports say it drew and burned.

    Written by the roll-up (``lighting.storage.energy``) from the reports' counters, and kept
    far longer than the reports. ``level_s`` is the reported level (percent) integrated over
    ``covered_s``, the seconds of the hour that reports cover: the mean level is their
    quotient, the mean power ``energy_wh * 3600 / covered_s``.
    """

    __tablename__ = "hourly"
    __table_args__ = (
        UniqueConstraint("lamp_id", "hour", name="uq_hourly_lamp_hour"),
        Index("ix_hourly_zone_hour", "zone", "hour"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    lamp_id: str = Field(max_length=64)
    zone: str = Field(max_length=64)
    hour: datetime = _ts(index=True)
    energy_wh: float = 0.0
    burning_s: float = 0.0
    level_s: float = 0.0
    covered_s: float = 0.0
    power_max_w: float = 0.0
    reports: int = 0
    """Reports received in the hour."""


class RollupRow(SQLModel, table=True):
    """How far a roll-up has read the report table: the last report id it has counted."""

    __tablename__ = "rollup"

    name: str = Field(primary_key=True, max_length=32)
    last_report_id: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime | None = _ts(nullable=True)


class OverrideRow(SQLModel, table=True):
    """An operator's order: hold a zone or a lamp at a level for a while."""

    __tablename__ = "override"

    id: int | None = Field(default=None, primary_key=True)
    zone: str | None = Field(default=None, index=True, max_length=64)
    lamp_id: str | None = Field(default=None, index=True, max_length=64)
    level: int
    start: datetime = _ts()
    end: datetime = _ts(index=True)
    by: str = Field(max_length=64)
    reason: str = Field(default="", max_length=200)
    created_at: datetime = _ts()
    cancelled_at: datetime | None = _ts(nullable=True)
    cancelled_by: str | None = Field(default=None, max_length=64)


class AuditRow(SQLModel, table=True):
    """An operator's action, written in the same transaction as the action itself."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(index=True)
    actor: str = Field(index=True, max_length=64)
    action: str = Field(index=True, max_length=32)
    target: str = Field(index=True, max_length=100)
    detail: str = Field(default="", max_length=500)
