"""The repository on real databases: SQLite always, PostgreSQL when the server is reachable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from lighting.model import Registration, StateReport
from lighting.storage import CommandOutcome, Repository

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _register(repo: Repository, lamp_id: str = "L1", zone: str = "centre") -> None:
    reg = Registration(
        lamp_id=lamp_id,
        seq=1,
        zone=zone,
        latitude=36.7,
        longitude=119.1,
        wattage=100,
        cell="cell-1",
        report_period_s=60,
    )
    repo.register_lamp(reg, "127.9.0.1", 5683, T0)


def _report(seq: int, level: int, lamp_id: str = "L1") -> StateReport:
    return StateReport(
        lamp_id=lamp_id,
        seq=seq,
        level=level,
        power_w=level * 1.0,
        energy_wh=float(seq),
        burning_s=seq * 10,
    )


def test_registration_is_new_once_and_keeps_the_address(repo: Repository) -> None:
    reg = Registration(lamp_id="L1", seq=1, zone="centre", latitude=1, longitude=2, wattage=50)
    assert repo.register_lamp(reg, "127.9.0.1", 5683, T0) is True
    assert repo.register_lamp(reg, "127.9.0.2", 5684, T0 + timedelta(hours=1)) is False
    lamp = repo.lamp("L1")
    assert lamp is not None
    assert (lamp.address, lamp.port) == ("127.9.0.2", 5684)
    assert lamp.registered_at == T0 + timedelta(hours=1)
    assert lamp.registered_at.tzinfo is not None


def test_a_burst_of_registrations_is_stored_in_one_go(repo: Repository) -> None:
    """More lamps than one query reads, a known one, and one lamp twice in the burst."""

    def reg(lamp_id: str, zone: str = "north") -> Registration:
        return Registration(lamp_id=lamp_id, seq=1, zone=zone, latitude=1, longitude=2, wattage=50)

    _register(repo, "K1")
    burst = [(reg(f"B{i:04d}"), f"127.9.{i // 250}.{i % 250 + 1}", 5683) for i in range(1200)]
    burst += [(reg("K1"), "127.9.9.9", 5690), (reg("B0001", "harbour"), "127.9.9.8", 5691)]
    news = repo.register_lamps(burst, T0)
    assert news == [True] * 1200 + [False, False]
    assert len(repo.lamps()) == 1201
    known, twice = repo.lamp("K1"), repo.lamp("B0001")
    assert known is not None
    assert twice is not None
    assert (known.zone, known.address, known.port) == ("north", "127.9.9.9", 5690)
    assert (twice.zone, twice.address, twice.port) == ("harbour", "127.9.9.8", 5691)


def test_timestamps_come_back_in_utc_whatever_zone_went_in(repo: Repository) -> None:
    shanghai = timezone(timedelta(hours=8))
    reg = Registration(lamp_id="L2", seq=1, zone="north", latitude=1, longitude=2, wattage=50)
    repo.register_lamp(reg, "127.9.0.1", 5683, datetime(2026, 11, 24, 20, 0, tzinfo=shanghai))
    lamp = repo.lamp("L2")
    assert lamp is not None
    assert lamp.registered_at == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_reports_are_stored_once_and_never_move_state_backwards(repo: Repository) -> None:
    _register(repo)
    assert repo.store_reports([(_report(5, 80), T0), (_report(5, 80), T0)]) == [
        "newest",
        "duplicate",
    ]
    assert repo.store_reports([(_report(5, 80), T0)]) == ["duplicate"]
    assert repo.store_reports([(_report(4, 20), T0)]) == ["late"]  # stored as history
    lamp = repo.lamp("L1")
    assert lamp is not None
    assert lamp.level == 80  # the late report did not move the state back


def test_reports_of_unknown_lamps_are_not_stored(repo: Repository) -> None:
    assert repo.store_reports([(_report(1, 50, lamp_id="ghost"), T0)]) == ["duplicate"]


def test_a_rebooted_lamp_counts_from_one_again_and_is_heard(repo: Repository) -> None:
    _register(repo)
    assert repo.store_reports([(_report(2, 80), T0), (_report(3, 80), T0)]) == ["newest"] * 2
    _register(repo)  # power cycle: registration, then sequence numbers from the start
    assert repo.store_reports([(_report(2, 30), T0 + timedelta(minutes=5))]) == ["newest"]
    lamp = repo.lamp("L1")
    assert lamp is not None
    assert lamp.level == 30


def test_change_records_commands_and_counts_outcomes(repo: Repository) -> None:
    for lamp_id in ("L1", "L2", "L3"):
        _register(repo, lamp_id)
    change_id, ids = repo.create_change(
        zone="centre", level=60, reason="test", planned_at=T0, lamp_ids=["L1", "L2", "L3"], now=T0
    )
    assert len(set(ids.values())) == 3
    repo.record_outcomes(
        [
            CommandOutcome(ids["L1"], "L1", "acknowledged", T0, 12.0, 1),
            CommandOutcome(ids["L2"], "L2", "acknowledged", T0, 15.0, 1),
            CommandOutcome(ids["L3"], "L3", "failed", T0, None, 1, "no answer"),
        ]
    )
    change = repo.finish_change(change_id, T0 + timedelta(seconds=1))
    assert (change.total, change.acknowledged, change.failed) == (3, 2, 1)
    failed = repo.commands(lamp_id="L3")
    assert [(c.outcome, c.error) for c in failed] == [("failed", "no answer")]
    assert repo.outcomes_by_cell([change_id]) == {"cell-1": {"acknowledged": 2, "failed": 1}}


def test_a_failed_command_stays_failed_when_a_newer_change_comes(repo: Repository) -> None:
    _register(repo)
    first, ids = repo.create_change(
        zone="centre", level=60, reason="dusk", planned_at=T0, lamp_ids=["L1"], now=T0
    )
    repo.record_outcomes([CommandOutcome(ids["L1"], "L1", "failed", T0, None, 5, "no answer")])
    repo.finish_change(first, T0)
    repo.create_change(
        zone="centre",
        level=30,
        reason="dim",
        planned_at=T0,
        lamp_ids=["L1"],
        now=T0 + timedelta(hours=1),
    )
    summary = repo.change_summary(first)
    assert summary is not None
    assert (summary.failed, summary.superseded) == (1, 0)


def test_what_a_lamp_counts_is_stored_up_to_the_protocols_63_bits(repo: Repository) -> None:
    # PostgreSQL's integer stops at 2**31: a lamp whose count passed it must not fail its
    # registration, nor a batch of reports with the other lamps' in it.
    big = 2**63 - 1
    reg = Registration(lamp_id="L1", seq=big - 1, zone="c", latitude=1, longitude=2, wattage=5)
    repo.register_lamp(reg, "127.9.0.1", 5683, T0)
    _register(repo, "L2")
    report = StateReport(
        lamp_id="L1",
        seq=big,
        level=1,
        power_w=1.0,
        energy_wh=1.0,
        burning_s=big,
        last_command_id=big,
    )
    assert repo.store_reports([(report, T0), (_report(2, 50, "L2"), T0)]) == ["newest", "newest"]
    assert [(r.seq, r.burning_s) for r in repo.reports("L1")] == [(big, big)]


def test_a_batch_of_more_lamps_than_one_look_up_holds_is_deduplicated(
    repo: Repository,
) -> None:
    """1,200 lamps: their boots and stored numbers are read in several statements."""

    def reg(lamp_id: str) -> Registration:
        return Registration(
            lamp_id=lamp_id, seq=1, zone="north", latitude=1, longitude=2, wattage=50
        )

    lamp_ids = [f"B{i:04d}" for i in range(1200)]
    repo.register_lamps([(reg(lamp_id), "127.9.0.1", 5683) for lamp_id in lamp_ids], T0)
    first = [(_report(2, 40, lamp_id), T0) for lamp_id in lamp_ids]
    assert repo.store_reports(first) == ["newest"] * 1200
    # Again, with a new report from every third lamp and one from a lamp nobody knows.
    later = T0 + timedelta(minutes=1)
    second = [(_report(2, 40, lamp_id), later) for lamp_id in lamp_ids]
    second += [(_report(3, 60, lamp_id), later) for lamp_id in lamp_ids[::3]]
    second.append((_report(3, 60, "ghost"), later))
    assert repo.store_reports(second) == ["duplicate"] * 1200 + ["newest"] * 400 + ["duplicate"]
    assert repo.lamp("B1197").level == 60  # type: ignore[union-attr]
    assert repo.lamp("B1198").level == 40  # type: ignore[union-attr]
    assert repo.lamp("B1197").last_seen == later  # type: ignore[union-attr]


def test_a_lamp_counting_again_starts_a_new_boot_and_copies_stay_copies(
    repo: Repository,
) -> None:
    # The lamp registered (seq 1) and reported 2..299; then it counts from 1 again without
    # registering (its registration was lost): seq 2 is taken, not a duplicate of the old 2.
    _register(repo)
    old = [_report(seq, 50) for seq in range(2, 300)]
    assert set(repo.store_reports([(report, T0) for report in old])) == {"newest"}
    again = StateReport(lamp_id="L1", seq=2, level=30, power_w=3.0, energy_wh=0.5, burning_s=7)
    later = T0 + timedelta(hours=1)
    assert repo.store_reports([(again, later)]) == ["restart"]
    assert repo.lamp("L1").level == 30  # type: ignore[union-attr]
    # Copies: of the old boot's last report (a late redelivery), and of the new one.
    assert repo.store_reports([(old[-1], later), (again, later)]) == ["duplicate", "duplicate"]
    # A few numbers late is history; the count goes on in the new boot.
    assert repo.store_reports([(_report(3, 60), later), (_report(1, 10), later)]) == [
        "newest",
        "late",
    ]
    boots = {(r.boot, r.seq) for r in repo.reports("L1", limit=1000)}
    assert len(boots) == len(old) + 3
    assert repo.lamp("L1").level == 60  # type: ignore[union-attr]
