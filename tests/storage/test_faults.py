"""Faults and incidents in the record: opened once, reopened when they flap, acknowledged,
resolved with a note, grouped by cell. SQLite always, PostgreSQL when reachable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lighting.const import ACTIVE
from lighting.errors import NotFoundError, StorageError
from lighting.model import FaultKind, Registration
from lighting.notices import OPENED, REOPENED
from lighting.storage import Repository

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
K = FaultKind
HOUR = 3600.0


def _lamps(repo: Repository, count: int, cell: str = "cell-1", zone: str = "centre") -> list[str]:
    ids = []
    for index in range(count):
        lamp_id = f"{cell}-L{index}"
        reg = Registration(
            lamp_id=lamp_id,
            seq=1,
            zone=zone,
            latitude=36.0 + index / 100,
            longitude=119.0,
            wattage=100,
            cell=cell,
        )
        repo.register_lamp(reg, "127.9.0.1", 5683, T0)
        ids.append(lamp_id)
    return ids


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_fault_is_opened_once_while_it_lasts(repo: Repository) -> None:
    (lamp,) = _lamps(repo, 1)
    first, event = repo.open_fault(lamp, K.LAMP_FAILURE, "lamp", T0)
    again, event_again = repo.open_fault(lamp, K.LAMP_FAILURE, "lamp", _at(5))
    assert (event, event_again) == (OPENED, None)
    assert again.fault_id == first.fault_id
    assert (again.count, again.last_seen_at) == (1, _at(5))
    assert [f.fault_id for f in repo.faults(status=ACTIVE)] == [first.fault_id]


def test_a_fault_back_within_the_flap_window_is_the_same_fault_counted_again(
    repo: Repository,
) -> None:
    (lamp,) = _lamps(repo, 1)
    first, _ = repo.open_fault(lamp, K.CYCLING, "lamp", T0, flap_window_s=HOUR)
    for flap in range(1, 4):
        repo.resolve_fault(lamp, K.CYCLING, _at(flap * 10), by="lamp")
        back, event = repo.open_fault(
            lamp, K.CYCLING, "lamp", _at(flap * 10 + 5), flap_window_s=HOUR
        )
        assert (back.fault_id, event, back.count, back.status) == (
            first.fault_id,
            REOPENED,
            flap + 1,
            "open",
        )
    # Past the window it is a new fault.
    repo.resolve_fault(lamp, K.CYCLING, _at(40), by="lamp")
    later, event = repo.open_fault(lamp, K.CYCLING, "lamp", _at(40 + 61), flap_window_s=HOUR)
    assert (event, later.count) == (OPENED, 1)
    assert later.fault_id != first.fault_id


def test_a_crews_resolution_stands_when_the_fault_comes_back(repo: Repository) -> None:
    (lamp,) = _lamps(repo, 1)
    first, _ = repo.open_fault(lamp, K.LAMP_FAILURE, "lamp", T0, flap_window_s=HOUR)
    closed = repo.close_fault(first.fault_id, "crew-7", "replaced the LED module", _at(30))
    assert (closed.status, closed.resolved_by, closed.note) == (
        "resolved",
        "crew-7",
        "replaced the LED module",
    )
    back, event = repo.open_fault(lamp, K.LAMP_FAILURE, "lamp", _at(35), flap_window_s=HOUR)
    assert event == OPENED
    assert back.fault_id != first.fault_id


def test_acknowledge_then_resolve_keeps_who_and_when(repo: Repository) -> None:
    (lamp,) = _lamps(repo, 1)
    fault, _ = repo.open_fault(lamp, K.DAY_BURNER, "controller", T0)
    acked = repo.acknowledge_fault(fault.fault_id, "operator-li", _at(1))
    assert (acked.status, acked.acknowledged_by, acked.acknowledged_at) == (
        "acknowledged",
        "operator-li",
        _at(1),
    )
    assert [f.fault_id for f in repo.faults(status="acknowledged")] == [fault.fault_id]
    assert repo.faults(status="open") == []
    # The lamp's own recovery resolves an acknowledged fault too.
    resolved = repo.resolve_fault(lamp, K.DAY_BURNER, _at(2), by="controller")
    assert resolved is not None
    assert (resolved.status, resolved.acknowledged_by) == ("resolved", "operator-li")
    with pytest.raises(StorageError, match="resolved already"):
        repo.acknowledge_fault(fault.fault_id, "operator-li", _at(3))
    with pytest.raises(StorageError, match="resolved already"):
        repo.close_fault(fault.fault_id, "crew", "", _at(3))
    with pytest.raises(NotFoundError):
        repo.acknowledge_fault(9999, "operator-li", _at(3))
    with pytest.raises(NotFoundError):
        repo.fault(9999)


def test_listing_filters_combine(repo: Repository) -> None:
    north = _lamps(repo, 2, cell="cell-2", zone="north")
    centre = _lamps(repo, 1, cell="cell-1", zone="centre")
    repo.open_fault(north[0], K.LAMP_FAILURE, "lamp", T0)
    repo.open_fault(north[1], K.VOLTAGE_LOW, "controller", _at(10))
    repo.open_fault(centre[0], K.LAMP_FAILURE, "lamp", _at(20))
    assert [f.lamp_id for f in repo.faults(zone="north")] == [north[1], north[0]]
    assert [f.lamp_id for f in repo.faults(kinds=[K.LAMP_FAILURE])] == [centre[0], north[0]]
    assert [f.lamp_id for f in repo.faults(since=_at(5))] == [centre[0], north[1]]
    assert [f.lamp_id for f in repo.faults(zone="north", kinds=[K.VOLTAGE_LOW])] == [north[1]]
    assert [f.lamp_id for f in repo.faults(limit=1)] == [centre[0]]
    assert repo.faults(lamp_id="nobody") == []
    fault = repo.faults(lamp_id=centre[0])[0]
    assert (fault.zone, fault.cell, fault.latitude) == ("centre", "cell-1", 36.0)


def test_a_cell_of_faults_becomes_one_incident_that_resolves_with_its_last_lamp(
    repo: Repository,
) -> None:
    lamps = _lamps(repo, 6, cell="cell-9")
    _lamps(repo, 2, cell="cell-8")  # another cell, not part of it
    for minute, lamp in enumerate(lamps[:5]):
        repo.open_fault(lamp, K.COMMS_LOST, "controller", _at(minute))
    repo.open_fault("cell-8-L0", K.COMMS_LOST, "controller", _at(1))
    assert repo.active_in_cell(K.COMMS_LOST, "cell-9") == 5

    incident, new, taken = repo.group_incident(K.COMMS_LOST, "cell-9", _at(5))
    assert new
    assert (incident.lamps, incident.peak, incident.zones, incident.status) == (
        5,
        5,
        ("centre",),
        "open",
    )
    assert incident.latitude == pytest.approx(36.02)
    assert {f.lamp_id for f in taken} == set(lamps[:5])
    # A sixth lamp joins the same incident.
    repo.open_fault(lamps[5], K.COMMS_LOST, "controller", _at(6))
    again, new_again, joined = repo.group_incident(K.COMMS_LOST, "cell-9", _at(6))
    assert (again.incident_id, new_again, again.lamps) == (incident.incident_id, False, 6)
    assert [f.lamp_id for f in joined] == [lamps[5]]
    # Listed as one incident; its faults are left out of the ungrouped listing.
    assert [f.lamp_id for f in repo.faults(status=ACTIVE, grouped=False)] == ["cell-8-L0"]
    assert len(repo.faults(incident_id=incident.incident_id)) == 6
    assert [i.incident_id for i in repo.incidents(zone="centre")] == [incident.incident_id]
    assert repo.incidents(zone="north") == []

    for lamp in lamps[:5]:
        repo.resolve_fault(lamp, K.COMMS_LOST, _at(30), by="controller")
        settled, closed = repo.settle_incident(incident.incident_id, _at(30))
        assert not closed
    repo.resolve_fault(lamps[5], K.COMMS_LOST, _at(31), by="controller")
    settled, closed = repo.settle_incident(incident.incident_id, _at(31))
    assert closed
    assert (settled.status, settled.lamps, settled.peak, settled.resolved_by) == (
        "resolved",
        0,
        6,
        "controller",
    )
    assert repo.incidents() == []


def test_a_crew_closes_an_incident_and_every_fault_in_it(repo: Repository) -> None:
    lamps = _lamps(repo, 3, cell="cell-5")
    for lamp in lamps:
        repo.open_fault(lamp, K.SUPPLY_LOSS, "lamp", T0)
    incident, _, _ = repo.group_incident(K.SUPPLY_LOSS, "cell-5", T0)
    acked = repo.acknowledge_incident(incident.incident_id, "operator-li", _at(1))
    assert acked.acknowledged_by == "operator-li"
    assert {f.status for f in repo.faults(incident_id=incident.incident_id, status=None)} == {
        "acknowledged"
    }
    closed, faults = repo.close_incident(incident.incident_id, "crew-2", "fuse replaced", _at(9))
    assert (closed.status, closed.note) == ("resolved", "fuse replaced")
    assert {(f.status, f.resolved_by, f.note) for f in faults} == {
        ("resolved", "crew-2", "fuse replaced")
    }
    assert repo.faults(status=ACTIVE) == []
    with pytest.raises(StorageError, match="resolved already"):
        repo.close_incident(incident.incident_id, "crew-2", "", _at(10))
    with pytest.raises(NotFoundError):
        repo.incident(424242)
