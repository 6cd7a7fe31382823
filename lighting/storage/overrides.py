"""Operators' overrides in the record: a zone or a lamp held at a level for a while.

They are kept so that a daemon restarted in the middle of one still holds it, and so that
who ordered what, and who cancelled it, stays on record.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from lighting.errors import NotFoundError, StorageError
from lighting.storage import audit
from lighting.storage.base import RepositoryBase, row_id, to_record
from lighting.storage.records import OverrideRecord
from lighting.storage.tables import OverrideRow


def override_record(row: OverrideRow) -> OverrideRecord:
    return to_record(OverrideRecord, row, override_id=row_id(row))


class OverrideStore(RepositoryBase):
    """The override part of the repository."""

    def add_override(
        self,
        *,
        zone: str | None,
        lamp_id: str | None,
        level: int,
        start: datetime,
        end: datetime,
        by: str,
        reason: str,
        now: datetime,
    ) -> OverrideRecord:
        if (zone is None) == (lamp_id is None):
            raise StorageError("an override is for a zone or for a lamp")
        with self._session() as s:
            row = OverrideRow(
                zone=zone,
                lamp_id=lamp_id,
                level=level,
                start=start,
                end=end,
                by=by[:64],
                reason=reason[:200],
                created_at=now,
            )
            s.add(row)
            s.flush()
            made = override_record(row)
            audit.record(
                s,
                now,
                by,
                "override.set",
                f"zone {zone}" if zone is not None else f"lamp {lamp_id}",
                f"{made.name}: {level} % from {start.isoformat()} until {end.isoformat()}; "
                f"{reason}",
            )
            return made

    def cancel_override(self, override_id: int, by: str, now: datetime) -> OverrideRecord:
        with self._session() as s:
            row = s.get(OverrideRow, override_id)
            if row is None:
                raise NotFoundError("override", override_id)
            if row.cancelled_at is not None:
                raise StorageError(f"override {override_id} is cancelled already")
            if row.end <= now:
                raise StorageError(f"override {override_id} has ended already")
            row.cancelled_at, row.cancelled_by = now, by[:64]
            s.add(row)
            cancelled = override_record(row)
            audit.record(
                s,
                now,
                by,
                "override.cancel",
                f"zone {row.zone}" if row.zone is not None else f"lamp {row.lamp_id}",
                cancelled.name,
            )
            return cancelled

    def overrides(self, *, ending_after: datetime | None = None) -> list[OverrideRecord]:
        """Overrides not cancelled (and ending after ``ending_after``), by start."""
        with self._session() as s:
            query = select(OverrideRow).where(col(OverrideRow.cancelled_at).is_(None))
            if ending_after is not None:
                query = query.where(col(OverrideRow.end) > ending_after)
            query = query.order_by(col(OverrideRow.start), col(OverrideRow.id))
            return [override_record(row) for row in s.exec(query)]
