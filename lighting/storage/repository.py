"""The repository: every read and write of the controller's record, as plain methods.

It is synchronous on purpose: the CLI calls it directly, and the daemon calls it through
``lighting.storage.store.Store``, which runs it on one writer thread so that the event loop
never waits on the database. Each method is one transaction. SQLAlchemy errors leave as
``StorageError``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from lighting.const import ACKNOWLEDGED, FAILED, PENDING, SUPERSEDED
from lighting.errors import StorageError
from lighting.model import Registration
from lighting.storage.audit import AuditStore
from lighting.storage.base import make_engine, row_id, to_record
from lighting.storage.energy import EnergyStore
from lighting.storage.faults import FaultStore
from lighting.storage.inventory import InventoryStore
from lighting.storage.overrides import OverrideStore
from lighting.storage.records import (
    ChangeRecord,
    ChangeSummary,
    CommandOutcome,
    CommandRecord,
    LampRecord,
)
from lighting.storage.reports import DUPLICATE, LATE, NEWEST, ReportStore
from lighting.storage.tables import (
    ChangeRow,
    CommandRow,
    LampRow,
    UTCDateTime,
)

__all__ = ["DUPLICATE", "LATE", "NEWEST", "Repository", "make_engine"]

log = logging.getLogger(__name__)


def _lamp(row: LampRow) -> LampRecord:
    return to_record(LampRecord, row)


def _command(row: CommandRow) -> CommandRecord:
    return to_record(CommandRecord, row, command_id=row_id(row))


def _change(row: ChangeRow) -> ChangeRecord:
    return to_record(ChangeRecord, row, change_id=row_id(row))


class Repository(AuditStore, ReportStore, FaultStore, EnergyStore, OverrideStore, InventoryStore):
    """Reads and writes of lamps, reports, changes, commands and faults."""

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

    # -- reports: see lighting.storage.reports ----------------------------------------------

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
            change_id = row_id(change)
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
        ids = {row.lamp_id: row_id(row) for row in rows}
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
