"""Many rows in one statement against one statement a row, on SQLite, alone and beside a
thread busy in Python (as the controller's event loop is beside its database thread).

SQLite's driver lets go of the GIL around every statement it steps. ``executemany`` steps
one statement a row, and with another thread holding the GIL, each row waits for it,
up to the interpreter's switch interval. ``DriverStyle.update`` sends 500 rows a
statement instead (``lighting.storage.base``).

``python -m bench.writes`` prints, for each way and each condition, microseconds a row
(lamp rows updated in transactions of 500). Bounded: the slow case writes fewer rows.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lighting.model import Registration
from lighting.storage import Repository
from lighting.storage.base import DriverStyle
from lighting.storage.tables import LampRow

BATCH = 500
COLUMNS = ("level", "power_w")


def _fleet(repo: Repository, lamps: int) -> list[str]:
    now = datetime.now(UTC)
    ids = [f"lamp-{i:06d}" for i in range(lamps)]
    for at in range(0, lamps, 1000):
        repo.register_lamps(
            [
                (Registration(lamp_id, 1, "centre", 36.7, 119.1, 100.0), "127.0.0.1", 5683)
                for lamp_id in ids[at : at + 1000]
            ],
            now,
        )
    return ids


def _row_by_row(driver: DriverStyle) -> DriverStyle:
    """The same driver style, sending ``executemany`` as PostgreSQL's does."""
    plain = DriverStyle.__new__(DriverStyle)
    plain.__dict__.update(driver.__dict__)
    plain.many_rows = False
    return plain


def _timed(repo: Repository, driver: DriverStyle, ids: list[str], level: int) -> float:
    """Microseconds a row to set ``ids``' lamps to ``level`` in transactions of ``BATCH``;
    ``RuntimeError`` if any lamp was not set."""
    started = time.perf_counter()
    for at in range(0, len(ids), BATCH):
        rows = [(level, 12.5, lamp_id) for lamp_id in ids[at : at + BATCH]]
        with repo.engine.begin() as connection:
            driver.update(connection, LampRow.__tablename__, COLUMNS, ("lamp_id",), rows)
    elapsed = time.perf_counter() - started
    with repo.engine.connect() as connection:
        found = connection.exec_driver_sql(
            f"SELECT count(*) FROM {LampRow.__tablename__} WHERE level = {level}"  # noqa: S608
        ).scalar()
    if found != len(ids):
        raise RuntimeError(f"{found} lamps at {level} %, not {len(ids)}")
    return elapsed / len(ids) * 1e6


def _beside_busy_thread(measure: Callable[[], float]) -> float:
    stop = threading.Event()

    def spin() -> None:
        total = 0
        while not stop.is_set():
            total += sum(range(50))

    busy = threading.Thread(target=spin, daemon=True)
    busy.start()
    try:
        return measure()
    finally:
        stop.set()
        busy.join(5)


def measure(lamps: int = 10_000, slow_rows: int = 500) -> dict[str, Any]:
    """µs a row: many rows a statement and one a row, alone and beside a busy thread (the
    last with ``slow_rows`` rows only: it takes about 5 ms a row)."""
    with tempfile.TemporaryDirectory() as workdir:
        repo = Repository.open(f"sqlite:///{Path(workdir) / 'writes.db'}")
        try:
            ids = _fleet(repo, lamps)
            many, single = repo.driver, _row_by_row(repo.driver)
            if not many.many_rows:
                raise RuntimeError("this SQLite is older than 3.33: no UPDATE ... FROM")
            return {
                "lamps": lamps,
                "many_rows_us": round(_timed(repo, many, ids, 10), 2),
                "row_by_row_us": round(_timed(repo, single, ids, 20), 2),
                "many_rows_busy_us": round(
                    _beside_busy_thread(lambda: _timed(repo, many, ids, 30)), 2
                ),
                "row_by_row_busy_us": round(
                    _beside_busy_thread(lambda: _timed(repo, single, ids[:slow_rows], 40)), 2
                ),
                "row_by_row_busy_rows": slow_rows,
            }
        finally:
            repo.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.writes", description=__doc__)
    parser.add_argument("--lamps", type=int, default=10_000)
    parser.add_argument("--slow-rows", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(measure(args.lamps, args.slow_rows)))


if __name__ == "__main__":
    main()
