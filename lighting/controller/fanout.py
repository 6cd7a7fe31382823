"""Fan-out: one level for many lamps, sent with bounded concurrency and recorded.

A change is recorded first (one pending command per lamp, whose row id is the command id on
the wire), then sent, at most ``concurrency`` commands in flight, and every outcome is
written back in one batch with its latency. Commands are absolute and carry their id, so a
lamp that receives one twice applies it once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from lighting.controller.registry import LampEntry
from lighting.errors import DeliveryError
from lighting.metrics import Counters
from lighting.model import Command
from lighting.storage import ChangeRecord, CommandOutcome, Store
from lighting.transports import CommandTransport

log = logging.getLogger(__name__)

ACKNOWLEDGED = "acknowledged"
FAILED = "failed"


class FanOut:
    def __init__(
        self,
        transport: CommandTransport,
        store: Store,
        counters: Counters,
        *,
        concurrency: int,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self._transport = transport
        self._store = store
        self._counters = counters
        self._semaphore = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._monotonic = monotonic

    async def send(
        self,
        zone: str,
        level: int,
        lamps: Sequence[LampEntry],
        *,
        reason: str,
        planned_at: datetime,
    ) -> ChangeRecord:
        """Send ``level`` to ``lamps``; the recorded change with its counts once all are done."""
        repo = self._store.repository
        change_id, command_ids = await self._store.call(
            repo.create_change,
            zone=zone,
            level=level,
            reason=reason,
            planned_at=planned_at,
            lamp_ids=[lamp.lamp_id for lamp in lamps],
            now=self._clock(),
        )
        outcomes: list[CommandOutcome] = []

        async def deliver(lamp: LampEntry) -> None:
            command = Command(command_id=command_ids[lamp.lamp_id], level=level)
            async with self._semaphore:
                started = self._monotonic()
                error: str | None = None
                try:
                    await self._transport.send(lamp.target, command)
                except DeliveryError as err:
                    error = err.reason
                outcome = ACKNOWLEDGED if error is None else FAILED
                latency_ms = (self._monotonic() - started) * 1000
            self._counters.incr(f"commands.{outcome}")
            outcomes.append(
                CommandOutcome(
                    command_id=command.command_id,
                    outcome=outcome,
                    completed_at=self._clock(),
                    latency_ms=round(latency_ms, 3),
                    attempts=1,
                    error=error,
                )
            )

        async with asyncio.TaskGroup() as group:
            for lamp in lamps:
                group.create_task(deliver(lamp))
        await self._store.call(repo.record_outcomes, outcomes)
        change = await self._store.call(repo.finish_change, change_id, self._clock())
        log.info(
            "change %d: zone %s to %d%% (%s): %d of %d acknowledged, %d failed",
            change.change_id,
            zone,
            level,
            reason,
            change.acknowledged,
            change.total,
            change.failed,
        )
        return change
