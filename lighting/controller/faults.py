"""The fault book: opens a fault once, keeps it while it lasts, resolves it when it clears.

Faults come from the lamps (fault events, and the fault list of every report) and from the
controller itself (communication lost, and the rules of ``rules.py`` over each report).
Every change of a fault is written first, then announced on the event hub as a notice, and
logged once. Many lamps of one cell with the same outage at once become one incident: the
faults stay in the record (a lamp's history is complete) but are announced and listed as
the incident.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from lighting.config import FaultsConfig
from lighting.const import SOURCE_CONTROLLER, SOURCE_LAMP
from lighting.controller.events import EventHub
from lighting.controller.registry import LampEntry, Registry
from lighting.controller.rules import JUDGED, Verdict
from lighting.model import FaultKind
from lighting.notices import (
    ACKNOWLEDGED,
    GROUPED,
    OPENED,
    RESOLVED,
    FaultNotice,
    IncidentNotice,
)
from lighting.storage import FaultRecord, IncidentRecord, Repository, Store

log = logging.getLogger(__name__)

LAMP = SOURCE_LAMP
CONTROLLER = SOURCE_CONTROLLER

GROUPABLE = frozenset(
    {
        FaultKind.COMMS_LOST,
        FaultKind.UNREACHABLE,
        FaultKind.SUPPLY_LOSS,
        FaultKind.NIGHT_OUTAGE,
        FaultKind.VOLTAGE_LOW,
        FaultKind.VOLTAGE_HIGH,
    }
)
"""Faults that a whole cell (or the feeder behind it) can have at once."""


def fault_notice(event: str, fault: FaultRecord, at: datetime) -> FaultNotice:
    by = fault.resolved_by if event == RESOLVED else None
    if event == ACKNOWLEDGED:
        by = fault.acknowledged_by
    return FaultNotice(
        event=event,
        fault_id=fault.fault_id,
        lamp_id=fault.lamp_id,
        zone=fault.zone,
        kind=fault.kind,
        source=fault.source,
        status=fault.status,
        opened_at=fault.opened_at,
        at=at,
        count=fault.count,
        latitude=fault.latitude,
        longitude=fault.longitude,
        incident_id=fault.incident_id,
        by=by,
        note=fault.note,
        detail=fault.detail,
    )


def incident_notice(event: str, incident: IncidentRecord, at: datetime) -> IncidentNotice:
    by = incident.resolved_by if event == RESOLVED else None
    if event == ACKNOWLEDGED:
        by = incident.acknowledged_by
    return IncidentNotice(
        event=event,
        incident_id=incident.incident_id,
        kind=incident.kind,
        cell=incident.cell,
        zones=incident.zones,
        lamps=incident.lamps,
        status=incident.status,
        opened_at=incident.opened_at,
        at=at,
        latitude=incident.latitude,
        longitude=incident.longitude,
        by=by,
        note=incident.note,
    )


class FaultBook:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        *,
        events: EventHub,
        registry: Registry,
        rules: FaultsConfig,
    ) -> None:
        self._store = store
        self._clock = clock
        self._events = events
        self._registry = registry
        self.rules = rules
        self.opened = 0
        self.resolved = 0
        self.incidents = 0
        self._changed = asyncio.Condition()

    @property
    def _repo(self) -> Repository:
        return self._store.repository

    # -- opening and resolving ------------------------------------------------------------

    async def open(
        self, lamp_id: str, kind: FaultKind, source: str, detail: str = ""
    ) -> FaultRecord:
        (fault,) = await self.open_many([lamp_id], kind, source, detail)
        return fault

    async def open_many(
        self, lamp_ids: list[str], kind: FaultKind, source: str, detail: str = ""
    ) -> list[FaultRecord]:
        """Open the same fault on several lamps at once (the watchdog's lamps gone quiet in
        one pass): written first, then grouped by cell, then announced, so that a cell that
        goes dark at once is announced as one incident."""
        now = self._clock()
        opened: list[tuple[FaultRecord, str]] = []
        faults = []
        for lamp_id in lamp_ids:
            fault, event = await self._store.call(
                self._repo.open_fault,
                lamp_id,
                kind,
                source,
                now,
                detail,
                flap_window_s=self.rules.flap_window_s,
            )
            faults.append(fault)
            if event is not None:
                opened.append((fault, event))
        if not opened:
            return faults
        self.opened += len(opened)
        grouped: set[int] = set()
        if kind in GROUPABLE:
            for cell in sorted({fault.cell for fault, _ in opened if fault.cell}):
                grouped.update(fault.fault_id for fault in await self._group(kind, cell, now))
        for fault, event in opened:
            if fault.fault_id in grouped or fault.incident_id is not None:
                continue
            self._events.emit(fault_notice(event, fault, now))
            log.warning(
                "fault %d %s: lamp %s %s (%s)%s%s",
                fault.fault_id,
                event,
                fault.lamp_id,
                kind.slug,
                kind.severity,
                f", {fault.count} times" if fault.count > 1 else "",
                f": {detail}" if detail else "",
            )
        await self._notify()
        return faults

    async def _group(self, kind: FaultKind, cell: str, now: datetime) -> list[FaultRecord]:
        """Take the cell's faults of ``kind`` into an incident if there are enough of them (or
        an incident is open already); the faults taken in."""
        rules = self.rules
        active = await self._store.call(self._repo.active_in_cell, kind, cell)
        enough = active >= max(
            rules.incident_min_lamps, rules.incident_share * self._registry.cell_size(cell)
        )
        if not enough:
            ongoing = await self._store.call(self._repo.incidents, kinds=[kind])
            if all(incident.cell != cell for incident in ongoing):
                return []
        incident, new, taken = await self._store.call(self._repo.group_incident, kind, cell, now)
        if new:
            self.incidents += 1
            log.error(
                "incident %d opened: %d lamps of cell %s with %s (zones %s)",
                incident.incident_id,
                incident.lamps,
                cell,
                kind.slug,
                ", ".join(incident.zones),
            )
        self._events.emit(incident_notice(OPENED if new else GROUPED, incident, now))
        for fault in taken:
            self._events.emit(fault_notice(GROUPED, fault, now))
        return taken

    async def resolve(
        self, lamp_id: str, kind: FaultKind, by: str, note: str = ""
    ) -> FaultRecord | None:
        now = self._clock()
        fault = await self._store.call(self._repo.resolve_fault, lamp_id, kind, now, by, note)
        if fault is None:
            return None
        self.resolved += 1
        self._events.emit(fault_notice(RESOLVED, fault, now))
        if fault.incident_id is not None:
            incident, closed = await self._store.call(
                self._repo.settle_incident, fault.incident_id, now
            )
            if closed:
                log.warning("incident %d resolved: every lamp is back", incident.incident_id)
                self._events.emit(incident_notice(RESOLVED, incident, now))
        else:
            log.info(
                "fault %d resolved: lamp %s %s (by %s)", fault.fault_id, lamp_id, kind.slug, by
            )
        await self._notify()
        return fault

    # -- people ---------------------------------------------------------------------------

    async def acknowledge(self, fault_id: int, by: str) -> FaultRecord:
        now = self._clock()
        fault = await self._store.call(self._repo.acknowledge_fault, fault_id, by, now)
        log.info("fault %d acknowledged by %s", fault_id, by)
        self._events.emit(fault_notice(ACKNOWLEDGED, fault, now))
        return fault

    async def close(self, fault_id: int, by: str, note: str) -> FaultRecord:
        """A crew resolves a fault by hand."""
        now = self._clock()
        fault = await self._store.call(self._repo.close_fault, fault_id, by, note, now)
        entry = self._registry.find(fault.lamp_id)
        if entry is not None:
            entry.lamp_faults.discard(fault.kind)
            entry.inferred.discard(fault.kind)
            entry.streaks.pop(fault.kind, None)
        log.info("fault %d resolved by %s: %s", fault_id, by, note)
        self.resolved += 1
        self._events.emit(fault_notice(RESOLVED, fault, now))
        await self._notify()
        return fault

    # -- waiting (tests, the demo) --------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_opened(self, count: int) -> None:
        """Wait until at least ``count`` faults have been opened since start-up."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.opened >= count)

    async def wait_resolved(self, count: int) -> None:
        """Wait until at least ``count`` faults have been resolved since start-up."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.resolved >= count)

    async def wait_incidents(self, count: int) -> None:
        """Wait until at least ``count`` incidents have been opened since start-up."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.incidents >= count)

    # -- what the lamps say, and what their reports show ----------------------------------

    async def lamp_says(self, entry: LampEntry, kind: FaultKind, active: bool) -> None:
        """A lamp raised or cleared a fault (event, or its presence in a report)."""
        # The record first, memory after: a failed write is tried again at the next report.
        if active and kind not in entry.lamp_faults:
            await self.open(entry.lamp_id, kind, LAMP)
            entry.lamp_faults.add(kind)
        elif not active and kind in entry.lamp_faults:
            await self.resolve(entry.lamp_id, kind, by=LAMP)
            entry.lamp_faults.discard(kind)

    async def reconcile(self, entry: LampEntry, reported: frozenset[FaultKind], seq: int) -> None:
        """Bring the lamp's open faults in line with the list in its latest report (number
        ``seq``), except for a kind the lamp has spoken of since in an event."""
        for kind in reported - entry.lamp_faults:
            if newer(entry, kind, seq):
                await self.lamp_says(entry, kind, True)
        for kind in entry.lamp_faults - reported:
            if newer(entry, kind, seq):
                await self.lamp_says(entry, kind, False)
        entry.said_all = max(entry.said_all, seq)

    async def judge(self, entry: LampEntry, verdict: Verdict) -> None:
        """Open a symptom the rules found in ``confirm_reports`` reports in a row; resolve
        one they judged absent as many times in a row."""
        confirm = self.rules.confirm_reports
        for kind in JUDGED:
            if kind in verdict.found:
                streak = entry.streaks[kind] = max(entry.streaks.get(kind, 0), 0) + 1
                if streak >= confirm and kind not in entry.inferred:
                    await self.open(entry.lamp_id, kind, CONTROLLER, _detail(kind, streak))
                    entry.inferred.add(kind)
            elif kind in verdict.judged:
                streak = entry.streaks[kind] = min(entry.streaks.get(kind, 0), 0) - 1
                if -streak >= confirm and kind in entry.inferred:
                    await self.resolve(entry.lamp_id, kind, by=CONTROLLER)
                    entry.inferred.discard(kind)


def newer(entry: LampEntry, kind: FaultKind, seq: int) -> bool:
    """Whether the lamp's message ``seq`` is its newest word on ``kind``: a report made
    before an event but delivered after it (NB-IoT reorders) must not undo the event."""
    return seq > max(entry.said_all, entry.said.get(kind, -1))


def _detail(kind: FaultKind, reports: int) -> str:
    return f"seen in {reports} reports in a row"
