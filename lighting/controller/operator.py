"""The operator's desk: what a person can order the running daemon, and only this.

Override a zone or a lamp to a level for a while, cancel an override, acknowledge or resolve
a fault. The dashboard and the CLI reach it through the control channel
(``lighting.controller.control``); every action is recorded with who did it, logged, and
announced on the event hub like everything else the daemon does.

A zone override becomes one of the plan's overrides (with a priority above the calendar's
own), so the night is planned and scheduled again around it and the plan resumes by itself
when it ends. A lamp override holds one lamp: the zone's changes pass it by until it ends,
and then the lamp gets its zone's level again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lighting.errors import NotFoundError, StorageError
from lighting.model import check_level
from lighting.storage import FaultRecord, OverrideRecord
from schedules import Override

if TYPE_CHECKING:
    from lighting.controller.daemon import Controller

log = logging.getLogger(__name__)

OPERATOR_PRIORITY = 1000
"""Above any override of the configuration: a person on duty has the last word."""
MAX_OVERRIDE = timedelta(days=7)


def as_plan_override(record: OverrideRecord) -> Override:
    """A zone override as one of the plan's overrides."""
    return Override(
        record.name,
        record.level,
        record.start,
        record.end,
        OPERATOR_PRIORITY,
        zone=record.zone,
        reason=f"{record.reason} (by {record.by})" if record.reason else f"by {record.by}",
    )


class OperatorDesk:
    def __init__(self, controller: Controller) -> None:
        self._controller = controller
        self.overrides: dict[int, OverrideRecord] = {}
        """Overrides not cancelled and not ended (as of the last look), by id."""
        self._expiries: dict[int, asyncio.Task[None]] = {}

    # -- what the plan and the fan-out need to know ---------------------------------------

    def plan_overrides(self) -> tuple[Override, ...]:
        return tuple(as_plan_override(r) for r in self.overrides.values() if r.zone is not None)

    def held_lamps(self, now: datetime) -> set[str]:
        """Lamps under an override now: a zone's change passes them by."""
        return {
            r.lamp_id for r in self.overrides.values() if r.lamp_id is not None and r.active(now)
        }

    async def load(self) -> None:
        """Take the overrides in force or to come from the record (at start-up)."""
        controller = self._controller
        found = await controller.store.call(
            controller.repository.overrides, ending_after=controller.clock()
        )
        self.overrides = {record.override_id: record for record in found}
        for record in found:
            if record.lamp_id is not None:
                self._watch(record)

    # -- actions --------------------------------------------------------------------------

    async def override(
        self,
        *,
        level: int,
        minutes: float,
        by: str,
        zone: str | None = None,
        lamp: str | None = None,
        reason: str = "",
    ) -> OverrideRecord:
        """Hold ``zone`` (or ``lamp``) at ``level`` from now for ``minutes``."""
        controller = self._controller
        check_level(level)
        if not by.strip():
            raise ValueError("say who orders it (by)")
        if (zone is None) == (lamp is None):
            raise ValueError("override a zone or a lamp")
        if zone is not None and zone not in controller.settings.zones:
            raise NotFoundError("zone", zone)
        if lamp is not None and lamp not in controller.registry:
            raise NotFoundError("lamp", lamp)
        duration = timedelta(minutes=minutes)
        if not timedelta(0) < duration <= MAX_OVERRIDE:
            raise ValueError(f"an override lasts more than 0 and at most {MAX_OVERRIDE.days} days")
        now = controller.clock()
        record = await controller.store.call(
            controller.repository.add_override,
            zone=zone,
            lamp_id=lamp,
            level=level,
            start=now,
            end=now + duration,
            by=by,
            reason=reason,
            now=now,
        )
        self.overrides[record.override_id] = record
        what = f"zone {zone}" if zone is not None else f"lamp {lamp}"
        log.warning(
            "override %d: %s to %d%% until %s, by %s%s",
            record.override_id,
            what,
            level,
            record.end.isoformat(timespec="minutes"),
            by,
            f" ({reason})" if reason else "",
        )
        await self._apply(record)
        return record

    async def cancel(self, override_id: int, by: str) -> OverrideRecord:
        controller = self._controller
        record = await controller.store.call(
            controller.repository.cancel_override, override_id, by, controller.clock()
        )
        self.overrides.pop(override_id, None)
        expiry = self._expiries.pop(override_id, None)
        if expiry is not None:
            expiry.cancel()
        log.warning("override %d cancelled by %s", override_id, by)
        await self._apply(record)
        return record

    async def acknowledge(self, fault_id: int, by: str) -> FaultRecord:
        return await self._book().acknowledge(fault_id, by)

    async def resolve(self, fault_id: int, by: str, note: str) -> FaultRecord:
        return await self._book().close(fault_id, by, note)

    # -- carrying it out ------------------------------------------------------------------

    def _book(self) -> FaultBookLike:
        faults = self._controller.faults
        if faults is None:
            raise StorageError("the controller is not running")
        return faults

    async def _apply(self, record: OverrideRecord) -> None:
        """Put in force what the plan says now, with the override (or without it)."""
        controller = self._controller
        await controller.replan()
        if record.zone is not None:
            await controller.start_zone(record.zone, controller.clock())
            return
        if record.lamp_id is None:
            return
        entry = controller.registry.get(record.lamp_id)
        if record.active(controller.clock()):
            await controller.submit_lamp(entry, record.level, f"override {record.name}")
            self._watch(record)
        else:
            await controller.restore_lamp(entry, f"override {record.name} cancelled")

    def _watch(self, record: OverrideRecord) -> None:
        """Give the lamp its zone's level back when its override ends."""
        controller = self._controller
        if record.override_id in self._expiries:
            return
        delay = (record.end - controller.clock()).total_seconds()
        task = controller.spawn(self._expire(record, delay), f"override {record.override_id} ends")
        if task is not None:
            self._expiries[record.override_id] = task

    async def _expire(self, record: OverrideRecord, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))
        self._expiries.pop(record.override_id, None)
        self.overrides.pop(record.override_id, None)
        if record.lamp_id is None:
            return
        controller = self._controller
        try:
            entry = controller.registry.get(record.lamp_id)
            await controller.restore_lamp(entry, f"override {record.name} ended")
        except Exception:
            log.exception(
                "could not end override %d of lamp %s", record.override_id, record.lamp_id
            )


if TYPE_CHECKING:
    from lighting.controller.faults import FaultBook as FaultBookLike
