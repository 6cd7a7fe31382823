"""The inventory in the record: lamps known before they ever register (``lighting import``).

A city's asset register (or the simulator's ``--write-inventory``) lists every lamp with
its zone, position, rated power, cell and the address its node listens on. Importing it
gives the controller those lamps at once: it plans and commands them from the first night,
and a lamp that never speaks is found out of contact instead of being unknown.

What a lamp says about itself wins: a lamp that has registered keeps what its registration
told (its address is the source of its datagrams); the import only adds new lamps and
updates those that have not registered yet. Imported lamps start out of contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lighting.protocol.inventory import InventoryLamp
from lighting.storage import audit
from lighting.storage.base import RepositoryBase
from lighting.storage.tables import LampRow


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: lamps added, updated (not registered yet) and kept as their
    registration told (registered)."""

    added: int
    updated: int
    kept: int

    @property
    def total(self) -> int:
        return self.added + self.updated + self.kept


def _fill(row: LampRow, lamp: InventoryLamp) -> None:
    row.zone, row.latitude, row.longitude = lamp.zone, lamp.latitude, lamp.longitude
    row.wattage, row.cell, row.firmware = lamp.wattage, lamp.cell, lamp.firmware
    row.address, row.port = lamp.address, lamp.port
    row.report_period_s, row.queue_mode = lamp.report_period_s, lamp.queue_mode


class InventoryStore(RepositoryBase):
    """The inventory part of the repository."""

    def import_lamps(
        self, lamps: Sequence[InventoryLamp], now: datetime, *, by: str = "", source: str = ""
    ) -> ImportResult:
        """Add or update ``lamps`` in one transaction (an entry of the audit trail by
        ``by`` when given, naming the ``source`` file)."""
        added = updated = kept = 0
        with self._session() as s:
            existing = self._lamp_rows(s, [lamp.lamp_id for lamp in lamps])
            for lamp in lamps:
                row = existing.get(lamp.lamp_id)
                if row is None:
                    row = LampRow(
                        lamp_id=lamp.lamp_id,
                        zone=lamp.zone,
                        latitude=lamp.latitude,
                        longitude=lamp.longitude,
                        wattage=lamp.wattage,
                        address=lamp.address,
                        port=lamp.port,
                        registered_at=now,
                        in_contact=False,
                    )
                    _fill(row, lamp)
                    added += 1
                elif row.boot == 0:
                    _fill(row, lamp)
                    updated += 1
                else:
                    kept += 1
                    continue
                s.add(row)
            result = ImportResult(added, updated, kept)
            if by:
                audit.record(
                    s,
                    now,
                    by,
                    "inventory.import",
                    source or "inventory",
                    f"{result.total} lamps, {added} added, {updated} updated, {kept} kept",
                )
        return result
