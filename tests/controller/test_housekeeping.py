"""Housekeeping over a real SQLite database through the daemon's Store: roll-ups in
batches, retention when due, and a loop that outlives a database error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from lighting.config import RetentionConfig
from lighting.controller.housekeeping import Housekeeping
from lighting.errors import StorageError
from lighting.model import Registration, StateReport
from lighting.storage import Repository, RollupResult, Store

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 18:00 in Weifang
RETENTION = RetentionConfig(reports_days=2, hourly_days=30, prune_interval_s=3600)


def _fill(repo: Repository, minutes: range, *, lamp_id: str = "L1") -> None:
    """A 100 W lamp at 50 % since T0, reporting at each of ``minutes`` after T0."""
    reg = Registration(
        lamp_id=lamp_id, seq=1, zone="centre", latitude=36.7, longitude=119.1, wattage=100
    )
    repo.register_lamp(reg, "127.9.0.1", 5683, T0)
    repo.store_reports(
        [
            (
                StateReport(
                    lamp_id=lamp_id,
                    seq=2 + n,
                    level=50,
                    power_w=50.0,
                    energy_wh=50 * minute / 60,
                    burning_s=minute * 60,
                ),
                T0 + timedelta(minutes=minute),
            )
            for n, minute in enumerate(minutes)
        ]
    )


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    async with Store(Repository.open(db_url)) as opened:
        yield opened


async def test_a_round_rolls_up_in_batches_and_prunes_when_due(store: Store) -> None:
    repo = store.repository
    _fill(repo, range(0, 121, 10))
    chores = Housekeeping(store, RETENTION, clock=lambda: T0, batch=4)

    now = T0 + timedelta(hours=3)
    done = await chores.once(now)
    assert (done.reports, done.pruned, done.pruned_reports) == (13, True, 0)
    hours = await store.call(repo.hourly, T0, now, lamp_id="L1")
    assert [round(h.energy_wh, 6) for h in hours] == [50.0, 50.0, 0.0]  # 12:00: 1 report

    # Nothing new, and retention is not due again within its interval.
    again = await chores.once(now + timedelta(minutes=5))
    assert (again.reports, again.pruned) == (0, False)

    # Three days later the reports are past retention (all but the last one counted).
    later = await chores.once(now + timedelta(days=3))
    assert (later.pruned, later.pruned_reports, later.pruned_hourly) == (True, 12, 0)
    assert len(await store.call(repo.reports, "L1")) == 1
    assert len(await store.call(repo.hourly, T0, now, lamp_id="L1")) == 3


async def test_prune_goes_batch_by_batch(store: Store) -> None:
    _fill(store.repository, range(0, 60, 2))
    chores = Housekeeping(store, RETENTION, clock=lambda: T0, prune_batch=7)
    done = await chores.once(T0 + timedelta(days=3))
    assert (done.reports, done.pruned_reports) == (30, 29)


class _Flaky(Repository):
    """A repository whose first roll-up fails as if the database were away."""

    failures = 1
    calls = 0
    recovered: asyncio.Event

    def rollup(
        self, until: datetime, *, batch: int = 20_000, max_rows: int = 50_000
    ) -> RollupResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise StorageError("database error: disk I/O error")
        result = super().rollup(until, batch=batch, max_rows=max_rows)
        self._loop.call_soon_threadsafe(self.recovered.set)
        return result

    _loop: asyncio.AbstractEventLoop


async def test_the_loop_survives_a_database_error(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    repo = _Flaky.open(db_url)
    repo.recovered = asyncio.Event()
    repo._loop = asyncio.get_running_loop()
    _fill(repo, range(0, 31, 10))
    async with Store(repo) as store:
        chores = Housekeeping(store, RETENTION, clock=lambda: T0 + timedelta(hours=1))
        chores.rollup_interval_s = 0.01
        with caplog.at_level(logging.ERROR, logger="lighting.controller.housekeeping"):
            task = asyncio.create_task(chores.run())
            try:
                async with asyncio.timeout(5):
                    await repo.recovered.wait()
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
        assert "housekeeping failed" in caplog.text
        hours = await store.call(repo.hourly, T0, T0 + timedelta(hours=1), lamp_id="L1")
        assert [round(h.energy_wh, 6) for h in hours] == [25.0]


async def test_intervals_and_batches_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError, match="positive"):
        Housekeeping(store, RETENTION, clock=lambda: T0, batch=0)
