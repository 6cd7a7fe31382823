"""Roll-up: hourly energy rows from the reports of N lamps reporting once a minute.

``python -m bench.rollup [URL] [--lamps N] [--minutes M]``: stores M minutes of reports
through the repository, then times the roll-up catching up, a re-run with nothing new, the
steady state (5 more minutes) and the energy queries the CLI and dashboard make.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from lighting.model import Registration, StateReport
from lighting.storage import Repository

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _minute(repo: Repository, ids: list[str], minute: int) -> None:
    at = T0 + timedelta(minutes=minute, seconds=7)
    batch = [
        (
            StateReport(
                lamp_id=lamp_id,
                seq=2 + minute,
                level=50,
                power_w=50.0,
                energy_wh=50 * minute / 60,
                burning_s=minute * 60,
            ),
            at,
        )
        for lamp_id in ids
    ]
    for start in range(0, len(batch), 2000):
        repo.store_reports(batch[start : start + 2000])


def _roll(repo: Repository, until: datetime) -> dict[str, float]:
    started = time.perf_counter()
    reports = rows = batches = 0
    while True:
        result = repo.rollup(until)
        reports, rows, batches = reports + result.reports, rows + result.hours, batches + 1
        if result.done:
            break
    return {
        "reports": reports,
        "hourly_rows": rows,
        "batches": batches,
        "seconds": round(time.perf_counter() - started, 2),
    }


def measure(url: str, lamps: int = 10_000, minutes: int = 60) -> dict[str, object]:
    repo = Repository.open(url)
    try:
        ids = [f"L{n:05d}" for n in range(lamps)]
        for index, lamp_id in enumerate(ids):
            registration = Registration(
                lamp_id=lamp_id,
                seq=1,
                zone=f"z{index % 10}",
                latitude=36.7,
                longitude=119.1,
                wattage=100,
            )
            repo.register_lamp(registration, "127.0.0.1", 5683, T0)
        started = time.perf_counter()
        for minute in range(minutes):
            _minute(repo, ids, minute)
        stored_s = round(time.perf_counter() - started, 1)
        until = T0 + timedelta(hours=3)
        catch_up = _roll(repo, until)
        rerun = _roll(repo, until)
        for minute in range(minutes, minutes + 5):
            _minute(repo, ids, minute)
        steady = _roll(repo, until)
        started = time.perf_counter()
        week = repo.energy_by_night(date(2026, 11, 18), date(2026, 11, 24), SHANGHAI)
        week_s = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        lamps_night = repo.energy_by_night(
            date(2026, 11, 24), date(2026, 11, 24), SHANGHAI, per_lamp=True
        )
        night_s = round(time.perf_counter() - started, 3)
    finally:
        repo.close()
    return {
        "lamps": lamps,
        "reports_stored": lamps * minutes,
        "store_s": stored_s,
        "catch_up": catch_up,
        "rerun": rerun,
        "steady_5min": steady,
        "energy_7_nights_s": week_s,
        "energy_7_nights_rows": len(week),
        "energy_night_per_lamp_s": night_s,
        "energy_night_per_lamp_rows": len(lamps_night),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rollup", description=__doc__)
    parser.add_argument("url", nargs="?", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--lamps", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        url = args.url or f"sqlite:///{Path(workdir) / 'rollup.db'}"
        print(measure(url, args.lamps, args.minutes))


if __name__ == "__main__":
    main()
