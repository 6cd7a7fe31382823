"""The audit trail in the record: an entry with every operator action, in the action's own
transaction (none for an action refused), filtered for the CLI. SQLite always, PostgreSQL
when reachable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lighting.errors import StorageError
from lighting.model import FaultKind
from lighting.protocol.inventory import InventoryLamp
from lighting.storage import Repository
from tests.storage.test_faults import _lamps

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_every_operator_action_leaves_one_entry_with_who_and_when(repo: Repository) -> None:
    (lamp,) = _lamps(repo, 1)
    fault, _ = repo.open_fault(lamp, FaultKind.LAMP_FAILURE, "lamp", T0)
    repo.acknowledge_fault(fault.fault_id, "night-shift", _at(1))
    repo.close_fault(fault.fault_id, "crew-7", "LED module replaced", _at(2))
    override = repo.add_override(
        zone="centre",
        lamp_id=None,
        level=30,
        start=_at(3),
        end=_at(63),
        by="operator-ana",
        reason="festival",
        now=_at(3),
    )
    repo.cancel_override(override.override_id, "operator-ben", _at(4))

    entries = repo.audit()
    assert [(e.actor, e.action, e.target, e.at) for e in entries] == [
        ("operator-ben", "override.cancel", "zone centre", _at(4)),
        ("operator-ana", "override.set", "zone centre", _at(3)),
        ("crew-7", "fault.resolve", f"fault {fault.fault_id}", _at(2)),
        ("night-shift", "fault.acknowledge", f"fault {fault.fault_id}", _at(1)),
    ]
    assert entries[2].detail == f"lamp {lamp}: LED module replaced"
    assert "30 % from" in entries[1].detail
    assert entries[1].detail.endswith("festival")


def test_a_refused_action_leaves_no_entry(repo: Repository) -> None:
    (lamp,) = _lamps(repo, 1)
    fault, _ = repo.open_fault(lamp, FaultKind.LAMP_FAILURE, "lamp", T0)
    repo.close_fault(fault.fault_id, "crew-7", "fixed", _at(1))
    with pytest.raises(StorageError):
        repo.close_fault(fault.fault_id, "crew-8", "fixed again", _at(2))
    with pytest.raises(StorageError):
        repo.acknowledge_fault(fault.fault_id, "night-shift", _at(3))
    assert [e.actor for e in repo.audit()] == ["crew-7"]


def test_a_lamp_recovering_by_itself_is_not_an_operator_action(repo: Repository) -> None:
    (lamp,) = _lamps(repo, 1)
    repo.open_fault(lamp, FaultKind.LAMP_FAILURE, "lamp", T0)
    assert repo.resolve_fault(lamp, FaultKind.LAMP_FAILURE, _at(1)) is not None
    assert repo.audit() == []


def test_the_trail_is_filtered_by_time_person_action_and_target(repo: Repository) -> None:
    lamps = _lamps(repo, 3)
    faults = [repo.open_fault(lamp, FaultKind.LAMP_FAILURE, "lamp", T0)[0] for lamp in lamps]
    for minute, (fault, who) in enumerate(zip(faults, ["ana", "ben", "ana"], strict=True)):
        repo.acknowledge_fault(fault.fault_id, who, _at(minute))
    repo.close_fault(faults[0].fault_id, "ben", "done", _at(10))
    repo.import_lamps(
        [InventoryLamp(lamp_id="N1", zone="north", latitude=36.8, longitude=119.2, wattage=60)],
        _at(11),
        by="ana",
        source="north.csv",
    )
    assert len(repo.audit()) == 5
    assert [e.at for e in repo.audit(since=_at(2))] == [_at(11), _at(10), _at(2)]
    assert {e.actor for e in repo.audit(actor="ben")} == {"ben"}
    assert [e.action for e in repo.audit(action="fault")] == [
        "fault.resolve",
        *["fault.acknowledge"] * 3,
    ]
    assert [e.actor for e in repo.audit(target=f"fault {faults[0].fault_id}")] == ["ben", "ana"]
    (imported,) = repo.audit(action="inventory")
    assert (imported.target, imported.detail) == (
        "north.csv",
        "1 lamps, 1 added, 0 updated, 0 kept",
    )
    assert len(repo.audit(limit=2)) == 2
