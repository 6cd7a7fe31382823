"""The audit trail: every operator action (an override set or cancelled, a fault or an
incident acknowledged or resolved, an inventory imported), with who did it and when.

An entry is written by ``record`` inside the transaction of the action itself, in the
storage methods that every path goes through (the daemon's control channel and the CLI's
direct writes alike), so an action cannot happen without its entry nor an entry be
written for an action that was rolled back. Entries are only ever added.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from lighting.storage.base import RepositoryBase, row_id, to_record
from lighting.storage.records import AuditRecord
from lighting.storage.tables import AuditRow

ACTIONS = (
    "override.set",
    "override.cancel",
    "fault.acknowledge",
    "fault.resolve",
    "incident.acknowledge",
    "incident.resolve",
    "inventory.import",
)


def record(  # noqa: PLR0917 - an entry's fields, in the order they are read
    s: Session, at: datetime, actor: str, action: str, target: str, detail: str = ""
) -> None:
    """Add an entry to the trail, in the caller's transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    s.add(
        AuditRow(at=at, actor=actor[:64], action=action, target=target[:100], detail=detail[:500])
    )


class AuditStore(RepositoryBase):
    """Reading the trail."""

    def audit(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 200,
    ) -> list[AuditRecord]:
        """Entries, newest first; ``action`` may be a prefix (``fault`` for both kinds)."""
        with self._session() as s:
            query = select(AuditRow).order_by(col(AuditRow.id).desc()).limit(limit)
            if since is not None:
                query = query.where(col(AuditRow.at) >= since)
            if actor is not None:
                query = query.where(AuditRow.actor == actor)
            if action is not None:
                query = query.where(col(AuditRow.action).startswith(action))
            if target is not None:
                query = query.where(AuditRow.target == target)
            return [to_record(AuditRecord, row, entry_id=row_id(row)) for row in s.exec(query)]
