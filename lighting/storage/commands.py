"""Changes and commands: the record of what the controller told the lamps, and what came of it.

A city-wide change writes a command for every lamp of a zone at once, and the delivery
engine writes their outcomes back in batches of hundreds while the fan-out runs: both are
hot writes. Like the reports (``lighting.storage.reports``), they go to the database driver
as plain ``executemany`` statements: the ORM's unit of work costs about 90 microseconds a
command (one INSERT per row to learn its id), the driver's own work a tenth of that
(docs/performance.md, fan-out). Reads stay on the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from lighting.const import ACKNOWLEDGED, FAILED, PENDING, SUPERSEDED
from lighting.errors import StorageError
from lighting.storage.base import RepositoryBase, chunks, row_id, to_record
from lighting.storage.records import ChangeRecord, ChangeSummary, CommandOutcome, CommandRecord
from lighting.storage.tables import ChangeRow, CommandRow, LampRow, UTCDateTime


def _command(row: CommandRow) -> CommandRecord:
    return to_record(CommandRecord, row, command_id=row_id(row))


def _change(row: ChangeRow) -> ChangeRecord:
    return to_record(ChangeRecord, row, change_id=row_id(row))


class CommandStore(RepositoryBase):
    """Changes, their commands and the commands' outcomes."""

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
        driver = self.driver
        stamp = driver.timestamp
        connection = s.connection()
        at = stamp(now)
        # Supersede what is pending for these lamps: by the lamp's index, in chunks (SQLite
        # binds at most 32,766 parameters a statement), and only what is still pending.
        command, lamp = CommandRow.__tablename__, LampRow.__tablename__
        for chunk in chunks(lamp_ids):
            s.execute(
                update(CommandRow)
                .where(col(CommandRow.lamp_id).in_(chunk))
                .where(col(CommandRow.outcome) == PENDING)
                .values(outcome=SUPERSEDED, completed_at=now)
            )
        text = reason[:200]
        if change_id is None:
            row = CommandRow(
                change_id=None, lamp_id=lamp_ids[0], level=level, reason=text, created_at=now
            )
            s.add(row)
            s.flush()
            ids = {row.lamp_id: row_id(row)}
        else:
            columns = (
                "change_id",
                "lamp_id",
                "level",
                "reason",
                "created_at",
                "outcome",
                "attempts",
            )
            driver.insert(
                connection,
                command,
                columns,
                [(change_id, lamp_id, level, text, at, PENDING, 0) for lamp_id in lamp_ids],
            )
            written = connection.exec_driver_sql(
                f"SELECT id, lamp_id FROM {command} WHERE change_id = {driver.mark}",  # noqa: S608
                (change_id,),
            ).all()
            ids = {lamp_id: cid for cid, lamp_id in written}
        desired = ("desired_level", "desired_command_id", "delivered", "desired_change_id")
        driver.update(
            connection,
            lamp,
            desired if change_id else desired[:3],
            ("lamp_id",),
            [
                (level, command_id, False, change_id, lamp_id)
                if change_id
                else (level, command_id, False, lamp_id)
                for lamp_id, command_id in ids.items()
            ],
        )
        return ids

    def record_outcomes(self, outcomes: Sequence[CommandOutcome]) -> None:
        """Write what became of commands; a lamp whose desired command was acknowledged is
        marked delivered."""
        if not outcomes:
            return
        driver = self.driver
        stamp = driver.timestamp
        columns = ("outcome", "completed_at", "latency_ms", "attempts", "error")
        with self._session() as s:
            connection = s.connection()
            driver.update(
                connection,
                CommandRow.__tablename__,
                columns,
                ("id",),
                [
                    (
                        o.outcome,
                        stamp(o.completed_at),
                        o.latency_ms,
                        o.attempts,
                        None if o.error is None else o.error[:200],
                        o.command_id,
                    )
                    for o in outcomes
                ],
            )
            # By the lamp's key: desired_command_id has no index of its own.
            acknowledged = [
                (True, False, o.lamp_id, o.command_id)
                for o in outcomes
                if o.outcome == ACKNOWLEDGED
            ]
            driver.update(
                connection,
                LampRow.__tablename__,
                ("delivered", "unreachable"),
                ("lamp_id", "desired_command_id"),
                acknowledged,
            )

    def outcomes_by_cell(self, change_ids: Sequence[int]) -> dict[str, dict[str, int]]:
        """How many commands of these changes are in each outcome, per cell of their lamps
        (counted by the database: a city-wide change is a command per lamp)."""
        counts: dict[str, dict[str, int]] = {}
        if not change_ids:
            return counts
        with self._session() as s:
            query = (
                select(LampRow.cell, CommandRow.outcome, func.count())
                .select_from(CommandRow)
                .join(LampRow, col(LampRow.lamp_id) == col(CommandRow.lamp_id), isouter=True)
                .where(col(CommandRow.change_id).in_(change_ids))
                .group_by(LampRow.cell, CommandRow.outcome)
            )
            for cell, outcome, count in s.exec(query):
                counts.setdefault(cell if cell is not None else "?", {})[outcome] = count
        return counts

    def change_summary(self, change_id: int) -> ChangeSummary | None:
        with self._session() as s:
            change = s.get(ChangeRow, change_id)
            if change is None:
                return None
            counts = _outcome_counts(s, change_id)
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
            counts = _outcome_counts(s, change_id)
            change.acknowledged = counts.get(ACKNOWLEDGED, 0)
            change.failed = counts.get(FAILED, 0)
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


def _outcome_counts(s: Session, change_id: int) -> dict[str, int]:
    """How many commands of the change are in each outcome (counted by the database)."""
    return dict(
        s.exec(
            select(CommandRow.outcome, func.count())
            .where(CommandRow.change_id == change_id)
            .group_by(CommandRow.outcome)
        ).all()
    )
