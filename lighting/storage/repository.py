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

from sqlalchemy import update
from sqlmodel import col, select

from lighting.model import Registration
from lighting.storage.audit import AuditStore
from lighting.storage.base import make_engine, to_record
from lighting.storage.commands import CommandStore
from lighting.storage.energy import EnergyStore
from lighting.storage.faults import FaultStore
from lighting.storage.inventory import InventoryStore
from lighting.storage.overrides import OverrideStore
from lighting.storage.records import LampRecord
from lighting.storage.reports import DUPLICATE, LATE, NEWEST, RESTART, ReportStore
from lighting.storage.tables import LampRow

__all__ = ["DUPLICATE", "LATE", "NEWEST", "RESTART", "Repository", "make_engine"]

log = logging.getLogger(__name__)


def _lamp(row: LampRow) -> LampRecord:
    return to_record(LampRecord, row)


class Repository(
    AuditStore, ReportStore, CommandStore, FaultStore, EnergyStore, OverrideStore, InventoryStore
):
    """Reads and writes of lamps, reports, changes, commands and faults."""

    # -- lamps ----------------------------------------------------------------------------

    def register_lamp(self, reg: Registration, address: str, port: int, now: datetime) -> bool:
        """Insert or update a lamp from its registration; True if it is new."""
        return self.register_lamps([(reg, address, port)], now)[0]

    def register_lamps(
        self, registrations: Sequence[tuple[Registration, str, int]], now: datetime
    ) -> list[bool]:
        """Insert or update lamps from their registrations (each with the address and port
        it came from) in one transaction; per registration, True if the lamp is new."""
        with self._session() as s:
            rows = self._lamp_rows(s, [reg.lamp_id for reg, _, _ in registrations])
            news: list[bool] = []
            for reg, address, port in registrations:
                row = rows.get(reg.lamp_id)
                news.append(row is None)
                if row is None:
                    row = rows[reg.lamp_id] = LampRow(
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
                # A registration follows a power-up: the lamp's sequence numbers start
                # again, so reports are told apart by (boot, seq) from here on.
                row.last_seq = reg.seq
                row.boot += 1
                s.add(row)
        return news

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

    # -- delivery state of lamps (changes and commands: lighting.storage.commands) ------

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
