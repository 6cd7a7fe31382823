"""The pure lamp state machine: idempotent commands, power, energy, faults, sequence numbers."""

from __future__ import annotations

import pytest

from lighting.model import Command, FaultKind
from simulator import FleetError, Lamp, LampSpec, build_fleet, loopback_addresses

SPEC = LampSpec(
    lamp_id="L1",
    zone="centre",
    latitude=36.7,
    longitude=119.1,
    wattage=100,
    address="127.9.0.1",
    port=5683,
)


def test_the_same_command_twice_is_applied_once() -> None:
    lamp = Lamp(SPEC)
    first = lamp.apply(Command(command_id=1, level=60), now=0)
    second = lamp.apply(Command(command_id=1, level=60), now=1)
    assert first == second
    assert lamp.commands_applied == 1
    lamp.apply(Command(command_id=2, level=30), now=2)
    assert (lamp.level, lamp.commands_applied) == (30, 2)


def test_energy_is_the_integral_of_power() -> None:
    lamp = Lamp(SPEC)
    lamp.advance(0)
    lamp.apply(Command(command_id=1, level=100), now=0)
    lamp.apply(Command(command_id=2, level=50), now=3600)  # 1 h at 100 W
    lamp.advance(7200)  # 1 h at 50 W
    assert lamp.energy_wh == pytest.approx(150.0)
    assert lamp.burning_s == pytest.approx(7200)


def test_a_failed_lamp_draws_nothing_and_says_so() -> None:
    lamp = Lamp(SPEC)
    lamp.apply(Command(command_id=1, level=100), now=0)
    event = lamp.set_fault(FaultKind.LAMP_FAILURE, True, now=0)
    assert event is not None
    assert (event.kind, event.active) == (FaultKind.LAMP_FAILURE, True)
    assert lamp.set_fault(FaultKind.LAMP_FAILURE, True, now=1) is None  # no news
    report = lamp.report(now=3600)
    assert report.power_w == 0
    assert report.faults == frozenset({FaultKind.LAMP_FAILURE})
    assert lamp.energy_wh == 0


def test_every_uplink_takes_the_next_sequence_number() -> None:
    lamp = Lamp(SPEC)
    seqs = [lamp.registration().seq, lamp.report(0).seq]
    event = lamp.set_fault(FaultKind.CYCLING, True, 0)
    assert event is not None
    seqs.append(event.seq)
    assert seqs == [1, 2, 3]


def test_the_same_seed_gives_the_same_fleet() -> None:
    assert build_fleet(30, seed=3) == build_fleet(30, seed=3)
    assert build_fleet(30, seed=3) != build_fleet(30, seed=4)
    fleet = build_fleet(30, zones=("a", "b", "c"))
    assert {spec.zone for spec in fleet} == {"a", "b", "c"}
    assert len({spec.address for spec in fleet}) == 30


def test_the_fleet_stays_on_loopback() -> None:
    assert loopback_addresses("127.1.0.254", 3) == ["127.1.0.254", "127.1.0.255", "127.1.1.0"]
    with pytest.raises(FleetError, match="not a loopback"):
        loopback_addresses("10.0.0.1", 2)
    with pytest.raises(FleetError, match="past the loopback range"):
        loopback_addresses("127.255.255.250", 10)
