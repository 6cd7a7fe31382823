"""Hourly roll-ups, retention and energy per night, on SQLite and PostgreSQL.

Times are fixed and zone-aware. Weifang is UTC+8: 10:00 UTC is 18:00 there, and the night
of 24 November runs from 04:00 UTC on the 24th to 04:00 UTC on the 25th.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from lighting.model import Registration, StateReport
from lighting.storage import PruneResult, Repository

WEIFANG = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
NIGHT = date(2026, 11, 24)
MIN = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class _Lamp:
    repo: Repository
    lamp_id: str

    def report(
        self, seq: int, at: datetime, energy_wh: float, burning_s: int, *, level: int = 50
    ) -> None:
        """A report with these counters (at 50 % of 100 W unless told), received at ``at``."""
        report = StateReport(
            lamp_id=self.lamp_id,
            seq=seq,
            level=level,
            power_w=float(level),
            energy_wh=energy_wh,
            burning_s=burning_s,
        )
        assert self.repo.store_reports([(report, at)]) != ["duplicate"]


def _register(
    repo: Repository, lamp_id: str, at: datetime, *, zone: str = "centre", wattage: float = 100
) -> _Lamp:
    """Register (or register again, as after a power cut: a new boot) a lamp."""
    reg = Registration(
        lamp_id=lamp_id, seq=1, zone=zone, latitude=36.7, longitude=119.1, wattage=wattage
    )
    repo.register_lamp(reg, "127.9.0.1", 5683, at)
    return _Lamp(repo, lamp_id)


def _half_power(repo: Repository, lamp_id: str, minutes: range, *, seq0: int = 2) -> None:
    """A 100 W lamp at 50 % since T0, reporting at each of ``minutes`` after T0."""
    for n, minute in enumerate(minutes):
        _Lamp(repo, lamp_id).report(seq0 + n, T0 + minute * MIN, 50 * minute / 60, minute * 60)


def _rolled(repo: Repository, until: datetime = T0 + timedelta(hours=12)) -> None:
    while not repo.rollup(until).done:
        pass


def _hours(repo: Repository, lamp_id: str) -> list[tuple[datetime, float, float, float, int]]:
    return [
        (h.hour, round(h.energy_wh, 6), round(h.burning_s, 3), round(h.level_s, 3), h.reports)
        for h in repo.hourly(T0 - timedelta(days=2), T0 + timedelta(days=2), lamp_id=lamp_id)
    ]


def test_a_lamp_at_half_of_100_w_for_four_hours_draws_200_wh(repo: Repository) -> None:
    _register(repo, "L1", T0)
    _half_power(repo, "L1", range(0, 241, 5))
    result = repo.rollup(T0 + timedelta(hours=5))
    assert (result.reports, result.done) == (49, True)

    hours = repo.hourly(T0, T0 + timedelta(hours=5), lamp_id="L1")
    assert [h.hour for h in hours] == [T0 + timedelta(hours=n) for n in range(5)]
    for h in hours[:4]:
        assert h.energy_wh == pytest.approx(50.0)
        assert h.burning_s == pytest.approx(3600)
        assert h.mean_level == pytest.approx(50)
        assert h.mean_power_w == pytest.approx(50)
    assert hours[4].energy_wh == 0  # the last report closes the fourth hour at 14:00
    assert sum(h.reports for h in hours) == 49
    assert hours[0].hour.tzinfo is not None

    [night] = repo.energy_by_night(NIGHT, NIGHT, WEIFANG)
    assert (night.zone, night.lamps, night.wattage_w) == ("centre", 1, 100)
    assert night.energy_wh == pytest.approx(200.0)
    assert night.burning_s == pytest.approx(4 * 3600)
    assert night.mean_level == pytest.approx(50)


def test_an_interval_across_an_hour_boundary_is_split_by_time(repo: Repository) -> None:
    lamp = _register(repo, "L1", T0)
    lamp.report(2, T0 + 50 * MIN, 0.0, 0)
    lamp.report(3, T0 + 80 * MIN, 30.0, 1800)  # 10:50 to 11:20: 10 min, then 20
    _rolled(repo)
    assert _hours(repo, "L1") == [
        (T0, 10.0, 600.0, 50 * 600.0, 1),
        (T0 + timedelta(hours=1), 20.0, 1200.0, 50 * 1200.0, 1),
    ]


def test_a_reboot_in_the_middle_of_an_hour_restarts_the_counters(repo: Repository) -> None:
    lamp = _register(repo, "L1", T0)
    lamp.report(2, T0, 0.0, 0)
    lamp.report(3, T0 + 10 * MIN, 10.0, 600)
    lamp.report(4, T0 + 20 * MIN, 20.0, 1200)
    _register(repo, "L1", T0 + 25 * MIN)  # power cut: boot 2, counters from zero
    lamp.report(2, T0 + 30 * MIN, 5.0, 300)
    lamp.report(3, T0 + 40 * MIN, 15.0, 900)
    _rolled(repo)
    [(hour, energy, burning, _, reports)] = _hours(repo, "L1")
    assert (hour, energy, burning, reports) == (T0, 35.0, 2100.0, 5)


def test_a_new_boot_whose_counters_carried_on_counts_the_difference(repo: Repository) -> None:
    """A lamp that registers again without a power-up (the controller lost it) keeps its
    counters: a day of burning since the last report is impossible, so it is no restart."""
    lamp = _register(repo, "L1", T0)
    lamp.report(2, T0, 5000.0, 100_000)
    lamp.report(3, T0 + 10 * MIN, 5010.0, 100_600)
    _register(repo, "L1", T0 + 15 * MIN)
    lamp.report(4, T0 + 20 * MIN, 5020.0, 101_200)
    _rolled(repo)
    [(_, energy, burning, _, _)] = _hours(repo, "L1")
    # The first report counts nothing (a counter of more than a day began before the
    # record), the next two 10 Wh each.
    assert (energy, burning) == (20.0, 1200.0)


def test_a_rerun_and_batches_give_the_same_rows(repo: Repository) -> None:
    _register(repo, "L1", T0)
    _register(repo, "L2", T0)
    _half_power(repo, "L1", range(0, 125, 7))
    _half_power(repo, "L2", range(0, 125, 7))
    until = T0 + timedelta(hours=3)
    whole = repo.rollup(until)
    assert whole.done
    once = _hours(repo, "L1")
    again = repo.rollup(until)
    assert (again.reports, again.hours, again.done) == (0, 0, True)
    assert _hours(repo, "L1") == once
    # L2's reports, counted three at a time, come out the same as L1's counted at once.
    assert [h[1:] for h in _hours(repo, "L2")] == [h[1:] for h in once]


def test_batches_of_a_few_reports_give_the_rows_of_one_run(repo: Repository) -> None:
    _register(repo, "L1", T0)
    _half_power(repo, "L1", range(0, 125, 7))
    runs = 0
    while not (result := repo.rollup(T0 + timedelta(hours=3), batch=3)).done:
        runs += 1
        assert result.reports == 3
    assert runs >= 5
    hours = repo.hourly(T0, T0 + timedelta(hours=3), lamp_id="L1")
    assert sum(h.energy_wh for h in hours) == pytest.approx(50 * 119 / 60)
    assert sum(h.reports for h in hours) == 18


def test_reports_after_until_wait_for_the_next_run(repo: Repository) -> None:
    _register(repo, "L1", T0)
    _half_power(repo, "L1", range(0, 61, 10))
    first = repo.rollup(T0 + 25 * MIN)
    assert (first.reports, first.done) == (3, True)
    second = repo.rollup(T0 + timedelta(hours=2))
    assert second.reports == 4
    [hour] = repo.hourly(T0, T0 + timedelta(hours=1), lamp_id="L1")
    assert hour.energy_wh == pytest.approx(50)


def test_a_late_report_is_counted_as_if_it_had_come_in_order(repo: Repository) -> None:
    """L1's report of 11:05 is stored after the roll-up of everything around it (the ingest
    held it while the database was away); L2 gets the same reports in order."""
    minutes = range(0, 121, 5)
    late = 13  # the report of minute 65
    lamp = _register(repo, "L1", T0)
    _register(repo, "L2", T0)
    for n, minute in enumerate(minutes):
        if n != late:
            lamp.report(2 + n, T0 + minute * MIN, 50 * minute / 60, minute * 60)
    _half_power(repo, "L2", minutes)
    _rolled(repo)
    assert sum(h[1] for h in _hours(repo, "L1")) == pytest.approx(100)
    assert _hours(repo, "L1") != _hours(repo, "L2")  # hour 11 lacks a report

    minute = minutes[late]
    lamp.report(2 + late, T0 + minute * MIN, 50 * minute / 60, minute * 60)
    result = repo.rollup(T0 + timedelta(hours=12))
    assert result.reports == 1
    assert _hours(repo, "L1") == _hours(repo, "L2")


def test_a_report_out_of_order_neither_loses_nor_invents_energy(repo: Repository) -> None:
    """Report 4 arrives after report 5 (a retransmission): its interval is empty, the
    energy lands all the same, and no hour goes negative."""
    lamp = _register(repo, "L1", T0)
    lamp.report(2, T0 + 50 * MIN, 0.0, 0)
    lamp.report(3, T0 + 55 * MIN, 5.0, 300)
    lamp.report(5, T0 + 65 * MIN, 15.0, 900)
    _rolled(repo)
    lamp.report(4, T0 + 66 * MIN, 10.0, 600)
    lamp.report(6, T0 + 70 * MIN, 20.0, 1200)
    _rolled(repo)
    hours = _hours(repo, "L1")
    assert sum(h[1] for h in hours) == pytest.approx(20.0)
    assert sum(h[2] for h in hours) == pytest.approx(1200.0)
    assert all(h[1] >= 0 and h[2] >= 0 for h in hours)
    assert [h[4] for h in hours] == [2, 3]


def test_retention_deletes_only_what_is_old_and_rolled_up(repo: Repository) -> None:
    now = T0 + timedelta(days=5)
    lamp = _register(repo, "L1", T0)
    _half_power(repo, "L1", range(0, 31, 10))  # 5 days old
    _rolled(repo, T0 + timedelta(hours=1))
    lamp.report(6, T0 + timedelta(days=1), 30.0, 3600)  # 4 days old, not rolled up
    lamp.report(7, now - timedelta(days=1), 40.0, 4000)  # recent
    assert repo.prune(now, reports_days=3, hourly_days=3650) == PruneResult(3, 0, True)
    # The last report counted stays (so that ids never restart below the watermark), and
    # so do the old report not rolled up yet and the recent one; the hourly rows stay.
    assert sorted(r.seq for r in repo.reports("L1", limit=10)) == [5, 6, 7]
    assert repo.hourly(T0, T0 + timedelta(hours=1), lamp_id="L1")

    _rolled(repo, now)
    gone = repo.prune(now, reports_days=3, hourly_days=4)
    assert (gone.reports, gone.done) == (2, True)
    assert gone.hourly == 24  # the 24 hours from 10:00 on the first day to report 6
    assert [r.seq for r in repo.reports("L1", limit=10)] == [7]
    assert not repo.hourly(T0, T0 + timedelta(days=1), lamp_id="L1")
    assert repo.hourly(T0 + timedelta(days=1), now, lamp_id="L1")


def test_prune_works_in_bounded_batches(repo: Repository) -> None:
    _register(repo, "L1", T0)
    _half_power(repo, "L1", range(0, 60, 5))
    _rolled(repo)
    now = T0 + timedelta(days=91)
    first = repo.prune(now, reports_days=90, hourly_days=3650, batch=4)
    assert (first.reports, first.done) == (4, False)
    counts = [first.reports]
    while not (more := repo.prune(now, reports_days=90, hourly_days=3650, batch=4)).done:
        counts.append(more.reports)
    counts.append(more.reports)
    assert sum(counts) == 11  # all but the last report counted


def test_energy_per_zone_and_lamp_and_night(repo: Repository) -> None:
    lamp = _register(repo, "L1", T0, zone="centre")
    _register(repo, "L2", T0, zone="centre", wattage=150)
    _register(repo, "N1", T0, zone="north")
    for lamp_id in ("L1", "L2", "N1"):
        _half_power(repo, lamp_id, range(0, 61, 10))
    # The next night, L1 only: 30 Wh from 10:00 to 10:36 on the 25th.
    lamp.report(20, T0 + timedelta(days=1), 100.0, 7200)
    lamp.report(21, T0 + timedelta(days=1, minutes=36), 130.0, 7200 + 2160)
    _rolled(repo, T0 + timedelta(days=2))

    zones = repo.energy_by_night(NIGHT, NIGHT + timedelta(days=1), WEIFANG)
    assert [(z.night, z.zone, z.lamps, z.wattage_w) for z in zones] == [
        (NIGHT, "centre", 2, 250.0),
        (NIGHT, "north", 1, 100.0),
        (NIGHT + timedelta(days=1), "centre", 1, 100.0),
    ]
    # L1 was silent from 11:00 on the 24th to 10:00 on the 25th: what its counters grew by
    # in between (50 Wh) is spread over those 23 hours, 17 before the night's end (04:00
    # UTC, noon in Weifang) and 6 after.
    energies = [z.energy_wh for z in zones]
    assert energies == pytest.approx([100 + 50 * 17 / 23, 50, 30 + 50 * 6 / 23])

    lamps = repo.energy_by_night(NIGHT, NIGHT, WEIFANG, zone="centre", per_lamp=True)
    assert [(n.lamp_id, n.lamps, n.wattage_w) for n in lamps] == [
        ("L1", 1, 100.0),
        ("L2", 1, 150.0),
    ]
    one = repo.energy_by_night(NIGHT, NIGHT, WEIFANG, lamp_id="N1", per_lamp=True)
    assert [(n.lamp_id, n.zone, round(n.energy_wh, 6)) for n in one] == [("N1", "north", 50.0)]
    assert repo.energy_by_night(NIGHT, NIGHT, WEIFANG, zone="nowhere") == []


def test_energy_tonight_so_far(repo: Repository) -> None:
    _register(repo, "L1", T0)
    _half_power(repo, "L1", range(0, 91, 10))
    now = T0 + 95 * MIN
    _rolled(repo, now)
    [tonight] = repo.energy_tonight(now, WEIFANG)
    assert (tonight.night, tonight.zone) == (NIGHT, "centre")
    assert tonight.energy_wh == pytest.approx(75.0)


def test_a_long_range_of_nights_is_queried_in_chunks(repo: Repository) -> None:
    _register(repo, "L1", T0)
    _half_power(repo, "L1", range(0, 61, 30))
    _rolled(repo)
    found = repo.energy_by_night(NIGHT - timedelta(days=100), NIGHT + timedelta(days=30), WEIFANG)
    assert [(n.night, round(n.energy_wh, 6)) for n in found] == [(NIGHT, 50.0)]


def test_reports_of_a_lamp_deleted_by_hand_are_rolled_up_without_a_zone(
    repo: Repository,
) -> None:
    _half_power(repo, _register(repo, "L1", T0).lamp_id, range(0, 31, 10))
    with repo.engine.begin() as conn:
        conn.execute(text("DELETE FROM lamp WHERE lamp_id = 'L1'"))
    assert repo.rollup(T0 + timedelta(hours=1)).reports == 4
    [hour] = repo.hourly(T0, T0 + timedelta(hours=1))
    assert (hour.zone, round(hour.energy_wh, 6)) == ("", 25.0)


def test_reports_wiped_by_hand_do_not_stall_the_roll_up(repo: Repository) -> None:
    """SQLite numbers reports from 1 again in an emptied table: below the watermark."""
    lamp = _register(repo, "L1", T0)
    _half_power(repo, "L1", range(0, 31, 10))
    _rolled(repo)
    with repo.engine.begin() as conn:
        conn.execute(text("DELETE FROM report"))
    lamp.report(50, T0 + timedelta(hours=2), 100.0, 7200)
    lamp.report(51, T0 + timedelta(hours=2, minutes=6), 105.0, 7560)
    assert repo.rollup(T0 + timedelta(hours=3)).reports == 2
    [hour] = repo.hourly(T0 + timedelta(hours=2), T0 + timedelta(hours=3))
    assert hour.energy_wh == pytest.approx(5.0)


def test_energy_tables_are_added_to_an_older_database(repo: Repository) -> None:
    repo.ensure_energy_tables()  # present already: nothing happens
    assert repo.rollup(T0).reports == 0


@settings(max_examples=10, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from([30, 60, 600, 3000]), st.sampled_from([0, 30, 100])),
        min_size=2,
        max_size=12,
    ),
    arrival=st.randoms(use_true_random=False),
)
def test_any_arrival_order_and_batching_gives_the_rows_of_reports_in_order(
    steps: list[tuple[int, int]], arrival: random.Random
) -> None:
    """L2 gets L1's reports shuffled (each with the time it was received, as from the
    ingest's buffer), rolled up at random points in random batches; SQLite in memory."""
    repo = Repository.open("sqlite://")
    reports: list[tuple[int, datetime, float, int, int]] = []
    at, energy, burning = T0, 0.0, 0
    for seq, (gap, level) in enumerate(steps, start=2):
        at += timedelta(seconds=gap)
        energy += level * gap / 3600 if level else 0.0
        burning += gap if level else 0
        reports.append((seq, at, round(energy, 3), burning, level))
    shuffled = arrival.sample(reports, len(reports))
    for lamp_id, order in (("L1", reports), ("L2", shuffled)):
        lamp = _register(repo, lamp_id, T0)
        for seq, received, energy_wh, burning_s, level in order:
            lamp.report(seq, received, energy_wh, burning_s, level=level)
            if lamp_id == "L2" and arrival.random() < 0.4:
                while not repo.rollup(T0 + timedelta(days=1), batch=arrival.randint(1, 3)).done:
                    pass
    _rolled(repo, T0 + timedelta(days=1))
    in_order, shuffled_rows = _hours(repo, "L1"), _hours(repo, "L2")
    assert [h[0] for h in in_order] == [h[0] for h in shuffled_rows]
    for one, other in zip(in_order, shuffled_rows, strict=True):
        assert one[1:] == pytest.approx(other[1:], abs=1e-5)
    repo.close()
