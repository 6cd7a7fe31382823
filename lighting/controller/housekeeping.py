"""Housekeeping: the daemon rolls reports up into hourly energy and keeps retention.

Every ``rollup_interval_s`` the reports stored since the last run are counted into the
hourly rows (``Repository.rollup``); every ``retention.prune_interval_s`` reports and
hourly rows past retention are deleted (``Repository.prune``). Both go through the daemon's
``Store`` one bounded batch at a time, each its own transaction, so that the report writer
and the delivery engine get the database thread in between. A failure (the database away,
a disk full) is logged and the work is tried again at the next interval: what was not
counted or deleted stays for the next run, which picks it up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lighting.config import RetentionConfig
from lighting.storage import Store

log = logging.getLogger(__name__)

ROLLUP_INTERVAL_S = 300.0
"""How often reports are rolled up by default: energy "tonight so far" lags by this much."""


@dataclass(frozen=True, slots=True)
class Chores:
    """What one round of housekeeping did."""

    reports: int = 0
    """Reports counted into the hourly rows."""
    hours: int = 0
    """Hourly rows written."""
    pruned: bool = False
    """Whether retention ran in this round."""
    pruned_reports: int = 0
    pruned_hourly: int = 0


class Housekeeping:
    """The roll-up and retention loop of the daemon (``run``), one round at a time for tests
    (``once``)."""

    def __init__(
        self,
        store: Store,
        retention: RetentionConfig,
        *,
        clock: Callable[[], datetime],
        rollup_interval_s: float = ROLLUP_INTERVAL_S,
        batch: int = 20_000,
        prune_batch: int = 10_000,
    ) -> None:
        if rollup_interval_s <= 0 or batch < 1 or prune_batch < 1:
            raise ValueError("the roll-up interval and the batches must be positive")
        self._store = store
        self._retention = retention
        self._clock = clock
        self.rollup_interval_s = rollup_interval_s
        self._batch = batch
        self._prune_batch = prune_batch
        self._last_prune: datetime | None = None

    async def run(self) -> None:
        """Round after round until cancelled; a failed round is logged, not fatal."""
        while True:
            try:
                await self.once(self._clock())
            except Exception:
                log.exception("housekeeping failed; trying again in %.0f s", self.rollup_interval_s)
            await asyncio.sleep(self.rollup_interval_s)

    async def once(self, now: datetime) -> Chores:
        """Roll up every report received before ``now``; prune if it is due."""
        reports, hours = await self.rollup(now)
        chores = Chores(reports=reports, hours=hours)
        if self._prune_due(now):
            pruned_reports, pruned_hourly = await self.prune(now)
            self._last_prune = now
            chores = Chores(reports, hours, True, pruned_reports, pruned_hourly)
        if chores.reports or chores.pruned_reports or chores.pruned_hourly:
            log.info(
                "housekeeping: %d reports rolled up into %d hourly rows; pruned %d reports "
                "and %d hourly rows",
                chores.reports,
                chores.hours,
                chores.pruned_reports,
                chores.pruned_hourly,
            )
        return chores

    async def rollup(self, now: datetime) -> tuple[int, int]:
        """Count the reports received before ``now``, batch by batch; reports, rows."""
        repository = self._store.repository
        reports = hours = 0
        while True:
            result = await self._store.call(repository.rollup, now, batch=self._batch)
            reports, hours = reports + result.reports, hours + result.hours
            if result.done:
                return reports, hours

    async def prune(self, now: datetime) -> tuple[int, int]:
        """Delete what is past retention, batch by batch; reports, hourly rows."""
        repository, retention = self._store.repository, self._retention
        reports = hourly = 0
        while True:
            result = await self._store.call(
                repository.prune,
                now,
                retention.reports_days,
                retention.hourly_days,
                batch=self._prune_batch,
            )
            reports, hourly = reports + result.reports, hourly + result.hourly
            if result.done:
                return reports, hourly

    def _prune_due(self, now: datetime) -> bool:
        last = self._last_prune
        if last is None or now < last:  # never yet, or the clock went back
            return True
        return (now - last).total_seconds() >= self._retention.prune_interval_s
