"""Faults and incidents in the record: their life from opening to resolution.

A fault is opened once per lamp and kind, and stays one fault while it lasts: a fault that
comes back within the flap window after clearing by itself is reopened and counted, not
opened anew. A person acknowledges it (who, when) and a crew or the lamp resolves it (who,
when, a note). Many lamps of one cell with the same fault at once are grouped into one
incident, so that a dead base station is one job and not hundreds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from lighting.const import ACKNOWLEDGED, ACTIVE, OPEN, RESOLVED, SOURCE_CONTROLLER, SOURCE_LAMP
from lighting.errors import NotFoundError, StorageError
from lighting.model import FaultKind
from lighting.notices import OPENED, REOPENED
from lighting.storage import audit
from lighting.storage.base import RepositoryBase, row_id, to_record
from lighting.storage.records import FaultRecord, IncidentRecord
from lighting.storage.tables import FaultRow, IncidentRow, LampRow

AUTOMATIC = (SOURCE_LAMP, SOURCE_CONTROLLER)
"""Resolutions that a fault coming back may undo (a crew's resolution stands)."""


def fault_record(row: FaultRow, lamp: LampRow) -> FaultRecord:
    return to_record(
        FaultRecord,
        row,
        fault_id=row_id(row),
        zone=lamp.zone,
        cell=lamp.cell,
        kind=FaultKind.from_slug(row.kind),
        latitude=lamp.latitude,
        longitude=lamp.longitude,
    )


def incident_record(row: IncidentRow) -> IncidentRecord:
    return to_record(
        IncidentRecord,
        row,
        incident_id=row_id(row),
        kind=FaultKind.from_slug(row.kind),
        zones=tuple(zone for zone in row.zones.split(",") if zone),
    )


class FaultStore(RepositoryBase):
    """The fault and incident part of the repository."""

    # -- the life of a fault --------------------------------------------------------------

    def open_fault(
        self,
        lamp_id: str,
        kind: FaultKind,
        source: str,
        now: datetime,
        detail: str = "",
        *,
        flap_window_s: float = 0.0,
    ) -> tuple[FaultRecord, str | None]:
        """Open a fault; the fault and ``OPENED``, ``REOPENED`` (it flapped back) or None
        (it was open already: it is seen again)."""
        with self._session() as s:
            lamp = s.get(LampRow, lamp_id)
            if lamp is None:
                raise NotFoundError("lamp", lamp_id)
            row = self._active(s, lamp_id, kind)
            event: str | None = None
            if row is not None:
                row.last_seen_at = now
            else:
                row = self._recent(s, lamp_id, kind, now - timedelta(seconds=flap_window_s))
                if row is not None:
                    event = REOPENED
                    row.count += 1
                    row.status = ACKNOWLEDGED if row.acknowledged_by else OPEN
                    row.resolved_at = row.resolved_by = None
                    row.last_seen_at = now
                else:
                    event = OPENED
                    row = FaultRow(
                        lamp_id=lamp_id,
                        kind=kind.slug,
                        source=source,
                        opened_at=now,
                        last_seen_at=now,
                        detail=detail[:200],
                    )
            s.add(row)
            s.flush()
            return fault_record(row, lamp), event

    @staticmethod
    def _active(s: Session, lamp_id: str, kind: FaultKind) -> FaultRow | None:
        return s.exec(
            select(FaultRow)
            .where(FaultRow.lamp_id == lamp_id)
            .where(FaultRow.kind == kind.slug)
            .where(col(FaultRow.status).in_(ACTIVE))
        ).first()

    @staticmethod
    def _recent(s: Session, lamp_id: str, kind: FaultKind, since: datetime) -> FaultRow | None:
        """The fault of this kind that cleared by itself after ``since``, if any."""
        return s.exec(
            select(FaultRow)
            .where(FaultRow.lamp_id == lamp_id)
            .where(FaultRow.kind == kind.slug)
            .where(FaultRow.status == RESOLVED)
            .where(col(FaultRow.resolved_by).in_(AUTOMATIC))
            .where(col(FaultRow.resolved_at) >= since)
            .order_by(col(FaultRow.resolved_at).desc())
        ).first()

    def resolve_fault(
        self, lamp_id: str, kind: FaultKind, now: datetime, by: str = SOURCE_LAMP, note: str = ""
    ) -> FaultRecord | None:
        """Resolve the active fault of this kind on this lamp; it, or None if none was."""
        with self._session() as s:
            row = self._active(s, lamp_id, kind)
            lamp = s.get(LampRow, lamp_id)
            if row is None or lamp is None:
                return None
            self._resolve(row, now, by, note)
            s.add(row)
            return fault_record(row, lamp)

    @staticmethod
    def _resolve(row: FaultRow | IncidentRow, now: datetime, by: str, note: str) -> None:
        row.status, row.resolved_at, row.resolved_by = RESOLVED, now, by[:64]
        if note:
            row.note = note[:500]

    def acknowledge_fault(self, fault_id: int, by: str, now: datetime) -> FaultRecord:
        """A person takes note of an active fault; ``NotFoundError``, or ``StorageError`` if
        it is resolved already."""
        with self._session() as s:
            row, lamp = self._fault_row(s, fault_id)
            if row.status == RESOLVED:
                raise StorageError(f"fault {fault_id} is resolved already")
            row.status, row.acknowledged_at, row.acknowledged_by = ACKNOWLEDGED, now, by[:64]
            s.add(row)
            audit.record(
                s, now, by, "fault.acknowledge", f"fault {fault_id}", f"lamp {lamp.lamp_id}"
            )
            return fault_record(row, lamp)

    def close_fault(self, fault_id: int, by: str, note: str, now: datetime) -> FaultRecord:
        """A crew resolves a fault by hand, with a note."""
        with self._session() as s:
            row, lamp = self._fault_row(s, fault_id)
            if row.status == RESOLVED:
                raise StorageError(f"fault {fault_id} is resolved already")
            self._resolve(row, now, by, note)
            s.add(row)
            audit.record(
                s, now, by, "fault.resolve", f"fault {fault_id}", f"lamp {lamp.lamp_id}: {note}"
            )
            return fault_record(row, lamp)

    @staticmethod
    def _fault_row(s: Session, fault_id: int) -> tuple[FaultRow, LampRow]:
        row = s.get(FaultRow, fault_id)
        lamp = s.get(LampRow, row.lamp_id) if row is not None else None
        if row is None or lamp is None:
            raise NotFoundError("fault", fault_id)
        return row, lamp

    # -- reading faults -------------------------------------------------------------------

    def fault(self, fault_id: int) -> FaultRecord:
        with self._session() as s:
            return fault_record(*self._fault_row(s, fault_id))

    def faults(
        self,
        *,
        status: str | Collection[str] | None = OPEN,
        zone: str | None = None,
        lamp_id: str | None = None,
        kinds: Collection[FaultKind] | None = None,
        since: datetime | None = None,
        grouped: bool = True,
        incident_id: int | None = None,
        limit: int | None = None,
    ) -> list[FaultRecord]:
        """Faults, newest first. ``status`` is one status, several, or None for all;
        ``grouped=False`` leaves out the faults that belong to an incident."""
        with self._session() as s:
            query = (
                select(FaultRow, LampRow)
                .join(LampRow, col(FaultRow.lamp_id) == col(LampRow.lamp_id))
                .order_by(col(FaultRow.opened_at).desc(), col(FaultRow.id).desc())
            )
            if status is not None:
                statuses = (status,) if isinstance(status, str) else tuple(status)
                query = query.where(col(FaultRow.status).in_(statuses))
            if zone is not None:
                query = query.where(LampRow.zone == zone)
            if lamp_id is not None:
                query = query.where(FaultRow.lamp_id == lamp_id)
            if kinds is not None:
                query = query.where(col(FaultRow.kind).in_([kind.slug for kind in kinds]))
            if since is not None:
                query = query.where(col(FaultRow.last_seen_at) >= since)
            if not grouped:
                query = query.where(col(FaultRow.incident_id).is_(None))
            if incident_id is not None:
                query = query.where(FaultRow.incident_id == incident_id)
            if limit is not None:
                query = query.limit(limit)
            return [fault_record(fault, lamp) for fault, lamp in s.exec(query)]

    def active_in_cell(self, kind: FaultKind, cell: str) -> int:
        """How many lamps of ``cell`` have an active fault of ``kind``."""
        with self._session() as s:
            query = (
                select(func.count())
                .select_from(FaultRow)
                .join(LampRow, col(FaultRow.lamp_id) == col(LampRow.lamp_id))
                .where(LampRow.cell == cell)
                .where(FaultRow.kind == kind.slug)
                .where(col(FaultRow.status).in_(ACTIVE))
            )
            return int(s.exec(query).one())

    # -- incidents ------------------------------------------------------------------------

    def group_incident(
        self, kind: FaultKind, cell: str, now: datetime
    ) -> tuple[IncidentRecord, bool, list[FaultRecord]]:
        """Take every active fault of ``kind`` in ``cell`` into the cell's active incident
        (opened if there is none); the incident, whether it is new, and the faults taken in
        now."""
        with self._session() as s:
            row = s.exec(
                select(IncidentRow)
                .where(IncidentRow.kind == kind.slug)
                .where(IncidentRow.cell == cell)
                .where(col(IncidentRow.status).in_(ACTIVE))
            ).first()
            new = row is None
            if row is None:
                row = IncidentRow(kind=kind.slug, cell=cell, opened_at=now, last_seen_at=now)
                s.add(row)
                s.flush()
            incident_id = row_id(row)
            members = s.exec(
                select(FaultRow, LampRow)
                .join(LampRow, col(FaultRow.lamp_id) == col(LampRow.lamp_id))
                .where(LampRow.cell == cell)
                .where(FaultRow.kind == kind.slug)
                .where(col(FaultRow.status).in_(ACTIVE))
            ).all()
            taken = []
            for fault, lamp in members:
                if fault.incident_id != incident_id:
                    fault.incident_id = incident_id
                    s.add(fault)
                    taken.append(fault_record(fault, lamp))
            self._recount(row, [lamp for _, lamp in members], now)
            s.add(row)
            return incident_record(row), new, taken

    @staticmethod
    def _recount(row: IncidentRow, lamps: Sequence[LampRow], now: datetime) -> None:
        row.lamps = len(lamps)
        row.peak = max(row.peak, row.lamps)
        row.last_seen_at = now
        if lamps:
            row.latitude = sum(lamp.latitude for lamp in lamps) / len(lamps)
            row.longitude = sum(lamp.longitude for lamp in lamps) / len(lamps)
            zones = set(row.zones.split(",")) - {""} | {lamp.zone for lamp in lamps}
            row.zones = ",".join(sorted(zones))[:500]

    def settle_incident(self, incident_id: int, now: datetime) -> tuple[IncidentRecord, bool]:
        """Recount an incident's lamps after one of its faults cleared; resolve it (by the
        controller) when none is left. The incident, and whether it was resolved now."""
        with self._session() as s:
            row = s.get(IncidentRow, incident_id)
            if row is None:
                raise NotFoundError("incident", incident_id)
            lamps = s.exec(
                select(LampRow)
                .join(FaultRow, col(FaultRow.lamp_id) == col(LampRow.lamp_id))
                .where(FaultRow.incident_id == incident_id)
                .where(col(FaultRow.status).in_(ACTIVE))
            ).all()
            self._recount(row, lamps, now)
            closed = not lamps and row.status != RESOLVED
            if closed:
                self._resolve(row, now, SOURCE_CONTROLLER, "")
            s.add(row)
            return incident_record(row), closed

    def acknowledge_incident(self, incident_id: int, by: str, now: datetime) -> IncidentRecord:
        """A person takes note of an incident (and so of every fault in it)."""
        with self._session() as s:
            row = self._incident_row(s, incident_id)
            if row.status == RESOLVED:
                raise StorageError(f"incident {incident_id} is resolved already")
            row.status, row.acknowledged_at, row.acknowledged_by = ACKNOWLEDGED, now, by[:64]
            members = self._members(s, incident_id)
            for fault in members:
                fault.status, fault.acknowledged_at, fault.acknowledged_by = ACKNOWLEDGED, now, by
                s.add(fault)
            s.add(row)
            audit.record(
                s,
                now,
                by,
                "incident.acknowledge",
                f"incident {incident_id}",
                f"{len(members)} faults",
            )
            return incident_record(row)

    def close_incident(
        self, incident_id: int, by: str, note: str, now: datetime
    ) -> tuple[IncidentRecord, list[FaultRecord]]:
        """A crew resolves an incident and every fault still active in it."""
        with self._session() as s:
            row = self._incident_row(s, incident_id)
            if row.status == RESOLVED:
                raise StorageError(f"incident {incident_id} is resolved already")
            closed = []
            for fault in self._members(s, incident_id):
                self._resolve(fault, now, by, note)
                s.add(fault)
                lamp = s.get(LampRow, fault.lamp_id)
                if lamp is not None:
                    closed.append(fault_record(fault, lamp))
            self._resolve(row, now, by, note)
            row.lamps = 0
            s.add(row)
            audit.record(
                s,
                now,
                by,
                "incident.resolve",
                f"incident {incident_id}",
                f"{len(closed)} faults: {note}",
            )
            return incident_record(row), closed

    @staticmethod
    def _incident_row(s: Session, incident_id: int) -> IncidentRow:
        row = s.get(IncidentRow, incident_id)
        if row is None:
            raise NotFoundError("incident", incident_id)
        return row

    @staticmethod
    def _members(s: Session, incident_id: int) -> list[FaultRow]:
        return list(
            s.exec(
                select(FaultRow)
                .where(FaultRow.incident_id == incident_id)
                .where(col(FaultRow.status).in_(ACTIVE))
            )
        )

    def incident(self, incident_id: int) -> IncidentRecord:
        with self._session() as s:
            return incident_record(self._incident_row(s, incident_id))

    def incidents(
        self,
        *,
        status: str | Collection[str] | None = ACTIVE,
        kinds: Collection[FaultKind] | None = None,
        zone: str | None = None,
        since: datetime | None = None,
    ) -> list[IncidentRecord]:
        """Incidents, newest first."""
        with self._session() as s:
            query = select(IncidentRow).order_by(
                col(IncidentRow.opened_at).desc(), col(IncidentRow.id).desc()
            )
            if status is not None:
                statuses = (status,) if isinstance(status, str) else tuple(status)
                query = query.where(col(IncidentRow.status).in_(statuses))
            if kinds is not None:
                query = query.where(col(IncidentRow.kind).in_([kind.slug for kind in kinds]))
            if since is not None:
                query = query.where(col(IncidentRow.last_seen_at) >= since)
            found = [incident_record(row) for row in s.exec(query)]
        return [i for i in found if zone is None or zone in i.zones]
