"""The fault book: opens a fault once, counts it while it lasts, resolves it when it clears.

Faults come from the lamps (fault events, and the fault list of every report) and from the
controller itself (communication lost). Each opening and each resolution is logged once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from lighting.const import SOURCE_CONTROLLER, SOURCE_LAMP
from lighting.controller.registry import LampEntry
from lighting.model import FaultKind
from lighting.storage import FaultRecord, Repository, Store

log = logging.getLogger(__name__)

LAMP = SOURCE_LAMP
CONTROLLER = SOURCE_CONTROLLER


class FaultBook:
    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock
        self.opened = 0
        self.resolved = 0
        self._changed = asyncio.Condition()

    @property
    def _repo(self) -> Repository:
        return self._store.repository

    async def open(
        self, lamp_id: str, kind: FaultKind, source: str, detail: str = ""
    ) -> FaultRecord:
        fault, event = await self._store.call(
            self._repo.open_fault, lamp_id, kind, source, self._clock(), detail
        )
        if event is not None:
            self.opened += 1
            await self._notify()
            log.warning(
                "fault %d opened: lamp %s %s (%s)%s",
                fault.fault_id,
                lamp_id,
                kind.slug,
                kind.severity,
                f": {detail}" if detail else "",
            )
        return fault

    async def resolve(self, lamp_id: str, kind: FaultKind, by: str) -> FaultRecord | None:
        fault = await self._store.call(self._repo.resolve_fault, lamp_id, kind, self._clock(), by)
        if fault is not None:
            self.resolved += 1
            await self._notify()
            log.info(
                "fault %d resolved: lamp %s %s (by %s)", fault.fault_id, lamp_id, kind.slug, by
            )
        return fault

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

    async def lamp_says(self, entry: LampEntry, kind: FaultKind, active: bool) -> None:
        """A lamp raised or cleared a fault (event, or its presence in a report)."""
        # The record first, memory after: a failed write is tried again at the next report.
        if active and kind not in entry.lamp_faults:
            await self.open(entry.lamp_id, kind, LAMP)
            entry.lamp_faults.add(kind)
        elif not active and kind in entry.lamp_faults:
            await self.resolve(entry.lamp_id, kind, by=LAMP)
            entry.lamp_faults.discard(kind)

    async def reconcile(self, entry: LampEntry, reported: frozenset[FaultKind]) -> None:
        """Bring the lamp's open faults in line with the list in its latest report."""
        for kind in reported - entry.lamp_faults:
            await self.lamp_says(entry, kind, True)
        for kind in entry.lamp_faults - reported:
            await self.lamp_says(entry, kind, False)
