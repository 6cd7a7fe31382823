"""The APScheduler 3 adapter: tonight's plan as date jobs, and a re-plan every noon.

This is the only module that imports APScheduler (pinned below 4, whose API differs), so an
upgrade stays here. Sunset is not a cron expression: the plan for the night is computed by
``schedules`` and each change becomes a date job with an explicit id; the noon job plans
the next night. Every trigger is given the site's zone explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from schedules import NightPlan

log = logging.getLogger(__name__)

ApplyChange = Callable[[str, int, str, datetime], Awaitable[object]]
Replan = Callable[[], Awaitable[object]]

MISFIRE_GRACE_S = 15 * 60


async def _fire_change(
    apply: ApplyChange, zone: str, level: int, reason: str, at: datetime
) -> None:
    await apply(zone, level, reason, at)


async def _fire_replan(replan: Replan) -> None:
    await replan()


class NightScheduler:
    """Owns an ``AsyncIOScheduler`` on the running loop."""

    def __init__(self, tz: ZoneInfo, apply: ApplyChange, replan: Replan) -> None:
        self._tz = tz
        self._apply = apply
        self._scheduler = AsyncIOScheduler(timezone=tz)
        self._scheduler.add_job(
            _fire_replan,
            CronTrigger(hour=12, minute=0, timezone=tz),
            args=[replan],
            id="replan",
            replace_existing=True,
            misfire_grace_time=MISFIRE_GRACE_S,
            coalesce=True,
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def clear_changes(self) -> int:
        """Remove every change job (before the night is scheduled anew); how many."""
        jobs = [job for job in self._scheduler.get_jobs() if job.id.startswith("change:")]
        for job in jobs:
            job.remove()
        return len(jobs)

    def schedule(self, plans: Mapping[str, NightPlan], now: datetime) -> list[str]:
        """Add a date job for every change after ``now``; the ids of the jobs added."""
        ids = []
        for zone, plan in plans.items():
            for change in plan.changes:
                if change.at <= now:
                    continue
                job_id = f"change:{zone}:{change.at.isoformat()}"
                reason = f"program {plan.program.name}"
                self._scheduler.add_job(
                    _fire_change,
                    DateTrigger(run_date=change.at, timezone=self._tz),
                    args=[self._apply, zone, change.level, reason, change.at],
                    id=job_id,
                    replace_existing=True,
                    misfire_grace_time=MISFIRE_GRACE_S,
                )
                ids.append(job_id)
        log.info("scheduled %d changes", len(ids))
        return ids

    def next_runs(self) -> list[tuple[str, datetime]]:
        return [
            (job.id, job.next_run_time)
            for job in self._scheduler.get_jobs()
            if job.next_run_time is not None
        ]
