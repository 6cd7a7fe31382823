"""The write benchmark on a few lamps: both ways write every row (no timing asserted)."""

from __future__ import annotations

from bench import writes


def test_both_ways_update_the_lamps_and_say_what_a_row_cost() -> None:
    row = writes.measure(lamps=600, slow_rows=20)
    assert row["lamps"] == 600
    assert row["row_by_row_busy_rows"] == 20
    for key in ("many_rows_us", "row_by_row_us", "many_rows_busy_us", "row_by_row_busy_us"):
        assert row[key] > 0
