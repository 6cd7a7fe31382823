"""The pure energy module: counters to hours, and nights against full power from dusk to
dawn, with fixed zone-aware datetimes and sun times checked against NOAA's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lighting.energy import (
    Reading,
    dark_hours,
    dark_window,
    energy_report,
    hour_shares,
    interval,
    line_dict,
    total,
)
from lighting.storage import NightEnergy
from schedules import night_sun
from tests.schedules.sites import BERLIN, TROMSO, WEIFANG

T0 = datetime(2026, 12, 21, 10, 0, tzinfo=UTC)  # 18:00 in Weifang
SOLSTICE = date(2026, 12, 21)
# NOAA's solar calculator for Weifang (see tests/schedules/test_sun.py): sunset on the
# 21st at 16:50:42, sunrise on the 22nd at 07:12:20, UTC+8: 14 h 21 min 38 s of dark.
NOAA_DARK_H = (14 * 3600 + 21 * 60 + 38) / 3600


def _reading(
    seq: int, at: datetime, energy_wh: float, burning_s: float, *, boot: int = 1, level: int = 50
) -> Reading:
    return Reading("L1", boot, seq, at, level, level * 1.0, energy_wh, burning_s)


def _night(night: date, wattage_w: float, energy_wh: float, lamps: int = 10) -> NightEnergy:
    return NightEnergy(
        night=night,
        zone="centre",
        lamp_id=None,
        lamps=lamps,
        wattage_w=wattage_w,
        energy_wh=energy_wh,
        burning_s=lamps * 14 * 3600.0,
        level_s=lamps * 14 * 3600 * 40.0,
        covered_s=lamps * 14 * 3600.0,
        reports=lamps * 14 * 60,
    )


# -- counters to hours ----------------------------------------------------------------------


def test_an_interval_is_what_the_counters_grew_by_at_the_earlier_level() -> None:
    span = interval(
        _reading(2, T0, 10.0, 600, level=100), _reading(3, T0 + timedelta(minutes=10), 15.0, 1200)
    )
    assert (span.start, span.end, span.energy_wh, span.burning_s, span.level) == (
        T0,
        T0 + timedelta(minutes=10),
        5.0,
        600,
        100,
    )


def test_a_restart_counts_the_counters_whole_over_the_burning_time_before() -> None:
    before = _reading(9, T0, 500.0, 36_000)
    after = _reading(2, T0 + timedelta(minutes=30), 5.0, 300, boot=2)
    span = interval(before, after)
    assert (span.start, span.energy_wh, span.burning_s) == (T0 + timedelta(minutes=25), 5.0, 300)
    # A counter that went down within a boot restarted too.
    assert interval(before, _reading(10, after.at, 5.0, 300)).energy_wh == 5.0


def test_a_new_boot_that_burned_longer_than_the_gap_carried_on() -> None:
    before = _reading(9, T0, 500.0, 36_000)
    after = _reading(2, T0 + timedelta(minutes=30), 520.0, 37_800, boot=2)
    assert interval(before, after).energy_wh == 20.0


def test_a_first_reading_counts_whole_unless_older_than_a_day() -> None:
    assert interval(None, _reading(2, T0, 5.0, 600)).start == T0 - timedelta(minutes=10)
    old = interval(None, _reading(2, T0, 90_000.0, 10**7))
    assert (old.start, old.end, old.energy_wh) == (T0, T0, 0.0)


def test_a_reading_out_of_order_closes_an_empty_interval() -> None:
    span = interval(_reading(5, T0, 10.0, 600), _reading(6, T0 - timedelta(seconds=3), 12.0, 640))
    assert span.start == span.end == T0 - timedelta(seconds=3)
    [share] = hour_shares(span)
    assert (share.hour, share.energy_wh, share.covered_s) == (T0 - timedelta(hours=1), 2.0, 0.0)


def test_hour_shares_split_by_time() -> None:
    span = interval(
        _reading(2, T0 + timedelta(minutes=50), 0.0, 0),
        _reading(3, T0 + timedelta(minutes=80), 30.0, 1800),
    )
    shares = [(s.hour, s.energy_wh, s.burning_s, s.level_s) for s in hour_shares(span)]
    assert shares == [
        (T0, 10.0, 600.0, 50 * 600.0),
        (T0 + timedelta(hours=1), 20.0, 1200.0, 50 * 1200.0),
    ]


@given(
    steps=st.lists(
        st.tuples(st.integers(1, 7200), st.floats(0, 500), st.integers(0, 7200)),
        min_size=1,
        max_size=30,
    )
)
def test_the_hours_of_a_boot_add_up_to_its_last_counters(
    steps: list[tuple[int, float, int]],
) -> None:
    readings = [_reading(1, T0, 0.0, 0)]
    for gap_s, energy, burning in steps:
        last = readings[-1]
        readings.append(
            _reading(
                last.seq + 1,
                last.at + timedelta(seconds=gap_s),
                last.energy_wh + energy,
                last.burning_s + min(burning, gap_s),
            )
        )
    shares = [
        share
        for prev, reading in zip([None, *readings], readings, strict=False)
        for share in hour_shares(interval(prev, reading))
    ]
    assert sum(s.energy_wh for s in shares) == pytest.approx(readings[-1].energy_wh)
    assert sum(s.burning_s for s in shares) == pytest.approx(readings[-1].burning_s)
    assert sum(s.covered_s for s in shares) == pytest.approx((readings[-1].at - T0).total_seconds())
    assert all(s.covered_s <= 3600 for s in shares)


# -- nights against full power --------------------------------------------------------------


def test_the_weifang_solstice_baseline_is_the_hours_from_sunset_to_sunrise() -> None:
    assert dark_hours(WEIFANG, SOLSTICE) == pytest.approx(NOAA_DARK_H, abs=2 / 60)
    sun = night_sun(WEIFANG, SOLSTICE)
    assert dark_window(WEIFANG, SOLSTICE) == (sun.sunset, sun.sunrise)

    # Ten 100 W lamps drew 6 kWh where full power from dusk to dawn takes 14.36 kWh.
    [line] = energy_report(WEIFANG, [_night(SOLSTICE, 1000.0, 6000.0)])
    dark = dark_hours(WEIFANG, SOLSTICE)
    assert (line.night, line.zone, line.lamps, line.partial) == (SOLSTICE, "centre", 10, False)
    assert line.energy_kwh == pytest.approx(6.0)
    assert line.baseline_kwh == pytest.approx(dark)
    assert line.saving_kwh == pytest.approx(dark - 6.0)
    assert line.saving_pct == pytest.approx(100 * (1 - 6.0 / dark))
    assert line.saving_pct == pytest.approx(58.2, abs=0.1)
    assert line.burning_h == pytest.approx(14.0)
    assert line.mean_level == pytest.approx(40.0)


def test_a_night_in_progress_has_a_baseline_up_to_now() -> None:
    now = datetime(2026, 12, 21, 22, 0, tzinfo=WEIFANG.tzinfo)
    [line] = energy_report(WEIFANG, [_night(SOLSTICE, 1000.0, 3000.0)], until=now)
    sunset = night_sun(WEIFANG, SOLSTICE).sunset
    assert sunset is not None
    assert line.partial
    assert line.dark_h == pytest.approx((now - sunset).total_seconds() / 3600)
    assert line.baseline_kwh == pytest.approx(line.dark_h)
    # Before sunset there is no baseline yet, and no percentage.
    early = datetime(2026, 12, 21, 15, 0, tzinfo=WEIFANG.tzinfo)
    [before] = energy_report(WEIFANG, [_night(SOLSTICE, 1000.0, 0.0)], until=early)
    assert (before.baseline_kwh, before.saving_pct) == (0.0, None)
    # A night that is over is whole, whenever the report is made.
    [past] = energy_report(WEIFANG, [_night(SOLSTICE, 1000.0, 0.0)], until=now + timedelta(days=3))
    assert not past.partial
    assert past.dark_h == pytest.approx(dark_hours(WEIFANG, SOLSTICE))


def test_polar_night_is_dark_from_noon_to_noon_and_polar_day_not_at_all() -> None:
    assert dark_hours(TROMSO, date(2026, 12, 21)) == pytest.approx(24.0)
    assert dark_window(TROMSO, date(2026, 6, 21)) is None
    [midsummer] = energy_report(TROMSO, [_night(date(2026, 6, 21), 1000.0, 0.0)])
    assert (midsummer.baseline_kwh, midsummer.saving_pct) == (0.0, None)
    # The night the polar night ends: dark from noon until the first sunrise.
    last = date(2027, 1, 14)
    sunrise = night_sun(TROMSO, last).sunrise
    assert sunrise is not None
    noon = datetime(2027, 1, 14, 12, 0, tzinfo=TROMSO.tzinfo)
    assert dark_hours(TROMSO, last) == pytest.approx((sunrise - noon).total_seconds() / 3600)


def test_the_night_clocks_go_back_counts_real_hours() -> None:
    """Berlin, 24 to 25 October 2026: the wall clock shows an hour less than passes."""
    night = date(2026, 10, 24)
    sun = night_sun(BERLIN, night)
    assert sun.sunset is not None
    assert sun.sunrise is not None
    wall = sun.sunrise.replace(tzinfo=None) - sun.sunset.replace(tzinfo=None)
    assert dark_hours(BERLIN, night) == pytest.approx(wall.total_seconds() / 3600 + 1)


def test_lines_add_up_and_read_as_json() -> None:
    nights = [_night(SOLSTICE, 1000.0, 6000.0), _night(SOLSTICE + timedelta(days=1), 1000.0, 0)]
    lines = energy_report(WEIFANG, reversed(nights))
    assert [line.night for line in lines] == [SOLSTICE, SOLSTICE + timedelta(days=1)]
    summed = total(lines)
    assert summed.nights == 2
    assert summed.energy_kwh == pytest.approx(6.0)
    assert summed.saving_kwh == pytest.approx(summed.baseline_kwh - 6.0)
    shown = line_dict(lines[0])
    assert shown["night"] == "2026-12-21"
    assert (shown["energy_kwh"], shown["lamps"], shown["lamp"]) == (6.0, 10, None)
    assert shown["saving_pct"] == pytest.approx(58.2, abs=0.1)
