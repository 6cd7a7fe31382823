"""The repository: every read and write of the controller's record, as plain methods.

It is synchronous on purpose: the CLI calls it directly, and the daemon calls it through
``lighting.storage.store.Store``, which runs it on one writer thread so that the event loop
never waits on the database. Each method is one transaction. SQLAlchemy errors leave as
``StorageError``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import event, func, inspect, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, col, create_engine, select

from lighting.const import ACKNOWLEDGED, FAILED, PENDING, SUPERSEDED
from lighting.errors import StorageError
from lighting.model import FaultKind, Registration, StateReport
from lighting.storage.records import (
    ChangeRecord,
    ChangeSummary,
    CommandOutcome,
    CommandRecord,
    FaultRecord,
    LampRecord,
)
from lighting.storage.tables import (
    ChangeRow,
    CommandRow,
    FaultRow,
    LampRow,
    ReportRow,
    UTCDateTime,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

log = logging.getLogger(__name__)

OPEN = "open"
RESOLVED = "resolved"
NEWEST = "newest"
LATE = "late"
DUPLICATE = "duplicate"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as err:
        raise StorageError(f"cannot open database {url!r}: {err}") from err
    return engine


def _id(row: FaultRow | CommandRow | ChangeRow) -> int:
    if row.id is None:
        raise StorageError(f"{type(row).__name__} has no id: it was not flushed")
    return row.id


_Rec = TypeVar("_Rec", bound="DataclassInstance")


def _record(cls: type[_Rec], row: object, **given: object) -> _Rec:
    """A record from a row: each field of the record from the row's attribute of that name,
    unless given."""
    values = {
        f.name: given[f.name] if f.name in given else getattr(row, f.name)
        for f in dataclasses.fields(cls)
    }
    return cls(**values)


def _lamp(row: LampRow) -> LampRecord:
    return _record(LampRecord, row)


def _command(row: CommandRow) -> CommandRecord:
    return _record(CommandRecord, row, command_id=_id(row))


def _change(row: ChangeRow) -> ChangeRecord:
    return _record(ChangeRecord, row, change_id=_id(row))


def _fault(row: FaultRow, lamp: LampRow) -> FaultRecord:
    return FaultRecord(
        fault_id=_id(row),
        lamp_id=row.lamp_id,
        zone=lamp.zone,
        kind=FaultKind.from_slug(row.kind),
        source=row.source,
        status=row.status,
        opened_at=row.opened_at,
        last_seen_at=row.last_seen_at,
        resolved_at=row.resolved_at,
        count=row.count,
        latitude=lamp.latitude,
        longitude=lamp.longitude,
        detail=row.detail,
    )


class Repository:
    """Reads and writes of lamps, reports, changes, commands and faults."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> Repository:
        repo = cls(make_engine(url))
        if create:
            repo.create_schema()
        return repo

    @classmethod
    def open_existing(cls, url: str) -> Repository:
        """Open a database that the controller has already set up; never create one (a
        mistyped path must not become an empty database that shows nothing wrong)."""
        parsed = make_url(url)
        path = parsed.database if parsed.get_backend_name() == "sqlite" else None
        if path not in (None, "", ":memory:") and not Path(str(path)).exists():
            raise StorageError(f"{url} is not a citylight database (no such file): check --db")
        repo = cls(make_engine(url))
        try:
            present = inspect(repo.engine).has_table(LampRow.__tablename__)
        except SQLAlchemyError as err:
            repo.close()
            raise StorageError(f"cannot open database {url!r}: {err}") from err
        if not present:
            repo.close()
            raise StorageError(f"{url} is not a citylight database (no lamp table): check --db")
        return repo

    def create_schema(self) -> None:
        try:
            SQLModel.metadata.create_all(self.engine)
        except SQLAlchemyError as err:
            raise StorageError(f"cannot create the schema: {err}") from err

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as err:
            raise StorageError(f"database error: {err}") from err

    # -- lamps ----------------------------------------------------------------------------

    def register_lamp(self, reg: Registration, address: str, port: int, now: datetime) -> bool:
        """Insert or update a lamp from its registration; True if it is new."""
        with self._session() as s:
            row = s.get(LampRow, reg.lamp_id)
            new = row is None
            if row is None:
                row = LampRow(
                    lamp_id=reg.lamp_id,
                    zone=reg.zone,
                    latitude=reg.latitude,
                    longitude=reg.longitude,
                    wattage=reg.wattage,
                    address=address,
                    port=port,
                    registered_at=now,
                )
            row.zone, row.latitude, row.longitude = reg.zone, reg.latitude, reg.longitude
            row.wattage, row.cell, row.firmware = reg.wattage, reg.cell, reg.firmware
            row.address, row.port, row.report_period_s = address, port, reg.report_period_s
            row.registered_at, row.last_seen, row.in_contact = now, now, True
            row.queue_mode = reg.queue_mode
            # A registration follows a power-up: the lamp's sequence numbers start again, so
            # reports are told apart by (boot, seq) from here on.
            row.last_seq = reg.seq
            row.boot += 1
            s.add(row)
        return new

    def lamps(self, zone: str | None = None) -> list[LampRecord]:
        with self._session() as s:
            query = select(LampRow).order_by(col(LampRow.lamp_id))
            if zone is not None:
                query = query.where(LampRow.zone == zone)
            return [_lamp(row) for row in s.exec(query)]

    def lamp(self, lamp_id: str) -> LampRecord | None:
        with self._session() as s:
            row = s.get(LampRow, lamp_id)
            return None if row is None else _lamp(row)

    def set_contact(self, lamp_ids: Sequence[str], in_contact: bool) -> None:
        self._set_lamps(lamp_ids, in_contact=in_contact)

    def _set_lamps(self, lamp_ids: Sequence[str], **values: object) -> None:
        if not lamp_ids:
            return
        with self._session() as s:
            s.execute(update(LampRow).where(col(LampRow.lamp_id).in_(lamp_ids)).values(**values))

    # -- reports --------------------------------------------------------------------------

    def store_reports(self, batch: Sequence[tuple[StateReport, datetime]]) -> list[str]:
        """Store a batch of reports in one transaction; for each, what it was.

        ``NEWEST``: stored, and the lamp's latest state; ``LATE``: stored as history, older
        than what the lamp already said (it does not move the state backwards);
        ``DUPLICATE``: already stored in this boot of the lamp (same sequence number), or
        from a lamp that is not known.
        """
        outcome: list[str] = []
        with self._session() as s:
            lamp_ids = {report.lamp_id for report, _ in batch}
            lamps = {
                row.lamp_id: row
                for row in s.exec(select(LampRow).where(col(LampRow.lamp_id).in_(lamp_ids)))
            }
            seen = {
                (r.lamp_id, r.boot, r.seq)
                for r in s.exec(
                    select(ReportRow)
                    .where(col(ReportRow.lamp_id).in_(lamp_ids))
                    .where(col(ReportRow.seq).in_({report.seq for report, _ in batch}))
                )
            }
            for report, received_at in batch:
                lamp = lamps.get(report.lamp_id)
                key = (report.lamp_id, lamp.boot if lamp is not None else -1, report.seq)
                if lamp is None or key in seen:
                    outcome.append(DUPLICATE)
                    continue
                seen.add(key)
                s.add(
                    ReportRow(
                        lamp_id=report.lamp_id,
                        boot=lamp.boot,
                        seq=report.seq,
                        received_at=received_at,
                        level=report.level,
                        power_w=report.power_w,
                        energy_wh=report.energy_wh,
                        burning_s=report.burning_s,
                        voltage_v=report.voltage_v,
                        faults=",".join(kind.slug for kind in sorted(report.faults)),
                    )
                )
                lamp.last_seen = received_at
                lamp.in_contact = True
                if report.seq > lamp.last_seq:
                    lamp.last_seq = report.seq
                    lamp.level, lamp.power_w = report.level, report.power_w
                    lamp.energy_wh, lamp.burning_s = report.energy_wh, report.burning_s
                    lamp.voltage_v = report.voltage_v
                    lamp.last_command_id = report.last_command_id
                    outcome.append(NEWEST)
                else:
                    outcome.append(LATE)
                s.add(lamp)
        return outcome

    def touch(self, lamp_id: str, now: datetime) -> None:
        """Record that a lamp was heard from (any uplink)."""
        with self._session() as s:
            s.execute(
                update(LampRow)
                .where(col(LampRow.lamp_id) == lamp_id)
                .values(last_seen=now, in_contact=True)
            )

    # -- changes and commands -------------------------------------------------------------

    def create_change(
        self,
        *,
        zone: str,
        level: int,
        reason: str,
        planned_at: datetime,
        lamp_ids: Sequence[str],
        now: datetime,
    ) -> tuple[int, dict[str, int]]:
        """Record a change: the lamps' new desired level and one pending command each.

        Commands of these lamps still pending are superseded: the latest level wins. Returns
        the change id and the command id for each lamp.
        """
        with self._session() as s:
            change = ChangeRow(
                zone=zone,
                level=level,
                reason=reason[:200],
                planned_at=planned_at,
                started_at=now,
                total=len(lamp_ids),
            )
            s.add(change)
            s.flush()
            change_id = _id(change)
            ids = self._new_commands(
                s, lamp_ids=lamp_ids, level=level, reason=reason, now=now, change_id=change_id
            )
            return change_id, ids

    def new_command(self, lamp_id: str, level: int, reason: str, now: datetime) -> int:
        """A fresh command carrying ``level`` to one lamp (a resend after a reboot or a
        mismatch), superseding what was pending; its id."""
        with self._session() as s:
            ids = self._new_commands(
                s, lamp_ids=[lamp_id], level=level, reason=reason, now=now, change_id=None
            )
            return ids[lamp_id]

    def _new_commands(
        self,
        s: Session,
        *,
        lamp_ids: Sequence[str],
        level: int,
        reason: str,
        now: datetime,
        change_id: int | None,
    ) -> dict[str, int]:
        if not lamp_ids:
            return {}
        s.execute(
            update(CommandRow)
            .where(col(CommandRow.lamp_id).in_(lamp_ids))
            .where(col(CommandRow.outcome) == PENDING)
            .values(outcome=SUPERSEDED, completed_at=now)
        )
        rows = [
            CommandRow(
                change_id=change_id,
                lamp_id=lamp_id,
                level=level,
                reason=reason[:200],
                created_at=now,
            )
            for lamp_id in lamp_ids
        ]
        s.add_all(rows)
        s.flush()
        ids = {row.lamp_id: _id(row) for row in rows}
        values = [
            {
                "lamp_id": lamp_id,
                "desired_level": level,
                "desired_command_id": command_id,
                "delivered": False,
                **({"desired_change_id": change_id} if change_id else {}),
            }
            for lamp_id, command_id in ids.items()
        ]
        s.execute(update(LampRow), values)
        return ids

    def record_outcomes(self, outcomes: Sequence[CommandOutcome]) -> None:
        """Write what became of commands; a lamp whose desired command was acknowledged is
        marked delivered."""
        if not outcomes:
            return
        with self._session() as s:
            s.execute(
                update(CommandRow),
                [
                    {
                        "id": o.command_id,
                        "outcome": o.outcome,
                        "completed_at": o.completed_at,
                        "latency_ms": o.latency_ms,
                        "attempts": o.attempts,
                        "error": None if o.error is None else o.error[:200],
                    }
                    for o in outcomes
                ],
            )
            acknowledged = [o.command_id for o in outcomes if o.outcome == ACKNOWLEDGED]
            if acknowledged:
                s.execute(
                    update(LampRow)
                    .where(col(LampRow.desired_command_id).in_(acknowledged))
                    .values(delivered=True, unreachable=False)
                )

    def set_unreachable(self, lamp_ids: Sequence[str], unreachable: bool) -> None:
        self._set_lamps(lamp_ids, unreachable=unreachable)

    def undelivered(self) -> list[LampRecord]:
        """Lamps whose desired level has not been acknowledged (to resume after a restart)."""
        with self._session() as s:
            query = (
                select(LampRow)
                .where(col(LampRow.desired_command_id).is_not(None))
                .where(col(LampRow.delivered).is_(False))
                .order_by(col(LampRow.lamp_id))
            )
            return [_lamp(row) for row in s.exec(query)]

    def change_summary(self, change_id: int) -> ChangeSummary | None:
        with self._session() as s:
            change = s.get(ChangeRow, change_id)
            if change is None:
                return None
            counts = dict(
                s.exec(
                    select(CommandRow.outcome, func.count())
                    .where(CommandRow.change_id == change_id)
                    .group_by(CommandRow.outcome)
                ).all()
            )
            last = s.exec(
                select(func.max(CommandRow.completed_at))
                .where(CommandRow.change_id == change_id)
                .where(CommandRow.outcome == ACKNOWLEDGED)
            ).one()
            return ChangeSummary(
                change=_change(change),
                acknowledged=counts.get(ACKNOWLEDGED, 0),
                failed=counts.get(FAILED, 0),
                pending=counts.get(PENDING, 0),
                superseded=counts.get(SUPERSEDED, 0),
                last_acknowledged_at=UTCDateTime().process_result_value(last, self.engine.dialect),
            )

    def finish_change(self, change_id: int, now: datetime) -> ChangeRecord:
        with self._session() as s:
            change = s.get(ChangeRow, change_id)
            if change is None:
                raise StorageError(f"no change {change_id}")
            outcomes = list(
                s.exec(select(CommandRow.outcome).where(CommandRow.change_id == change_id))
            )
            change.acknowledged = sum(1 for o in outcomes if o == ACKNOWLEDGED)
            change.failed = sum(1 for o in outcomes if o == FAILED)
            change.finished_at = now
            s.add(change)
            return _change(change)

    def commands(
        self,
        *,
        lamp_id: str | None = None,
        change_id: int | None = None,
        zone: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[CommandRecord]:
        """Commands, newest first, filtered by lamp, change, zone and creation time."""
        with self._session() as s:
            query = select(CommandRow).order_by(col(CommandRow.id).desc()).limit(limit)
            if lamp_id is not None:
                query = query.where(CommandRow.lamp_id == lamp_id)
            if change_id is not None:
                query = query.where(CommandRow.change_id == change_id)
            if zone is not None:
                query = query.join(LampRow, col(LampRow.lamp_id) == col(CommandRow.lamp_id))
                query = query.where(LampRow.zone == zone)
            if since is not None:
                query = query.where(col(CommandRow.created_at) >= since)
            return [_command(row) for row in s.exec(query)]

    def zone_levels(self) -> dict[str, int]:
        """The level of the latest change of each zone."""
        with self._session() as s:
            latest = (
                select(ChangeRow.zone, func.max(ChangeRow.id).label("last"))
                .group_by(ChangeRow.zone)
                .subquery()
            )
            rows = s.exec(
                select(ChangeRow.zone, ChangeRow.level).join(
                    latest, col(ChangeRow.id) == latest.c.last
                )
            )
            return dict(rows.all())

    def changes(self, limit: int = 100) -> list[ChangeRecord]:
        with self._session() as s:
            query = select(ChangeRow).order_by(col(ChangeRow.id).desc()).limit(limit)
            return [_change(row) for row in s.exec(query)]

    # -- faults ---------------------------------------------------------------------------

    def open_fault(
        self, lamp_id: str, kind: FaultKind, source: str, now: datetime, detail: str = ""
    ) -> tuple[FaultRecord, bool]:
        """Open a fault, or count it again if it is already open; the fault and if it is new."""
        with self._session() as s:
            lamp = s.get(LampRow, lamp_id)
            if lamp is None:
                raise StorageError(f"no lamp {lamp_id}")
            row = s.exec(
                select(FaultRow)
                .where(FaultRow.lamp_id == lamp_id)
                .where(FaultRow.kind == kind.slug)
                .where(FaultRow.status == OPEN)
            ).first()
            new = row is None
            if row is None:
                row = FaultRow(
                    lamp_id=lamp_id,
                    kind=kind.slug,
                    source=source,
                    opened_at=now,
                    last_seen_at=now,
                    detail=detail[:200],
                )
            else:
                row.count += 1
                row.last_seen_at = now
            s.add(row)
            s.flush()
            return _fault(row, lamp), new

    def resolve_fault(
        self, lamp_id: str, kind: FaultKind, now: datetime, by: str = "lamp"
    ) -> FaultRecord | None:
        """Resolve the open fault of this kind on this lamp; it, or None if none was open."""
        with self._session() as s:
            row = s.exec(
                select(FaultRow)
                .where(FaultRow.lamp_id == lamp_id)
                .where(FaultRow.kind == kind.slug)
                .where(FaultRow.status == OPEN)
            ).first()
            lamp = s.get(LampRow, lamp_id)
            if row is None or lamp is None:
                return None
            row.status, row.resolved_at, row.resolved_by = RESOLVED, now, by
            s.add(row)
            return _fault(row, lamp)

    def faults(
        self, *, status: str | None = OPEN, zone: str | None = None, lamp_id: str | None = None
    ) -> list[FaultRecord]:
        with self._session() as s:
            query = (
                select(FaultRow, LampRow)
                .join(LampRow, col(FaultRow.lamp_id) == col(LampRow.lamp_id))
                .order_by(col(FaultRow.opened_at).desc(), col(FaultRow.id).desc())
            )
            if status is not None:
                query = query.where(FaultRow.status == status)
            if zone is not None:
                query = query.where(LampRow.zone == zone)
            if lamp_id is not None:
                query = query.where(FaultRow.lamp_id == lamp_id)
            return [_fault(fault, lamp) for fault, lamp in s.exec(query)]
