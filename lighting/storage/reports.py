"""Reports: the hottest write of the controller, and a lamp's report history.

A city's reports arrive in bursts of thousands a second, each stored once (deduplicated on
lamp, boot and sequence number) in one transaction per batch. The batch's two look-ups
(the lamps' boots, what is stored under the batch's numbers) and three writes (the reports,
the lamps heard from, the lamps' newest state) go to the database driver directly
(``DriverStyle``): SQLAlchemy's per-row parameter handling, Core's as much as the ORM's,
and its compilation of a new ``IN`` list for every batch cost several times the database's
own work (profiled with py-spy; docs/performance.md has the figures). Timestamps still go
through the column type's own bind processor, so they are stored exactly as the ORM stores
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlmodel import col, select

from lighting.model import FaultKind, StateReport
from lighting.storage.base import RepositoryBase, chunks, to_record
from lighting.storage.records import ReportRecord
from lighting.storage.tables import LampRow, ReportRow

NEWEST = "newest"
RESTART = "restart"
LATE = "late"
DUPLICATE = "duplicate"

LATE_WINDOW = 64
"""How far behind a lamp's newest report a report may be and still be a late one (held up
by retransmissions, or a platform's queue); further behind, the lamp is counting again."""

_SEQS_PER_STATEMENT = 30_000
"""Sequence numbers in one look-up, beside at most 500 lamps and 1,000 boots: SQLite binds
at most 32,766 parameters a statement."""

_REPORT_COLUMNS = (
    "lamp_id",
    "boot",
    "seq",
    "received_at",
    "level",
    "power_w",
    "energy_wh",
    "burning_s",
    "voltage_v",
    "faults",
)
_STATE_COLUMNS = (
    "boot",
    "last_seq",
    "level",
    "power_w",
    "energy_wh",
    "burning_s",
    "voltage_v",
    "last_command_id",
    "last_seen",
    "in_contact",
)


