"""The controller's in-memory index of lamps: where each listens, its zone, and its contact.

The database is the record; this index answers the hot questions (which lamps are in a
zone, is this lamp known, who has gone quiet) without a query. Contact is tracked on the
monotonic clock, so a change of the wall clock cannot mark a city out of contact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lighting.const import SOURCE_LAMP
from lighting.controller.rules import JUDGED
from lighting.errors import UnknownLampError
from lighting.model import FaultKind
from lighting.storage import FaultRecord, LampRecord
from lighting.transports import Target


@dataclass(slots=True)
class LampEntry:
    target: Target
    zone: str
    cell: str
    report_period_s: int
    last_heard: float
    in_contact: bool = True
    queue_mode: bool = False
    last_uplink: float | None = None
    """When the lamp last sent something (monotonic); None until it does after a start-up.
    Unlike ``last_heard`` it is not seeded at start-up: a sleepy lamp's wake window is
    known only from a real uplink."""
    lamp_faults: set[FaultKind] = field(default_factory=set)
    """Faults the lamp says it has (open in the record)."""
    said: dict[FaultKind, int] = field(default_factory=dict)
    """Per fault kind, the sequence number of the lamp's newest event about it (this boot)."""
    said_all: int = -1
    """The sequence number of the lamp's newest report, which speaks of every kind."""
    latitude: float = 0.0
    longitude: float = 0.0
    wattage: float = 0.0
    level: int | None = None
    """The level of the lamp's newest report."""
    power_w: float | None = None
    inferred: set[FaultKind] = field(default_factory=set)
    """Faults the controller found from the lamp's reports (open in the record)."""
    streaks: dict[FaultKind, int] = field(default_factory=dict)
    """Reports in a row that showed (positive) or did not show (negative) each symptom."""

    @property
    def lamp_id(self) -> str:
        return self.target.lamp_id


class Registry:
    """Known lamps, by id and by zone."""

    def __init__(self) -> None:
        self._lamps: dict[str, LampEntry] = {}

    def __len__(self) -> int:
        return len(self._lamps)

    def __contains__(self, lamp_id: object) -> bool:
        return lamp_id in self._lamps

    def in_contact(self) -> int:
        """How many lamps are in contact."""
        return sum(1 for entry in self._lamps.values() if entry.in_contact)

    def load(self, lamps: Iterable[LampRecord], faults: Iterable[FaultRecord], now: float) -> None:
        """Fill the index from the database at start-up; every lamp gets a full contact window."""
        for lamp in lamps:
            self._lamps[lamp.lamp_id] = LampEntry(
                target=Target(lamp.lamp_id, lamp.address, lamp.port),
                zone=lamp.zone,
                cell=lamp.cell,
                report_period_s=lamp.report_period_s,
                last_heard=now,
                in_contact=lamp.in_contact,
                queue_mode=lamp.queue_mode,
                latitude=lamp.latitude,
                longitude=lamp.longitude,
                wattage=lamp.wattage,
                level=lamp.level,
                power_w=lamp.power_w,
            )
        for fault in faults:
            entry = self._lamps.get(fault.lamp_id)
            if entry is None:
                continue
            if fault.source == SOURCE_LAMP:
                entry.lamp_faults.add(fault.kind)
            elif fault.kind in JUDGED:
                entry.inferred.add(fault.kind)

    def upsert(self, entry: LampEntry) -> None:
        old = self._lamps.get(entry.lamp_id)
        if old is not None:
            entry.lamp_faults, entry.inferred = old.lamp_faults, old.inferred
            entry.level, entry.power_w = old.level, old.power_w
        self._lamps[entry.lamp_id] = entry

    def get(self, lamp_id: str) -> LampEntry:
        try:
            return self._lamps[lamp_id]
        except KeyError:
            raise UnknownLampError(lamp_id) from None

    def find(self, lamp_id: str) -> LampEntry | None:
        return self._lamps.get(lamp_id)

    def in_zone(self, zone: str) -> list[LampEntry]:
        return [entry for entry in self._lamps.values() if entry.zone == zone]

    def cell_size(self, cell: str) -> int:
        """How many known lamps the cell serves."""
        return sum(1 for entry in self._lamps.values() if entry.cell == cell)

    def heard(self, lamp_id: str, now: float) -> bool:
        """Note an uplink from the lamp; True if it was out of contact until now."""
        entry = self.get(lamp_id)
        entry.last_heard = now
        entry.last_uplink = now
        back = not entry.in_contact
        entry.in_contact = True
        return back

    def overdue(self, now: float, missed_reports: int) -> list[LampEntry]:
        """Lamps in contact that have been silent for ``missed_reports`` report periods."""
        return [
            entry
            for entry in self._lamps.values()
            if entry.in_contact and now - entry.last_heard > missed_reports * entry.report_period_s
        ]
