"""A small run of the benchmark harness: it measures what it says (no timing asserted)."""

from __future__ import annotations

from bench import ingest, planning, udp_limit


def test_planning_plans_every_zone_and_night() -> None:
    figures = planning.measure(zones=3, nights=4)
    assert figures["plans"] == 12
    assert figures["changes"] > 12  # every night of the example has several changes
    assert figures["calendars_validated"] >= 1


def test_the_udp_limit_counts_round_trips() -> None:
    figures = udp_limit.measure(seconds=0.3, window=8)
    assert figures["round_trips_per_s"] > 0


def test_ingest_stores_every_report_it_counts() -> None:
    figures = ingest.measure(lamps=5, reports=3)
    assert figures["stored"] == 15
    assert figures["refused"] == 0