class ReportStore(RepositoryBase):
    """Storing reports in batches, and reading a lamp's history."""

    def store_reports(self, batch: Sequence[tuple[StateReport, datetime]]) -> list[str]:
        """Store a batch of reports in one transaction, in order; for each, what it was.

        ``NEWEST``: stored, and the lamp's latest state; ``LATE``: stored as history, older
        than what the lamp already said (it does not move the state backwards);
        ``DUPLICATE``: already stored in this boot of the lamp (same sequence number and
        the same values), or from a lamp that is not known; ``RESTART``: far behind the
        lamp's newest (over ``LATE_WINDOW``) and not a copy of a stored report, so the lamp
        counts from the start again without having registered (its registration was
        lost): a new boot starts for its reports, of which this is the newest.
        """
        driver = self.driver
        stamp = driver.timestamp
        stamped: dict[datetime, Any] = {}
        outcome: list[str] = []
        rows: list[tuple[Any, ...]] = []
        newest: dict[str, list[Any]] = {}
        seen_at: dict[str, datetime] = {}
        with self._session() as s:
            connection = s.connection()
            seqs: dict[str, set[int]] = {}
            for report, _ in batch:
                seqs.setdefault(report.lamp_id, set()).add(report.seq)
            lamps = self._boots(connection, list(seqs))
            seen = self._stored(connection, lamps, seqs)
            for report, received_at in batch:
                lamp_id = report.lamp_id
                lamp = lamps.get(lamp_id)
                if lamp is None:
                    outcome.append(DUPLICATE)
                    continue
                values = [report.level, report.power_w, report.energy_wh, report.burning_s]
                far_behind = report.seq < lamp[1] - LATE_WINDOW
                stored = seen.get((lamp_id, lamp[0], report.seq))
                if (stored is not None and (stored == values or not far_behind)) or (
                    seen.get((lamp_id, lamp[0] - 1, report.seq)) == values
                ):
                    # Stored already in this boot (a retransmission, a redelivery), or a
                    # copy of the last boot's arriving after a new start.
                    outcome.append(DUPLICATE)
                    continue
                what = NEWEST
                if far_behind:
                    lamp[0], lamp[1], what = lamp[0] + 1, -1, RESTART
                seen[(lamp_id, lamp[0], report.seq)] = values
                # A burst shares its arrival time: each distinct one is converted once.
                at = stamped.get(received_at)
                if at is None:
                    at = stamped[received_at] = stamp(received_at)
                faults = (
                    ",".join(kind.slug for kind in sorted(report.faults)) if report.faults else ""
                )
                rows.append(
                    (
                        lamp_id,
                        lamp[0],
                        report.seq,
                        at,
                        report.level,
                        report.power_w,
                        report.energy_wh,
                        report.burning_s,
                        report.voltage_v,
                        faults,
                    )
                )
                last = seen_at.get(lamp_id)
                if last is None or received_at > last:
                    seen_at[lamp_id] = received_at
                if report.seq > lamp[1]:
                    lamp[1] = report.seq
                    newest[lamp_id] = [
                        lamp[0],
                        report.seq,
                        report.level,
                        report.power_w,
                        report.energy_wh,
                        report.burning_s,
                        report.voltage_v,
                        report.last_command_id,
                    ]
                    outcome.append(what)
                else:
                    outcome.append(LATE)
            lamp_table = LampRow.__tablename__
            driver.insert(connection, ReportRow.__tablename__, _REPORT_COLUMNS, rows)
            # Every lamp heard from gets its last_seen and contact; the newest reports also
            # their state, in the same statement.
            heard = [
                (stamped[at], True, lamp_id)
                for lamp_id, at in seen_at.items()
                if lamp_id not in newest
            ]
            driver.update(connection, lamp_table, ("last_seen", "in_contact"), ("lamp_id",), heard)
            driver.update(
                connection,
                lamp_table,
                _STATE_COLUMNS,
                ("lamp_id",),
                [
                    (*state, stamped[seen_at[lamp_id]], True, lamp_id)
                    for lamp_id, state in newest.items()
                ],
            )
        return outcome

    def _boots(self, connection: Connection, lamp_ids: list[str]) -> dict[str, list[int]]:
        """Each known lamp's current boot and newest sequence number, by id."""
        mark, table = self.driver.marks, LampRow.__tablename__
        lamps: dict[str, list[int]] = {}
        for part in chunks(lamp_ids):
            # All rows at once: iterating the result fetches them one by one.
            for lamp_id, boot, last_seq in connection.exec_driver_sql(
                f"SELECT lamp_id, boot, last_seq FROM {table} "  # noqa: S608
                f"WHERE lamp_id IN ({mark(len(part))})",
                tuple(part),
            ).all():
                lamps[lamp_id] = [boot, last_seq]
        return lamps

    def _stored(
        self, connection: Connection, lamps: dict[str, list[int]], seqs: dict[str, set[int]]
    ) -> dict[tuple[str, int, int], list[Any]]:
        """What is stored under the batch's numbers (``seqs``, by lamp) in the lamps'
        current boots and the ones before (a copy may come after a new start), with the
        values that tell a copy from a new report under an old number. Older boots are
        never looked at: plain IN lists on the (lamp, boot, seq) index, not row values,
        which SQLite reads slower (docs/performance.md)."""
        mark, table = self.driver.marks, ReportRow.__tablename__
        seen: dict[tuple[str, int, int], list[Any]] = {}
        for part in chunks(list(lamps)):
            boots = sorted(
                {b for lamp_id in part for b in (lamps[lamp_id][0], lamps[lamp_id][0] - 1)}
            )
            numbers = sorted({seq for lamp_id in part for seq in seqs[lamp_id]})
            for some in chunks(numbers, _SEQS_PER_STATEMENT):
                query = (
                    "SELECT lamp_id, boot, seq, level, power_w, energy_wh, burning_s "  # noqa: S608
                    f"FROM {table} WHERE lamp_id IN ({mark(len(part))}) "
                    f"AND boot IN ({mark(len(boots))}) AND seq IN ({mark(len(some))})"
                )
                for lamp_id, boot, seq, *values in connection.exec_driver_sql(
                    query, (*part, *boots, *some)
                ).all():
                    seen[(lamp_id, boot, seq)] = values
        return seen

    def reports(
        self,
        lamp_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[ReportRecord]:
        """A lamp's stored reports, newest first."""
        with self._session() as s:
            query = select(ReportRow).where(ReportRow.lamp_id == lamp_id)
            if since is not None:
                query = query.where(col(ReportRow.received_at) >= since)
            if until is not None:
                query = query.where(col(ReportRow.received_at) <= until)
            query = query.order_by(
                col(ReportRow.received_at).desc(),
                col(ReportRow.boot).desc(),
                col(ReportRow.seq).desc(),
            ).limit(limit)
            return [
                to_record(
                    ReportRecord,
                    row,
                    faults=tuple(
                        FaultKind.from_slug(slug) for slug in row.faults.split(",") if slug
                    ),
                )
                for row in s.exec(query)
            ]
