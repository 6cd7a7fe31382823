"""A small run of the benchmark harness: it measures what it says (no timing asserted)."""

from __future__ import annotations

import pytest

from bench import ingest, keys, planning, rollup, udp_limit


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


def test_ingest_of_protected_reports_from_the_load_generator() -> None:
    figures = ingest.measure(lamps=5, reports=3, sender="loadgen", window=4, oscore=True)
    assert figures["security"] == "oscore"
    assert (figures["stored"], figures["failed"], figures["refused"]) == (15, 0, 0)


def test_rollup_rolls_every_report_into_hours(db_url: str) -> None:
    figures = rollup.measure(db_url, lamps=3, minutes=4)
    assert figures["reports_stored"] == 12
    catch_up = figures["catch_up"]
    assert isinstance(catch_up, dict)
    assert catch_up["reports"] == 12
    rerun = figures["rerun"]
    assert isinstance(rerun, dict)
    assert rerun["reports"] == 0


def test_the_mqtt_bench_stores_and_publishes_what_it_counts() -> None:
    from bench import mqtt  # noqa: PLC0415 - only where mosquitto is installed
    from tests.mqtt_broker import mosquitto_binary  # noqa: PLC0415

    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    figures = mqtt.measure(lamps=3, reports=4)
    assert figures["ingest"]["stored"] == 12
    assert figures["publish"]["notices"] == 12


def test_the_key_bench_provisions_opens_and_protects() -> None:
    figures = keys.measure(lamps=20)
    assert figures["lamps"] == 20
    assert figures["protect_us"] > 0
    assert figures["unprotect_us"] > 0
