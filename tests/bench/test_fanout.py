"""The fan-out benchmark on a few lamps: every command it counts reached a lamp."""

from __future__ import annotations

import pytest

from bench import fanout


@pytest.mark.parametrize(
    ("simulator", "oscore"), [("inline", False), ("process", False), ("process", True)]
)
def test_every_lamp_takes_the_level_and_every_command_is_recorded(
    simulator: fanout.Layout, oscore: bool
) -> None:
    row = fanout.measure(30, per_cell=8, concurrency=16, simulator=simulator, oscore=oscore)
    assert row["security"] == ("oscore" if oscore else "insecure")
    assert (row["acknowledged"], row["recorded"], row["at_level"]) == (30, 30, 30)
    assert 0 < row["p50_ms"] <= row["p99_ms"]
    if simulator == "process":
        assert row["sim_peak_rss_mib"] > 0
