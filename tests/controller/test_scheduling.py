"""The APScheduler adapter: tonight's changes become date jobs that call the controller."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

from lighting.controller.scheduling import NightScheduler
from schedules import ClockTime, Program, Site, Step, plan_night

WEIFANG = Site(name="Weifang", latitude=36.71, longitude=119.16, timezone="Asia/Shanghai")


async def _nothing() -> None:
    return None


async def test_only_the_changes_after_now_are_scheduled_with_explicit_ids() -> None:
    calls: list[tuple[str, int]] = []

    async def apply(zone: str, level: int, reason: str, at: datetime) -> None:
        calls.append((zone, level))

    program = Program(
        name="p",
        steps=(
            Step(ClockTime(time(18, 0)), 100),
            Step(ClockTime(time(23, 0)), 50),
            Step(ClockTime(time(5, 0)), 0),
        ),
    )
    plan = plan_night(WEIFANG, program, (), date(2026, 11, 24))
    scheduler = NightScheduler(WEIFANG.tzinfo, apply, _nothing)
    scheduler.start()
    try:
        now = datetime(2026, 11, 24, 20, 0, tzinfo=WEIFANG.tzinfo)
        ids = scheduler.schedule({"centre": plan}, now)
        assert ids == [
            "change:centre:2026-11-24T23:00:00+08:00",
            "change:centre:2026-11-25T05:00:00+08:00",
        ]
        runs = dict(scheduler.next_runs())
        assert runs["change:centre:2026-11-24T23:00:00+08:00"] == datetime(
            2026, 11, 24, 15, 0, tzinfo=UTC
        )
        assert "replan" in runs
        # Scheduling the same night again replaces the jobs instead of doubling them.
        scheduler.schedule({"centre": plan}, now)
        assert len([j for j, _ in scheduler.next_runs() if j.startswith("change:")]) == 2
    finally:
        scheduler.shutdown()
    assert calls == []


async def test_a_due_job_calls_the_controller_with_zone_and_level() -> None:
    fired: asyncio.Queue[tuple[str, int, str]] = asyncio.Queue()

    async def apply(zone: str, level: int, reason: str, at: datetime) -> None:
        await fired.put((zone, level, reason))

    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    local = soon.astimezone(WEIFANG.tzinfo)
    night = local.date() if local.hour >= 12 else local.date() - timedelta(days=1)
    program = Program(name="soon", steps=(Step(ClockTime(local.time()), 42),))
    plan = plan_night(WEIFANG, program, (), night)
    scheduler = NightScheduler(WEIFANG.tzinfo, apply, _nothing)
    scheduler.start()
    try:
        assert scheduler.schedule({"north": plan}, datetime.now(UTC)) != []
        async with asyncio.timeout(10):
            assert await fired.get() == ("north", 42, "program soon")
    finally:
        scheduler.shutdown()
