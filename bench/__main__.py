"""``python -m bench``: measure, print a table, write JSON."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import fanout, ingest, planning, udp_limit


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--lamps",
        type=int,
        nargs="+",
        default=[1000],
        help="fleet sizes for the fan-out (default 1000)",
    )
    parser.add_argument("--per-cell", type=int, default=40, help="in flight per cell")
    parser.add_argument("--concurrency", type=int, default=1024, help="in flight city-wide")
    parser.add_argument("--zones", type=int, default=1000, help="zones to plan for a year")
    parser.add_argument(
        "--ingest-lamps", type=int, default=1000, help="lamps reporting at once (default 1000)"
    )
    parser.add_argument("--reports", type=int, default=10, help="reports per lamp")
    parser.add_argument("--db", default=None, help="database URL for ingest (default: SQLite)")
    parser.add_argument("--json", type=Path, default=Path("bench/results/latest.json"))
    args = parser.parse_args()

    plans = planning.measure(zones=args.zones)
    limit = udp_limit.measure()
    rows = [fanout.measure(n, args.per_cell, args.concurrency) for n in args.lamps]
    taken = ingest.measure(args.ingest_lamps, args.reports, args.db)
    raw = limit["round_trips_per_s"]
    print(f"UDP limit (loopback, 2 processes, window 64): {raw:,} round trips/s")
    header = (
        "lamps",
        "fanout_s",
        "commands_per_s",
        "vs_raw",
        "p50_ms",
        "p99_ms",
        "cpu_s",
        "peak_rss_mib",
        "registered_s",
    )
    print(" | ".join(header))
    for row in rows:
        row["vs_raw"] = round(row["commands_per_s"] / raw, 4) if raw else 0
        print(" | ".join(str(row[key]) for key in header))
    print(
        f"planning: {plans['plans']:,} nights ({plans['zones']} zones x {plans['nights']}) in "
        f"{plans['plan_s']} s ({plans['plans_per_s']:,}/s); "
        f"{plans['calendars_validated']} calendars validated for a year in {plans['validate_s']} s"
    )
    print(
        f"ingest ({taken['database']}): {taken['stored']:,} reports from {taken['lamps']:,} lamps "
        f"stored in {taken['elapsed_s']} s ({taken['reports_per_s']:,}/s), longest loop stall "
        f"{taken['max_loop_lag_ms']} ms, {taken['cpu_s']} s CPU"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "command": " ".join(["python -m bench", *sys.argv[1:]]),
                "udp_limit": limit,
                "fanout": rows,
                "planning": plans,
                "ingest": taken,
            },
            indent=2,
        )
    )
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()
